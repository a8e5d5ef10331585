# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""cryptography, the managed host's optional package for making and checking cosign signatures, imported here and
nowhere else (see _registry/optional_requests.py for why each optional package has a file of its own)."""

from __future__ import annotations

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import MissingDependency

# A missing package leaves its names importable as None, and code calls require_cryptography() first. mypy types each
# name as what the package defines, so the None fallbacks carry `type: ignore[assignment]` (and `[misc]` for classes).
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


def require_cryptography() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise MissingDependency('cryptography', 'Signing or verifying images')


__all__ = ['HAS_CRYPTOGRAPHY', 'InvalidSignature', 'UnsupportedAlgorithm', 'crypto_ec', 'crypto_hashes', 'crypto_serialization',
           'decode_dss_signature', 'require_cryptography']
