# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Push an image from a local OCI layout to a registry, uploading only what is missing (a copy, see _oci/copy.py)."""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import LayoutError
from ansible_collections.wasm.oci.plugins.module_utils._oci.copy import ImageCopier
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import check_descriptor
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient, RemoteManifest
from ansible_collections.wasm.oci.plugins.module_utils._registry.sink import RegistrySink


def layout_descriptor(layout: OciLayout, tag: str) -> dict[str, t.Any]:
    descriptor = layout.find(tag)
    if descriptor is None:
        tags = ', '.join(layout.tags()) or 'none'
        raise LayoutError(f'OCI layout {layout.path} has no tag {tag!r} (it has: {tags}); build it first with wasm_image_build')
    return check_descriptor(descriptor, f'Tag {tag} of {layout.path}')


def push_needed(remote: RemoteManifest | None, descriptor: dict[str, t.Any]) -> bool:
    """Whether the remote tag does not already name this exact manifest."""
    return remote is None or remote.digest != descriptor['digest']


@dataclasses.dataclass
class PushCounts:
    uploaded: int = 0
    mounted: int = 0


def push(layout: OciLayout, tag: str, descriptor: dict[str, t.Any], client: RegistryClient,
         mount_from: t.Sequence[str] = ()) -> PushCounts:
    """Push ``descriptor`` (what ``tag`` names, see layout_descriptor) to the client's reference, mounting
    blobs from ``mount_from`` repositories when they have them."""
    copier = ImageCopier(LayoutSource(layout, tag), RegistrySink(client, mount_from))
    copier.copy(descriptor, t.cast(str, client.reference.tag))
    return PushCounts(uploaded=copier.counts.blobs_copied, mounted=copier.counts.blobs_mounted)
