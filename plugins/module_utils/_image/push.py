# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Push an image from a local OCI layout to a registry, uploading only what is missing."""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import LayoutError
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import check_descriptor, parse_json_document
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient, RemoteManifest


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
    counts = PushCounts()
    _push_manifest(LayoutSource(layout, tag), layout, client, descriptor, t.cast(str, client.reference.tag), mount_from, counts)
    return counts


def _push_manifest(source: LayoutSource, layout: OciLayout, client: RegistryClient, descriptor: dict[str, t.Any], version: str,
                   mount_from: t.Sequence[str], counts: PushCounts) -> None:
    data = source.read_manifest(descriptor)
    document = parse_json_document(data, f'Manifest {descriptor["digest"]} in {layout.path}')
    media_type = document.get('mediaType') or descriptor.get('mediaType') or mt.OCI_MANIFEST
    if media_type in mt.INDEXES:
        for child in document.get('manifests') or []:
            child = check_descriptor(child, f'An entry of index {descriptor["digest"]}')
            if client.head_manifest(child['digest']) is None:
                _push_manifest(source, layout, client, child, child['digest'], mount_from, counts)
    else:
        blobs = [document.get('config')] + list(document.get('layers') or [])
        for blob in blobs:
            blob = check_descriptor(blob, f'A blob of manifest {descriptor["digest"]}')
            if client.has_blob(blob['digest'], blob['size']):
                continue
            if any(client.mount_blob(blob['digest'], repository) for repository in mount_from):
                counts.mounted += 1
                continue
            if not layout.has_blob(blob['digest'], blob['size']):
                raise LayoutError(f'Blob {blob["digest"]} is missing from OCI layout {layout.path}; rebuild the image')
            path = layout.blob_path(blob['digest'])
            client.upload_blob(blob['digest'], blob['size'], lambda path=path: open(path, 'rb'))
            counts.uploaded += 1
    client.put_manifest(version, media_type, data)
