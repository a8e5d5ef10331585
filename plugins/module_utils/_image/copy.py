# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Copy an image and its cosign signatures from one registry or local layout to another: what wasm_image_copy does
once its options have become a source and a sink (see copy_ends.py).

The image is copied byte for byte (_oci/copy.py), so its digest, and with it every signature over it, holds at the
destination. The signatures are the ``sha256-<hex>.sig`` manifest beside the image, a tag like any other in a
registry repository or a layout's ``index.json``; it is copied byte for byte too, replacing the destination's.
The order keeps a failed copy harmless: the image's blobs and child manifests, then the signatures, then the
image's tag, so the tag never names an image that is incomplete or whose signatures are still on the way.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._oci.copy import ContentSink, CopyCounts, ImageCopier
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import ContentSource
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import SignedSource
from ansible_collections.wasm.oci.plugins.module_utils._signing.signature_image import signature_layers
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import signature_tag


@dataclasses.dataclass
class Signatures:
    """The source's ``.sig`` manifest of the image (None: it has none) and what the sink's ``.sig`` tag names."""

    source: ContentSource
    tag: str
    descriptor: dict[str, t.Any] | None
    count: int
    before: str | None

    @property
    def needed(self) -> bool:
        return self.descriptor is not None and self.descriptor['digest'] != self.before

    @property
    def after(self) -> str | None:
        return self.descriptor['digest'] if self.descriptor is not None else self.before


@dataclasses.dataclass
class CopyOutcome:
    digest: str
    # The digest the destination named before (its tag, or the pinned digest when it has it); None: nothing.
    before: str | None
    signatures: Signatures | None
    counts: CopyCounts = dataclasses.field(default_factory=CopyCounts)
    signatures_copied: int = 0

    @property
    def image_needed(self) -> bool:
        return self.before != self.digest

    @property
    def changed(self) -> bool:
        return self.image_needed or (self.signatures is not None and self.signatures.needed)


def copy_image(source: SignedSource, sink: ContentSink, tag: str | None, *, pinned: str | None = None,
               copy_signatures: bool = True, check_mode: bool = False) -> CopyOutcome:
    """Copy the image ``source`` names to ``sink`` under ``tag`` (None: by its digest only), with its signatures when
    ``copy_signatures``. ``pinned`` is a digest the destination names, which the image must have.

    Only what the sink lacks is written; in check mode, nothing, and the outcome tells what would change.
    """
    root = source.root_descriptor()
    if root is None:
        raise WasmOciError(f'src {source.reference} does not exist: its registry or layout has no such tag or digest')
    digest = root['digest']
    if pinned is not None and pinned != digest:
        raise WasmOciError(f'dest names digest {pinned}, but src {source.reference} is {digest}; a copy keeps the digest, '
                           'so give dest a tag, or the digest of src')
    if tag is not None:
        named = sink.find_tag(tag)
        before = named['digest'] if named is not None else None
    else:
        before = digest if sink.has_manifest(root) else None
    outcome = CopyOutcome(digest, before, _signatures(source, sink, digest) if copy_signatures else None)
    if check_mode or not outcome.changed:
        return outcome

    content = ImageCopier(source, sink, outcome.counts).copy_content(root) if outcome.image_needed else None
    signatures = outcome.signatures
    if signatures is not None and signatures.descriptor is not None and signatures.needed:
        ImageCopier(signatures.source, sink, outcome.counts).copy(signatures.descriptor, signatures.tag)
        outcome.signatures_copied = signatures.count
    if content is not None:
        stored, data = content
        sink.put_manifest(stored, data, tag)
    return outcome


def _signatures(source: SignedSource, sink: ContentSink, digest: str) -> Signatures:
    """What the source and the sink hold under the ``.sig`` tag of ``digest``; a hostile ``.sig`` manifest (more layers
    than any real one has) is refused here, before anything is written."""
    tag = signature_tag(digest)
    signed = source.tagged(tag)
    descriptor = signed.root_descriptor()
    count = 0
    if descriptor is not None:
        count = len(signature_layers(signed.read_manifest(descriptor), f'Signature manifest {signed.reference}'))
    named = sink.find_tag(tag)
    return Signatures(signed, tag, descriptor, count, named['digest'] if named is not None else None)
