# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Images in a local OCI layout named the way skopeo and buildah name them: ``oci:<layout>:<tag>`` or ``oci:<layout>@<digest>``.

Such a name can stand where a registry reference would, so that a play (or the envoy_filter role) takes an image
from a layout on an air-gapped controller without other options.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import SHA256_DIGEST
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import validate_tag

LAYOUT_TRANSPORT = 'oci:'
_DIGEST_SEPARATOR = '@sha256:'


@dataclasses.dataclass(frozen=True)
class LayoutName:
    path: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return f'{LAYOUT_TRANSPORT}{self.path}@{self.digest}' if self.digest else f'{LAYOUT_TRANSPORT}{self.path}:{self.tag}'


def is_layout_name(name: str) -> bool:
    return name.startswith(LAYOUT_TRANSPORT)


def parse_layout_name(name: str) -> LayoutName:
    """Split ``oci:<layout>:<tag>`` (at the last colon, since tags have none) or ``oci:<layout>@sha256:<hex>``."""
    rest = name[len(LAYOUT_TRANSPORT):] if is_layout_name(name) else ''
    usage = 'write oci:<layout path>:<tag> or oci:<layout path>@sha256:<manifest digest>, as skopeo does'
    if _DIGEST_SEPARATOR in rest:
        path, digest = rest.rsplit('@', 1)
        if not SHA256_DIGEST.fullmatch(digest):
            raise InvalidReferenceError(f'Image {name!r} has an invalid digest {digest!r}; expected sha256:<64 lowercase hex digits>')
        parsed = LayoutName(path, digest=digest)
    else:
        path, colon, tag = rest.rpartition(':')
        if not colon:
            raise InvalidReferenceError(f'Image {name!r} names no tag of a local OCI layout; {usage}')
        parsed = LayoutName(path, tag=validate_tag(tag, f'Image {name!r}'))
    if not parsed.path:
        raise InvalidReferenceError(f'Image {name!r} names no layout directory; {usage}')
    return parsed
