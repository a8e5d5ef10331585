# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Push an image from a local OCI layout to a registry, uploading only what is missing (a copy, see _oci/copy.py)."""

from __future__ import annotations

import dataclasses
import typing as t

# By name, with the other imports: concurrent.futures imports its executor on first use, which in a new process took
# 2 ms in the middle of a push.
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import LayoutError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image.description import ImageDescription
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import ResolvedImage, describe, resolve
from ansible_collections.wasm.oci.plugins.module_utils._oci.copy import ImageCopier
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import check_descriptor
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.sink import RegistrySink


def layout_descriptor(layout: OciLayout, tag: str) -> dict[str, t.Any]:
    descriptor = layout.find(tag)
    if descriptor is None:
        tags = ', '.join(layout.tags()) or 'none'
        raise LayoutError(f'OCI layout {layout.path} has no tag {tag!r} (it has: {tags}); build it first with wasm_image_build')
    return check_descriptor(descriptor, f'Tag {tag} of {layout.path}')


@dataclasses.dataclass
class PushCounts:
    uploaded: int = 0
    mounted: int = 0


@dataclasses.dataclass
class PushOutcome:
    image: ImageDescription
    # The manifest digest the remote tag named before the push (None: no such tag), and the one it names after.
    before: str | None
    after: str
    counts: PushCounts

    @property
    def changed(self) -> bool:
        return self.before != self.after


def push(layout: OciLayout, tag: str, descriptor: dict[str, t.Any], client: RegistryClient, mount_from: t.Sequence[str] = (),
         before_naming: t.Callable[[], object] = lambda: None) -> PushCounts:
    """Push ``descriptor`` (what ``tag`` names, see layout_descriptor) to the client's reference, mounting blobs from
    ``mount_from`` repositories when they have them. ``before_naming`` runs once every blob is stored and before the
    tag names the manifest: when it raises, the remote tag stays as it was."""
    copier = ImageCopier(LayoutSource(layout, tag), RegistrySink(client, mount_from))
    stored, data = copier.copy_content(descriptor)
    before_naming()
    copier.sink.put_manifest(stored, data, t.cast(str, client.reference.tag))
    return PushCounts(uploaded=copier.counts.blobs_copied, mounted=copier.counts.blobs_mounted)


def push_image(layout: OciLayout, tag: str, client: RegistryClient, mount_from: t.Sequence[str] = (), *,
               check_mode: bool = False) -> PushOutcome:
    """What wasm_image_push does: push the image ``tag`` names in ``layout`` to the client's reference unless that tag
    names it already, and describe it (the ``image`` every module returns).

    Describing a compat image reads its whole layer, as uploading it does; the two run side by side, and the tag is
    set only once the description has passed. A layout image that fails it leaves the remote tag as it was; the blobs
    uploaded by then stay unreferenced, as after any push that fails before its manifest.
    """
    descriptor = layout_descriptor(layout, tag)
    source = LayoutSource(layout, tag, reference=str(client.reference))
    resolved = t.cast(ResolvedImage, resolve(source))  # the layout has the tag: layout_descriptor found it
    remote = client.head_manifest(t.cast(str, client.reference.tag))
    before = remote.digest if remote is not None else None
    if before == descriptor['digest'] or check_mode:
        return PushOutcome(describe(source, resolved), before, descriptor['digest'], PushCounts())
    with ThreadPoolExecutor(max_workers=1) as pool:
        description = pool.submit(describe, source, resolved)
        try:
            counts = push(layout, tag, descriptor, client, mount_from, before_naming=description.result)
        except WasmOciError:
            # An image that is not what its layout claims is the error to report, rather than what its upload ran into.
            description.result()
            raise
    return PushOutcome(description.result(), before, descriptor['digest'], counts)
