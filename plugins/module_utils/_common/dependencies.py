# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The optional Python packages of the managed host, each imported here and nowhere else.

requests talks to registries (documented in the wasm.oci.registry doc fragment),
cryptography makes and checks cosign signatures (_signing/),
zstandard reads zstd layers before Python 3.14 (in the pull and info modules), and
PyYAML reads a YAML bootstrap (in envoy_wasm_filters). Code that needs one checks the
HAS_ flag and raises ``MissingDependency``, which names the package to install.
"""

from __future__ import annotations

import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError

# A missing package leaves its names importable as None, and code checks HAS_* first. mypy types each name as what the
# package defines, so the None fallbacks carry `type: ignore[assignment]` (and `[misc]` for classes). PyYAML ships no
# types, so yaml is Any to mypy and needs none.
try:
    import requests
    import urllib3
except ImportError:
    requests = urllib3 = None  # type: ignore[assignment]
    HAS_REQUESTS = False
else:
    HAS_REQUESTS = True

try:
    import yaml
except ImportError:
    yaml = None
    HAS_YAML = False
else:
    HAS_YAML = True

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes as crypto_hashes, serialization as crypto_serialization
    from cryptography.hazmat.primitives.asymmetric import ec as crypto_ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
except ImportError:
    InvalidSignature = UnsupportedAlgorithm = None  # type: ignore[assignment,misc]
    crypto_hashes = crypto_serialization = crypto_ec = decode_dss_signature = None  # type: ignore[assignment]
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

ZstdReader = t.Callable[[t.BinaryIO], t.BinaryIO]
zstd_reader: ZstdReader | None
ZSTD_ERRORS: tuple[type[Exception], ...]
try:
    from compression import zstd as _zstd  # Python 3.14+
except ImportError:
    try:
        import zstandard as _zstandard
    except ImportError:
        zstd_reader = None
        ZSTD_ERRORS = ()
    else:
        def zstd_reader(stream: t.BinaryIO) -> t.BinaryIO:
            reader: t.BinaryIO = _zstandard.ZstdDecompressor().stream_reader(stream)
            return reader

        ZSTD_ERRORS = (_zstandard.ZstdError,)
else:
    zstd_reader = _zstd.ZstdFile
    ZSTD_ERRORS = (_zstd.ZstdError,)


class MissingDependency(WasmOciError):
    """A Python package this task needs is not installed on the host that runs it."""

    def __init__(self, package: str, needed_for: str) -> None:
        super().__init__(
            f'{needed_for} needs the Python package {package} on the host that runs the task: install it for the '
            f'Python that Ansible uses there (pip install {package}, or the python3-{package.lower()} system package)'
        )
        self.package = package


def require_requests() -> None:
    if not HAS_REQUESTS:
        raise MissingDependency('requests', 'Talking to a registry')


def require_cryptography() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise MissingDependency('cryptography', 'Signing or verifying images')


__all__ = ['HAS_CRYPTOGRAPHY', 'HAS_REQUESTS', 'HAS_YAML', 'InvalidSignature', 'MissingDependency', 'UnsupportedAlgorithm', 'ZSTD_ERRORS',
           'crypto_ec', 'crypto_hashes', 'crypto_serialization', 'decode_dss_signature', 'require_cryptography', 'require_requests',
           'requests', 'urllib3', 'yaml', 'zstd_reader']
