# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The copy engine, from one local layout to another (LayoutSource -> LayoutSink) and into a recording sink."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, LayoutError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.copy import CopyCounts, ImageCopier, VerifiedBlob, manifest_media_type
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, canonical_json, sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSink, LayoutSource, OciLayout
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import LayoutBuilder, proxy_module


def _image(builder: LayoutBuilder, marker: str, shared_config: bytes = b'{"shared":true}') -> dict[str, t.Any]:
    config = builder.add(mt.OCI_IMAGE_CONFIG, shared_config)
    layer = builder.add(mt.WASM_CONTENT_LAYER, proxy_module(marker=marker))
    return builder.manifest(config, [layer])


def _blob_files(path: pathlib.Path) -> set[str]:
    return {item.name for item in (path / 'blobs' / 'sha256').iterdir()}


def _leftovers(path: pathlib.Path) -> list[str]:
    return [str(item) for item in path.rglob('*') if item.name.endswith('.tmp')]


def _copy(source_path: pathlib.Path, tag: str, dest_path: pathlib.Path, dest_tag: str = 'copied') -> CopyCounts:
    source = LayoutSource(OciLayout(str(source_path)), tag)
    with LayoutSink(str(dest_path)) as sink:
        copier = ImageCopier(source, sink)
        copier.copy(t.cast(dict, source.root_descriptor()), dest_tag)
    return copier.counts


def test_a_manifest_is_copied_byte_for_byte_into_a_new_layout(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    root = _image(builder, 'one')
    builder.tag('1.0', root)
    counts = _copy(tmp_path / 'src', '1.0', tmp_path / 'dest')
    dest = OciLayout(str(tmp_path / 'dest'))
    assert dest.find('copied') == {'mediaType': mt.OCI_MANIFEST, 'digest': root['digest'], 'size': root['size'],
                                   'annotations': {mt.ANNOTATION_REF_NAME: 'copied'}}
    assert _blob_files(tmp_path / 'dest') == _blob_files(tmp_path / 'src')
    for name in _blob_files(tmp_path / 'src'):
        assert (tmp_path / 'dest' / 'blobs' / 'sha256' / name).read_bytes() == (tmp_path / 'src' / 'blobs' / 'sha256' / name).read_bytes()
    assert counts == CopyCounts(blobs_copied=2)
    assert not _leftovers(tmp_path / 'dest')


def test_a_second_copy_finds_every_blob(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    builder.tag('1.0', _image(builder, 'one'))
    _copy(tmp_path / 'src', '1.0', tmp_path / 'dest')
    assert _copy(tmp_path / 'src', '1.0', tmp_path / 'dest', 'again') == CopyCounts(blobs_skipped=2)
    assert OciLayout(str(tmp_path / 'dest')).tags() == ['again', 'copied']


def test_an_index_is_copied_with_its_children_and_shared_blobs_are_asked_for_once(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    children = [dict(_image(builder, 'amd64'), platform={'os': 'linux', 'architecture': 'amd64'}),
                dict(_image(builder, 'arm64'), platform={'os': 'linux', 'architecture': 'arm64'})]
    index = builder.index(children)
    builder.tag('multi', index)
    counts = _copy(tmp_path / 'src', 'multi', tmp_path / 'dest')
    # Two module layers and the config both images share, once.
    assert counts == CopyCounts(blobs_copied=3, manifests_copied=2)
    dest = OciLayout(str(tmp_path / 'dest'))
    assert dest.find('copied')['digest'] == index['digest']
    assert dest.find('copied')['mediaType'] == mt.OCI_INDEX
    assert _blob_files(tmp_path / 'dest') == _blob_files(tmp_path / 'src')


def test_children_the_sink_has_are_not_walked_again(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    first = _image(builder, 'first')
    builder.tag('first', first)
    builder.tag('multi', builder.index([first, _image(builder, 'second')]))
    _copy(tmp_path / 'src', 'first', tmp_path / 'dest')
    assert _copy(tmp_path / 'src', 'multi', tmp_path / 'dest') == CopyCounts(blobs_copied=1, blobs_skipped=1, manifests_copied=1)


def _corrupt(layout_path: pathlib.Path, digest: str, data: bytes) -> None:
    path = layout_path / 'blobs' / 'sha256' / digest.split(':')[1]
    os.chmod(path, 0o644)
    path.write_bytes(data)


def test_a_blob_with_other_bytes_is_refused_and_the_dest_tag_stays(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    old, new = _image(builder, 'old'), _image(builder, 'new')
    builder.tag('old', old)
    builder.tag('new', new)
    _copy(tmp_path / 'src', 'old', tmp_path / 'dest')
    index_before = (tmp_path / 'dest' / 'index.json').read_bytes()
    layer = json.loads((tmp_path / 'src' / 'blobs' / 'sha256' / new['digest'].split(':')[1]).read_bytes())['layers'][0]
    module = proxy_module(marker='new')
    _corrupt(tmp_path / 'src', layer['digest'], module[:-1] + bytes([module[-1] ^ 1]))
    with pytest.raises(ImageFormatError, match=f'Blob {layer["digest"]} of oci:.*:new .* has digest sha256:'):
        _copy(tmp_path / 'src', 'new', tmp_path / 'dest')
    assert (tmp_path / 'dest' / 'index.json').read_bytes() == index_before
    assert layer['digest'].split(':')[1] not in _blob_files(tmp_path / 'dest')
    assert not _leftovers(tmp_path / 'dest')


def test_a_longer_blob_is_refused(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    root = _image(builder, 'one')
    builder.tag('1.0', root)
    layer = json.loads((tmp_path / 'src' / 'blobs' / 'sha256' / root['digest'].split(':')[1]).read_bytes())['layers'][0]
    _corrupt(tmp_path / 'src', layer['digest'], proxy_module(marker='one') + b'more')
    with pytest.raises(ImageFormatError, match='larger than'):
        _copy(tmp_path / 'src', '1.0', tmp_path / 'dest')
    # The copy made the layout, so it is gone again.
    assert not (tmp_path / 'dest').exists()


def test_a_blob_missing_from_the_source_fails_before_the_sink_writes(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    root = _image(builder, 'one')
    builder.tag('1.0', root)
    layer = json.loads((tmp_path / 'src' / 'blobs' / 'sha256' / root['digest'].split(':')[1]).read_bytes())['layers'][0]
    (tmp_path / 'src' / 'blobs' / 'sha256' / layer['digest'].split(':')[1]).unlink()
    sink = RecordingSink()
    source = LayoutSource(OciLayout(str(tmp_path / 'src')), '1.0')
    with pytest.raises(LayoutError, match=f'Blob {layer["digest"]} of oci:.* is missing from OCI layout'):
        ImageCopier(source, sink).copy(root, '1.0')
    assert [call[0] for call in sink.calls] == ['has_blob', 'mount_blob', 'write_blob', 'has_blob', 'mount_blob']
    assert 'put_manifest' not in [call[0] for call in sink.calls]


class RecordingSink:
    """Has nothing, mounts nothing, keeps what it is given in memory and records every call."""

    reference = 'recording'

    def __init__(self, mounts: t.Collection[str] = ()) -> None:
        self.calls: list[tuple[str, str]] = []
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[dict[str, t.Any], bytes, str | None]] = {}
        self.mounts = mounts

    def find_tag(self, tag: str) -> None:
        self.calls.append(('find_tag', tag))

    def has_manifest(self, descriptor: dict[str, t.Any]) -> bool:
        self.calls.append(('has_manifest', descriptor['digest']))
        return descriptor['digest'] in self.manifests

    def has_blob(self, descriptor: dict[str, t.Any]) -> bool:
        self.calls.append(('has_blob', descriptor['digest']))
        return descriptor['digest'] in self.blobs

    def mount_blob(self, descriptor: dict[str, t.Any]) -> bool:
        self.calls.append(('mount_blob', descriptor['digest']))
        return descriptor['digest'] in self.mounts

    def write_blob(self, descriptor: dict[str, t.Any], open_blob: t.Callable[[], VerifiedBlob]) -> None:
        self.calls.append(('write_blob', descriptor['digest']))
        with open_blob() as stream:
            self.blobs[descriptor['digest']] = stream.read()

    def put_manifest(self, descriptor: dict[str, t.Any], data: bytes, tag: str | None) -> None:
        self.calls.append(('put_manifest', descriptor['digest']))
        self.manifests[descriptor['digest']] = (descriptor, data, tag)


def test_mounted_blobs_are_not_read_and_the_root_is_named_last(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    child = _image(builder, 'child')
    index = builder.index([child])
    builder.tag('multi', index)
    manifest = json.loads((tmp_path / 'src' / 'blobs' / 'sha256' / child['digest'].split(':')[1]).read_bytes())
    sink = RecordingSink(mounts={manifest['config']['digest']})
    stored = ImageCopier(LayoutSource(OciLayout(str(tmp_path / 'src')), 'multi'), sink).copy(index, 'multi')
    assert stored == {'mediaType': mt.OCI_INDEX, 'digest': index['digest'], 'size': index['size']}
    assert list(sink.blobs) == [manifest['layers'][0]['digest']]
    assert sink.calls[-2:] == [('put_manifest', child['digest']), ('put_manifest', index['digest'])]
    assert sink.manifests[child['digest']][2] is None
    assert sink.manifests[index['digest']][2] == 'multi'


def test_indexes_nested_deeper_than_any_image_are_refused(tmp_path: pathlib.Path) -> None:
    builder = LayoutBuilder(tmp_path / 'src')
    top = _image(builder, 'bottom')
    for _level in range(9):
        top = builder.index([top])
    builder.tag('deep', top)
    with pytest.raises(ImageFormatError, match='nests indexes more than 8 levels deep'):
        ImageCopier(LayoutSource(OciLayout(str(tmp_path / 'src')), 'deep'), RecordingSink()).copy(top, 'deep')


@pytest.mark.parametrize(('document', 'descriptor', 'expected'), [
    ({'mediaType': mt.DOCKER_MANIFEST}, {'mediaType': mt.OCI_MANIFEST}, mt.DOCKER_MANIFEST),
    ({}, {'mediaType': mt.DOCKER_MANIFEST_LIST}, mt.DOCKER_MANIFEST_LIST),
    ({'config': {}, 'layers': []}, {}, mt.OCI_MANIFEST),
    ({'manifests': []}, {}, mt.OCI_INDEX),
])
def test_the_media_type_a_manifest_is_stored_under(document: dict, descriptor: dict, expected: str) -> None:
    assert manifest_media_type(document, descriptor) == expected


class _Source:
    reference = 'memory'

    def __init__(self, data: bytes) -> None:
        self.data = data

    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.ContextManager[DigestingReader]:
        return contextlib.nullcontext(DigestingReader(io.BytesIO(self.data), descriptor['digest'], descriptor['size'], what))


def test_a_verified_blob_checks_the_digest_on_the_read_that_reaches_its_size() -> None:
    good = b'x' * 100
    stream = VerifiedBlob(_Source(b'y' * 100), {'digest': sha256_digest(good), 'size': 100}, 'Blob')  # type: ignore[arg-type]
    assert stream.read(60) == b'y' * 60
    # A sink reading exactly the declared size (a chunked upload) never asks for the end, and still gets no bad last byte.
    with pytest.raises(ImageFormatError, match='has digest'):
        stream.read(40)


def test_a_verified_blob_is_a_sized_truthy_request_body() -> None:
    stream = VerifiedBlob(_Source(b''), {'digest': sha256_digest(b''), 'size': 0}, 'Blob')  # type: ignore[arg-type]
    assert len(stream) == 0
    assert stream
    assert stream.read() == b''
    data = canonical_json({'a': 1})
    with VerifiedBlob(_Source(data), {'digest': sha256_digest(data), 'size': len(data)}, 'Blob') as whole:  # type: ignore[arg-type]
        assert whole.read() == data
