# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Choose the image an index (or a Docker manifest list) stands for, the way container tools do.

A Wasm module runs on any machine, but the tools that build images do not know that: ``docker buildx``
and ``docker manifest`` wrap the one module in a child per container platform (``linux/amd64``,
``linux/arm64``) and add attestation manifests beside them. Docker, Istio and Envoy Gateway then take
the child for the machine that pulls; so does this collection, after an explicitly named platform and a
``wasi``/``wasm`` child, which is meant for Wasm runtimes and so always the right one.
"""

from __future__ import annotations

import platform as stdlib_platform
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import descriptor_list

WASM_OS = frozenset({'wasi', 'wasip1', 'wasip2'})
# buildx's attestation manifests (SBOM, provenance) sit in the index as platform unknown/unknown.
ATTESTATION_ANNOTATION = 'vnd.docker.reference.type'
ATTESTATION_MANIFEST = 'attestation-manifest'
# Container images of a Wasm module are Linux images whatever system pulls them, as Docker Desktop's are.
HOST_OS = 'linux'
# platform.machine() as Go's GOARCH (and GOARM variant) names it, which is what image platforms use.
_GO_ARCHITECTURES: dict[str, tuple[str, str | None]] = {
    'x86_64': ('amd64', None),
    'amd64': ('amd64', None),
    'aarch64': ('arm64', None),
    'arm64': ('arm64', None),
    'aarch64_be': ('arm64be', None),
    'armv8l': ('arm', 'v8'),
    'armv7l': ('arm', 'v7'),
    'armv6l': ('arm', 'v6'),
    'armv5tel': ('arm', 'v5'),
    'i386': ('386', None),
    'i686': ('386', None),
    'x86': ('386', None),
    'ppc64le': ('ppc64le', None),
    'ppc64': ('ppc64', None),
    's390x': ('s390x', None),
    'riscv64': ('riscv64', None),
    'mips64': ('mips64', None),
    'loongarch64': ('loong64', None),
}


def host_platform(machine: str | None = None) -> dict[str, str]:
    """The platform of this machine (or of ``machine``, a ``platform.machine()`` value) as images name it."""
    name = (stdlib_platform.machine() if machine is None else machine).lower()
    architecture, variant = _GO_ARCHITECTURES.get(name, (name, None))
    result = {'os': HOST_OS, 'architecture': architecture}
    if variant:
        result['variant'] = variant
    return result


def platform_name(platform: dict[str, t.Any] | None) -> str:
    if not platform:
        return 'unknown'
    parts = [platform.get('os', '?'), platform.get('architecture', '?')]
    if platform.get('variant'):
        parts.append(platform['variant'])
    return '/'.join(str(part) for part in parts)


def is_index(document: dict[str, t.Any], media_type: str | None) -> bool:
    """An OCI index or Docker manifest list; old writers leave out ``mediaType``, and then only indexes have ``manifests``."""
    return media_type in mt.INDEXES or (media_type is None and 'manifests' in document and 'layers' not in document)


def _is_attestation(child: dict[str, t.Any]) -> bool:
    return (child.get('annotations') or {}).get(ATTESTATION_ANNOTATION) == ATTESTATION_MANIFEST


def _named(children: list[dict[str, t.Any]], wanted: str) -> list[dict[str, t.Any]]:
    wanted_parts = wanted.strip('/').split('/')
    return [child for child in children if platform_name(child.get('platform')).split('/')[:len(wanted_parts)] == wanted_parts]


def _wasm(children: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    return [
        child for child in children
        if (child.get('platform') or {}).get('architecture') == 'wasm' and (child.get('platform') or {}).get('os') in WASM_OS
    ]


def _for_host(children: list[dict[str, t.Any]], host: dict[str, str]) -> list[dict[str, t.Any]]:
    """Children of the host's os and architecture; with a host variant (arm/v7), that variant or none."""
    same = [
        child for child in children
        if (child.get('platform') or {}).get('os') == host['os']
        and (child.get('platform') or {}).get('architecture') == host['architecture']
    ]
    if 'variant' not in host:
        return same
    return [child for child in same if (child.get('platform') or {}).get('variant') in (host['variant'], None)]


def choose_platform_child(
    index: dict[str, t.Any], platform: str | None, what: str, host: dict[str, str] | None = None,
) -> dict[str, t.Any]:
    """The child to read: the named ``platform``; else wasi/wasm, else the ``host`` platform (this machine's), else the only image."""
    children = [child for child in descriptor_list(index, 'manifests', what) if not _is_attestation(child)]
    offered = ', '.join(platform_name(child.get('platform')) for child in children) or 'none'
    if platform:
        matches = _named(children, platform)
        if not matches:
            raise ImageFormatError(f'{what} has no image for platform {platform}; it offers: {offered}. Set platform to one of them')
        return matches[0]
    host = host or host_platform()
    matches = _wasm(children) or _for_host(children, host) or (children if len(children) == 1 else [])
    if not matches:
        raise ImageFormatError(
            f'{what} has no wasi/wasm image, none for the platform of this machine ({platform_name(host)}), and more '
            f'than one image; it offers: {offered}. Set platform to one of them'
        )
    return matches[0]
