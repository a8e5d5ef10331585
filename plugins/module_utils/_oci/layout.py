# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The OCI image layout: ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``.

Blobs are content-addressed and written atomically; ``index.json`` names each tag
with the ``org.opencontainers.image.ref.name`` annotation (as skopeo and buildah do)
and is replaced atomically after the blobs it points to are in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.atomic_file import atomic_writer, write_atomically
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import LayoutError
from ansible_collections.wasm.oci.plugins.module_utils._common.small_file import read_small_file
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, canonical_json, sha256_digest, validate_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import load_json, read_small_blob
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout_name import LAYOUT_TRANSPORT, LayoutName
from ansible_collections.wasm.oci.plugins.module_utils._oci.media_types import ANNOTATION_REF_NAME, OCI_INDEX

LAYOUT_MARKER = 'oci-layout'
INDEX_FILE = 'index.json'
_LAYOUT_VERSION = {'imageLayoutVersion': '1.0.0'}
_INDEX_LIMIT = 16 * 1024 * 1024
_STREAM_CHUNK = 1024 * 1024


def _load_json_file(path: str, what: str) -> t.Any:
    try:
        data = read_small_file(path, _INDEX_LIMIT)
    except OSError as exc:
        raise LayoutError(f'Cannot read {what} {path}: {exc.strerror}') from None
    if data is None:
        raise LayoutError(f'{what} {path} is larger than {_INDEX_LIMIT} bytes')
    return load_json(data, f'{what} {path}', LayoutError)


class OciLayout:
    """An existing OCI image layout directory."""

    def __init__(self, path: str) -> None:
        self.path = path
        marker = os.path.join(path, LAYOUT_MARKER)
        if not os.path.isdir(path):
            raise LayoutError(f'OCI layout {path} does not exist or is not a directory')
        if not os.path.isfile(marker):
            raise LayoutError(f'{path} is not an OCI image layout: it has no {LAYOUT_MARKER} file')
        layout_doc = _load_json_file(marker, 'OCI layout marker')
        if not isinstance(layout_doc, dict) or 'imageLayoutVersion' not in layout_doc:
            raise LayoutError(f'OCI layout marker {marker} has no imageLayoutVersion')
        index = _load_json_file(os.path.join(path, INDEX_FILE), 'OCI layout index')
        if not isinstance(index, dict) or not isinstance(index.get('manifests', []), list):
            raise LayoutError(f'OCI layout index {os.path.join(path, INDEX_FILE)} must be an object with a manifests list')
        self.index: dict[str, t.Any] = index

    @property
    def manifests(self) -> list[dict[str, t.Any]]:
        return [entry for entry in self.index.get('manifests', []) if isinstance(entry, dict)]

    def tags(self) -> list[str]:
        return sorted({ref for ref in (_ref_name(entry) for entry in self.manifests) if ref})

    def find(self, tag: str) -> dict[str, t.Any] | None:
        """The descriptor ``tag`` names, or None."""
        for entry in self.manifests:
            if _ref_name(entry) == tag:
                return entry
        return None

    def blob_path(self, digest: str) -> str:
        algorithm, hex_digest = validate_digest(digest, 'Blob').split(':', 1)
        return os.path.join(self.path, 'blobs', algorithm, hex_digest)

    def has_blob(self, digest: str, size: int) -> bool:
        try:
            return os.path.getsize(self.blob_path(digest)) == size
        except OSError:
            return False

    @contextlib.contextmanager
    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.Iterator[DigestingReader]:
        """Open a blob for streaming; the reader checks it against ``descriptor``."""
        digest = validate_digest(descriptor.get('digest'), what)
        path = self.blob_path(digest)
        try:
            # Opened outside `with` so that only open()'s OSError reads as a missing blob; `with stream` closes it.
            stream = open(path, 'rb')  # noqa: SIM115
        except OSError as exc:
            raise LayoutError(f'{what} {digest} is missing from OCI layout {self.path}: {exc.strerror}') from None
        with stream:
            yield DigestingReader(stream, digest, descriptor.get('size'), f'{what} {digest} in {self.path}')

    def write_blob(self, digest: str, data: bytes) -> None:
        if sha256_digest(data) != digest:
            raise LayoutError(f'Refusing to store a blob under {digest}: its content has digest {sha256_digest(data)}')
        if self.has_blob(digest, len(data)):
            return
        path = self.blob_path(digest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, data)

    def write_blob_stream(self, digest: str, size: int, stream: t.Any) -> None:
        """Store the blob ``stream`` gives as it arrives; it is renamed into place only once all of it matched ``digest``
        and ``size``, so a failure leaves no partial blob and the layout as it was."""
        path = self.blob_path(digest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        reader = DigestingReader(stream, digest, size, f'Blob {digest} for OCI layout {self.path}')
        with atomic_writer(path) as target:
            chunk = reader.read(_STREAM_CHUNK)
            while chunk:
                target.write(chunk)
                chunk = reader.read(_STREAM_CHUNK)
            reader.verify()

    def set_tag(self, tag: str, descriptor: dict[str, t.Any]) -> None:
        """Point ``tag`` at ``descriptor``, replacing what it named before."""
        entry = dict(descriptor)
        entry['annotations'] = dict(entry.get('annotations') or {}, **{ANNOTATION_REF_NAME: tag})
        manifests = [item for item in self.index.get('manifests', []) if _ref_name(item) != tag]
        manifests.append(entry)
        index = dict(self.index, schemaVersion=2, manifests=manifests)
        index.setdefault('mediaType', OCI_INDEX)
        with atomic_writer(os.path.join(self.path, INDEX_FILE)) as stream:
            stream.write(canonical_json(index))
        self.index = index


def _ref_name(entry: t.Any) -> str | None:
    annotations = entry.get('annotations') if isinstance(entry, dict) else None
    return annotations.get(ANNOTATION_REF_NAME) if isinstance(annotations, dict) else None


def layout_exists(path: str) -> bool:
    return os.path.isfile(os.path.join(path, LAYOUT_MARKER))


@contextlib.contextmanager
def open_or_create_layout(path: str) -> t.Iterator[OciLayout]:
    """Yield the layout at ``path``, creating it when missing or empty.

    When this call created the layout and the caller's work fails, everything it
    created is removed again, so no half-written layout is left behind.
    """
    layout = existing_layout(path)
    if layout is not None:
        yield layout
        return
    created_dir = not os.path.exists(path)
    try:
        os.makedirs(path, exist_ok=True)
        os.makedirs(os.path.join(path, 'blobs', 'sha256'), exist_ok=True)
        write_atomically(os.path.join(path, LAYOUT_MARKER), canonical_json(_LAYOUT_VERSION))
        write_atomically(os.path.join(path, INDEX_FILE), canonical_json({'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': []}))
        yield OciLayout(path)
    except BaseException:
        if created_dir:
            shutil.rmtree(path, ignore_errors=True)
        else:
            for entry in os.listdir(path):
                target = os.path.join(path, entry)
                if os.path.isdir(target):
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    os.unlink(target)
        raise


def existing_layout(path: str) -> OciLayout | None:
    """The layout at ``path``; None if nothing is there yet (or only an empty directory)."""
    if layout_exists(path):
        return OciLayout(path)
    if not os.path.exists(path) or (os.path.isdir(path) and not os.listdir(path)):
        return None
    raise LayoutError(f'{path} is neither an OCI image layout nor empty; give an empty or new directory for layout')


def layout_reference(path: str, tag: str) -> str:
    """How skopeo and buildah name an image in a layout, so users can paste it."""
    return str(LayoutName(path, tag))


class LayoutSource:
    """One tag of a local OCI layout, as a content source for the image reader."""

    def __init__(self, layout: OciLayout, tag: str, reference: str | None = None) -> None:
        self.layout = layout
        self.tag = tag
        self.reference = reference or layout_reference(layout.path, tag)

    def root_descriptor(self) -> dict[str, t.Any] | None:
        return self.layout.find(self.tag)

    def read_manifest(self, descriptor: dict[str, t.Any]) -> bytes:
        return read_small_blob(self, descriptor, f'Manifest of {self.reference}')

    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.ContextManager[DigestingReader]:
        return self.layout.open_blob(descriptor, what)

    def tagged(self, tag: str) -> LayoutSource:
        return LayoutSource(self.layout, tag)


class LayoutSink:
    """A local OCI layout, as where a copy writes (see _oci/copy.py); it is made on the first write if it does not exist.

    Each blob and manifest is renamed into place once complete, and a tag is set last, so a copy that fails midway
    leaves the layout valid, every tag naming what it named before. Use it as a context manager: when the copy fails,
    a layout the sink made is removed again.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.reference = f'{LAYOUT_TRANSPORT}{path}'
        self._layout = existing_layout(path)
        self._creation = contextlib.ExitStack()

    def __enter__(self) -> LayoutSink:
        return self

    def __exit__(self, *exc_info: t.Any) -> bool | None:
        return self._creation.__exit__(*exc_info)

    def _writable(self) -> OciLayout:
        if self._layout is None:
            self._layout = self._creation.enter_context(open_or_create_layout(self.path))
        return self._layout

    def find_tag(self, tag: str) -> dict[str, t.Any] | None:
        return self._layout.find(tag) if self._layout is not None else None

    def has_manifest(self, descriptor: dict[str, t.Any]) -> bool:
        # A manifest in a layout is a blob; a layout written blobs first has every blob of a manifest it holds.
        return self.has_blob(descriptor)

    def has_blob(self, descriptor: dict[str, t.Any]) -> bool:
        return self._layout is not None and self._layout.has_blob(descriptor['digest'], descriptor['size'])

    def mount_blob(self, descriptor: dict[str, t.Any]) -> bool:
        return False

    def write_blob(self, descriptor: dict[str, t.Any], open_blob: t.Callable[[], t.Any]) -> None:
        layout = self._writable()
        with open_blob() as stream:
            layout.write_blob_stream(descriptor['digest'], descriptor['size'], stream)

    def put_manifest(self, descriptor: dict[str, t.Any], data: bytes, tag: str | None) -> None:
        self._writable().write_blob(descriptor['digest'], data)
        if tag is not None:
            # index.json as it is now, not as it was when the copy began: another writer may have tagged meanwhile.
            OciLayout(self.path).set_tag(tag, descriptor)


def store_image(path: str, tag: str, manifest_descriptor: dict[str, t.Any], blobs: dict[str, bytes]) -> None:
    """Write the blobs, then point ``tag`` at the manifest: readers never see a dangling tag."""
    with open_or_create_layout(path) as layout:
        for digest, data in blobs.items():
            layout.write_blob(digest, data)
        layout.set_tag(tag, manifest_descriptor)
