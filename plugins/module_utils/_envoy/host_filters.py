# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The Wasm filters a host's files name: one ECDS file per filter in ``<config_dir>/ecds``, read without judging it.

These are the files envoy_wasm_filters writes. Each one's ``version_info`` names the image and manifest digest and
ends with a fingerprint of the rest of the file, so reading a file tells whether it is still as written. Beside
them lies the record of the files Envoy has not confirmed yet. Nothing here writes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import ImageIdentity, image_identity, with_version
from ansible_collections.wasm.oci.plugins.module_utils._envoy.filter_resource import module_file, plugin_name, wasm_filter_type
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import ecds_file_names, parse_document, read_bytes
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import read_unconfirmed
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import file_sha256_digest

# The version_info envoy_wasm_filters writes: [<reference> <manifest digest> ]<fingerprint of the rest of the file>.
_WRITTEN_VERSION = re.compile(r'(\S+ sha256:[0-9a-f]{64} )?[0-9a-f]{16}')


@dataclasses.dataclass(frozen=True)
class FilterFile:
    """One ECDS file of the host, as read; ``problem`` says why it could not be.

    ``written`` is True when its content is what envoy_wasm_filters wrote (its version_info fingerprints the rest),
    False when it is in that form but was changed since, None when envoy_wasm_filters never wrote it (or it is unreadable).
    """

    name: str
    path: str
    resource: dict[str, t.Any] | None = None
    version: str | None = None
    written: bool | None = None
    problem: str | None = None

    @property
    def filter_type(self) -> str | None:
        return wasm_filter_type(self.resource)

    @property
    def identity(self) -> ImageIdentity | None:
        return image_identity({'version_info': self.version})

    @property
    def module(self) -> str | None:
        return module_file(self.resource)

    @property
    def plugin(self) -> str:
        return plugin_name(self.resource) or self.name


@dataclasses.dataclass(frozen=True)
class HostFiles:
    """The ECDS files in ``<config_dir>/ecds``, and which of them Envoy has not confirmed yet (as real paths)."""

    config_dir: str
    files: list[FilterFile]
    unconfirmed: frozenset[str] = frozenset()

    def ecds(self, name: str) -> str:
        # Only the ECDS files are read here; the bootstrap and the module store do not matter.
        return Paths(self.config_dir, bootstrap='', wasm_dir='').ecds(name)


def _resource_named(document: t.Any, name: str) -> dict[str, t.Any] | None:
    """The resource of an ECDS file: the one named as the file, else its only one."""
    resources = document.get('resources') if isinstance(document, dict) else None
    resources = [item for item in resources if isinstance(item, dict)] if isinstance(resources, list) else []
    return next((item for item in resources if item.get('name') == name), resources[0] if len(resources) == 1 else None)


def read_filter_file(path: str, name: str) -> FilterFile:
    """The ECDS file at ``path`` of filter ``name``."""
    try:
        data = read_bytes(path)
        document = parse_document(data, path) if data is not None else None
    except WasmOciError as exc:
        # Most likely a file envoy_wasm_filters wrote (in its directory) that an edit broke.
        return FilterFile(name, path, written=False, problem=str(exc))
    if data is None:
        return FilterFile(name, path, written=False, problem=f'{path} vanished while it was read')
    version = document.get('version_info') if isinstance(document, dict) else None
    version = version if isinstance(version, str) else None
    # The fingerprint covers everything but version_info, so any edit of the config shows.
    written = with_version(document, image_identity(document))['version_info'] == version \
        if version is not None and isinstance(document, dict) and _WRITTEN_VERSION.fullmatch(version) else None
    resource = _resource_named(document, name)
    if resource is None:
        return FilterFile(name, path, version=version, written=written, problem=f'{path} holds no ECDS resource named {name}')
    return FilterFile(str(resource.get('name') or name), path, resource, version, written)


def read_host(config_dir: str) -> HostFiles:
    """The ECDS files in ``<config_dir>/ecds`` and the record of the ones Envoy has not confirmed yet."""
    ecds_dir = Paths(config_dir, bootstrap='', wasm_dir='').ecds_dir
    host = HostFiles(config_dir, [])
    files = [read_filter_file(host.ecds(name), name) for name in ecds_file_names(ecds_dir)]
    return HostFiles(config_dir, files, frozenset(os.path.realpath(path) for path in read_unconfirmed(config_dir)))


def module_digest(path: str | None) -> str | None:
    """The sha256 of the module file at ``path``; None when there is none or it cannot be read."""
    if not path:
        return None
    try:
        return file_sha256_digest(path)
    except OSError:
        return None
