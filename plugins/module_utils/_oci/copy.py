# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Copy an image from a content source to a content sink, byte for byte.

The manifest graph is walked from its root: an index's child manifests, a manifest's config and layers. Every
manifest keeps its exact bytes, so every digest, the root's included, is the same at both ends. Every blob streams
from the source to the sink and is checked against its digest on the way; nothing large is held in memory. What the
sink has already is skipped, and a blob its registry holds in a sibling repository is linked instead of sent.

A sink stores blobs and child manifests first and names the root last, so a copy that fails midway moves no tag.
Sinks: ``_oci/layout.py`` (LayoutSink) and ``_registry/sink.py`` (RegistrySink).
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import ContentSource, check_descriptor, descriptor_list, parse_json_document

# Real images nest an index in an index at most once; a deeper chain is refused before Python's recursion limit is near.
MAX_INDEX_DEPTH = 8
_CHUNK = 1024 * 1024


class VerifiedBlob:
    """A blob of a source, opened for a sink: the read that reaches the blob's declared size (or its end) checks the
    digest first, so a sink never gets the last byte of content that is not what its descriptor says.

    A sink reads to the end (a file being written) or exactly the declared size (a registry upload in chunks); both
    are checked. Sized, truthy even when empty, and a context manager, so an HTTP library streams it as a request
    body of the declared length, and closes it (and the download behind it) when the request is over.
    """

    def __init__(self, source: ContentSource, descriptor: dict[str, t.Any], what: str) -> None:
        self.size: int = descriptor['size']
        self._resources = contextlib.ExitStack()
        self._reader = self._resources.enter_context(source.open_blob(descriptor, what))
        self._verified = False

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            # Everything that is left, and one byte more, so that a longer blob is refused.
            size = self.size - self._reader.size + 1
        chunk = self._reader.read(size)
        if not self._verified and (not chunk or self._reader.size >= self.size):
            self._reader.verify()
            self._verified = True
        return chunk

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return True

    def close(self) -> None:
        self._resources.close()

    def __enter__(self) -> VerifiedBlob:
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self.close()


# Opens the blob anew on each call: a sink that has to start over (a retried upload) calls it again.
BlobOpener = t.Callable[[], VerifiedBlob]


class ContentSink(t.Protocol):
    """Where a copy writes: a repository in a registry, or a local OCI layout."""

    reference: str

    def find_tag(self, tag: str) -> dict[str, t.Any] | None:
        """The descriptor ``tag`` names in the sink now, or None."""

    def has_manifest(self, descriptor: dict[str, t.Any]) -> bool:
        """Whether the sink has the manifest or index ``descriptor`` names (and so everything under it)."""

    def has_blob(self, descriptor: dict[str, t.Any]) -> bool:
        """Whether the sink has the blob, at its declared size."""

    def mount_blob(self, descriptor: dict[str, t.Any]) -> bool:
        """Link the blob from where the sink's registry already keeps it; False when it cannot."""

    def write_blob(self, descriptor: dict[str, t.Any], open_blob: BlobOpener) -> None:
        """Store the blob that ``open_blob`` streams, once all of it arrived (and so was verified)."""

    def put_manifest(self, descriptor: dict[str, t.Any], data: bytes, tag: str | None) -> None:
        """Store a manifest whose blobs and children are all stored, named ``tag`` (None: by its digest only)."""


@dataclasses.dataclass
class CopyCounts:
    blobs_copied: int = 0
    # Blobs the sink had already.
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    # Child manifests of an index; the roots a copy names are not counted.
    manifests_copied: int = 0


def manifest_media_type(document: dict[str, t.Any], descriptor: dict[str, t.Any]) -> str:
    """The media type a manifest is stored under: its own, else its descriptor's, else what its shape says (image-spec
    1.0.0 documents, such as wasm-to-oci's, have no mediaType)."""
    media_type: str | None = document.get('mediaType') or descriptor.get('mediaType')
    if media_type:
        return media_type
    return mt.OCI_INDEX if 'manifests' in document and 'layers' not in document else mt.OCI_MANIFEST


class ImageCopier:
    """Copies manifests with everything under them from ``source`` to ``sink``, counting what it did in ``counts``."""

    def __init__(self, source: ContentSource, sink: ContentSink, counts: CopyCounts | None = None) -> None:
        self.source = source
        self.sink = sink
        self.counts = counts if counts is not None else CopyCounts()
        # What this copy stored or found already, so an index whose children share a config asks once.
        self._blobs_done: set[str] = set()
        self._manifests_done: set[str] = set()

    def copy(self, descriptor: dict[str, t.Any], tag: str | None) -> dict[str, t.Any]:
        """Copy the manifest ``descriptor`` names and everything under it, naming it ``tag`` last; returns the
        descriptor it is stored under."""
        stored, data = self.copy_content(descriptor)
        self.sink.put_manifest(stored, data, tag)
        return stored

    def copy_content(self, descriptor: dict[str, t.Any], depth: int = 0) -> tuple[dict[str, t.Any], bytes]:
        """Copy everything the manifest refers to, but not the manifest itself: ``(descriptor, bytes)`` to store it with."""
        descriptor = check_descriptor(descriptor, f'A manifest of {self.source.reference}')
        what = f'Manifest {descriptor["digest"]} of {self.source.reference}'
        data = self.source.read_manifest(descriptor)
        document = parse_json_document(data, what)
        stored = {'mediaType': manifest_media_type(document, descriptor), 'digest': descriptor['digest'], 'size': len(data)}
        if stored['mediaType'] in mt.INDEXES:
            if depth >= MAX_INDEX_DEPTH:
                raise ImageFormatError(f'{what} nests indexes more than {MAX_INDEX_DEPTH} levels deep; refusing to copy it')
            for child in descriptor_list(document, 'manifests', what):
                self._copy_child(child, depth + 1)
        else:
            self._copy_blob(check_descriptor(document.get('config'), f'The config of {what}'))
            for layer in descriptor_list(document, 'layers', what):
                self._copy_blob(layer)
        return stored, data

    def _copy_child(self, descriptor: dict[str, t.Any], depth: int) -> None:
        digest = descriptor['digest']
        if digest in self._manifests_done:
            return
        if not self.sink.has_manifest(descriptor):
            stored, data = self.copy_content(descriptor, depth)
            self.sink.put_manifest(stored, data, None)
            self.counts.manifests_copied += 1
        self._manifests_done.add(digest)

    def _copy_blob(self, descriptor: dict[str, t.Any]) -> None:
        digest = descriptor['digest']
        if digest in self._blobs_done:
            return
        if self.sink.has_blob(descriptor):
            self.counts.blobs_skipped += 1
        elif self.sink.mount_blob(descriptor):
            self.counts.blobs_mounted += 1
        else:
            with contextlib.closing(_Opener(self.source, descriptor)) as opener:
                self.sink.write_blob(descriptor, opener)
            self.counts.blobs_copied += 1
        self._blobs_done.add(digest)


class _Opener:
    """Opens a blob of the source for the sink. The first stream is opened at once, so a blob the source lacks fails
    before the sink starts anything (such as an upload session); calls after the first open it anew."""

    def __init__(self, source: ContentSource, descriptor: dict[str, t.Any]) -> None:
        self._source = source
        self._descriptor = descriptor
        self._what = f'Blob {descriptor["digest"]} of {source.reference}'
        self._first: VerifiedBlob | None = VerifiedBlob(source, descriptor, self._what)

    def __call__(self) -> VerifiedBlob:
        first, self._first = self._first, None
        return first or VerifiedBlob(self._source, self._descriptor, self._what)

    def close(self) -> None:
        if self._first is not None:
            self._first.close()
