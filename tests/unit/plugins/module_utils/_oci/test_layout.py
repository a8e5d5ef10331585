# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import io
import json
import os
import pathlib

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, LayoutError
from ansible_collections.wasm.oci.plugins.module_utils._image.builder import BuiltImage, build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import describe, describe_tag, resolve
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import (
    LayoutSource,
    OciLayout,
    existing_layout,
    layout_exists,
    layout_reference,
    open_or_create_layout,
    store_image,
)
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import proxy_module

MODULE = proxy_module()
RUNTIME = RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_2_1',), ('add_header',))


def _image(marker: str = '', variant: str = 'oci') -> BuiltImage:
    return build_image(variant, proxy_module(marker=marker), RUNTIME, {})


def _store(path: pathlib.Path, tag: str, image: BuiltImage) -> OciLayout:
    store_image(str(path), tag, image.descriptor, image.layout_blobs)
    return OciLayout(str(path))


def _files(path: pathlib.Path) -> set[str]:
    return {str(item.relative_to(path)) for item in path.rglob('*')}


def test_store_image_creates_a_complete_layout(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'layout'
    image = _image()
    layout = _store(path, '1.0', image)
    assert json.loads((path / 'oci-layout').read_text()) == {'imageLayoutVersion': '1.0.0'}
    index = json.loads((path / 'index.json').read_text())
    assert index['schemaVersion'] == 2
    assert index['mediaType'] == mt.OCI_INDEX
    assert index['manifests'] == [dict(image.descriptor, annotations={mt.ANNOTATION_REF_NAME: '1.0'})]
    for digest, data in image.layout_blobs.items():
        assert (path / 'blobs' / 'sha256' / digest.split(':')[1]).read_bytes() == data
    assert layout.tags() == ['1.0']
    assert not [name for name in _files(path) if name.endswith('.tmp')]


def test_layout_holds_several_tags(tmp_path: pathlib.Path) -> None:
    first, second = _image('one'), _image('two')
    _store(tmp_path, 'b-tag', first)
    layout = _store(tmp_path, 'a-tag', second)
    assert layout.tags() == ['a-tag', 'b-tag']
    assert layout.find('b-tag')['digest'] == first.digest  # type: ignore[index]
    assert layout.find('a-tag')['digest'] == second.digest  # type: ignore[index]
    assert layout.find('missing') is None


def test_same_image_under_two_tags_stores_its_blobs_once(tmp_path: pathlib.Path) -> None:
    image = _image()
    _store(tmp_path, 'one', image)
    layout = _store(tmp_path, 'two', image)
    assert layout.tags() == ['one', 'two']
    assert len(list((tmp_path / 'blobs' / 'sha256').iterdir())) == len(image.layout_blobs)


def test_set_tag_replaces_what_the_tag_named(tmp_path: pathlib.Path) -> None:
    old, new = _image('old'), _image('new')
    _store(tmp_path, 'latest', old)
    _store(tmp_path, 'stable', old)
    layout = _store(tmp_path, 'latest', new)
    assert layout.tags() == ['latest', 'stable']
    assert layout.find('latest')['digest'] == new.digest  # type: ignore[index]
    assert layout.find('stable')['digest'] == old.digest  # type: ignore[index]
    assert len(layout.manifests) == 2


def test_set_tag_keeps_the_descriptor_annotations_and_does_not_change_the_argument(tmp_path: pathlib.Path) -> None:
    image = _image()
    descriptor = dict(image.descriptor, annotations={'org.example/kept': 'yes'})
    with open_or_create_layout(str(tmp_path)) as layout:
        for digest, data in image.layout_blobs.items():
            layout.write_blob(digest, data)
        layout.set_tag('v1', descriptor)
    assert descriptor['annotations'] == {'org.example/kept': 'yes'}
    assert OciLayout(str(tmp_path)).find('v1')['annotations'] == {'org.example/kept': 'yes', mt.ANNOTATION_REF_NAME: 'v1'}  # type: ignore[index]


def test_set_tag_keeps_untagged_entries_and_unknown_index_fields(tmp_path: pathlib.Path) -> None:
    image = _image()
    _store(tmp_path, 'v1', image)
    index = json.loads((tmp_path / 'index.json').read_text())
    index['manifests'].append(dict(image.descriptor))
    index['annotations'] = {'org.example/index': 'kept'}
    (tmp_path / 'index.json').write_text(json.dumps(index))
    layout = _store(tmp_path, 'v2', image)
    assert layout.index['annotations'] == {'org.example/index': 'kept'}
    assert len(layout.manifests) == 3
    assert layout.tags() == ['v1', 'v2']


def test_layout_written_by_another_tool_without_media_type_is_read(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'oci-layout').write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / 'index.json').write_text(json.dumps({'schemaVersion': 2, 'manifests': [
        {'mediaType': mt.OCI_MANIFEST, 'digest': sha256_digest(b'x'), 'size': 1, 'annotations': {mt.ANNOTATION_REF_NAME: 'skopeo'}},
        {'mediaType': mt.OCI_MANIFEST, 'digest': sha256_digest(b'y'), 'size': 1},
        'not a descriptor',
    ]}))
    layout = OciLayout(str(tmp_path))
    assert layout.tags() == ['skopeo']
    assert len(layout.manifests) == 2


def test_index_without_manifests_is_an_empty_layout(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'oci-layout').write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / 'index.json').write_text('{"schemaVersion": 2}')
    assert OciLayout(str(tmp_path)).tags() == []


def test_write_blob_is_idempotent(tmp_path: pathlib.Path) -> None:
    with open_or_create_layout(str(tmp_path)) as layout:
        digest = sha256_digest(b'blob')
        layout.write_blob(digest, b'blob')
        layout.write_blob(digest, b'blob')
        assert layout.has_blob(digest, 4)
        assert not layout.has_blob(digest, 5)
        assert not layout.has_blob(sha256_digest(b'other'), 5)


def test_blob_path_refuses_a_malformed_digest(tmp_path: pathlib.Path) -> None:
    with open_or_create_layout(str(tmp_path)) as layout, pytest.raises(ImageFormatError, match=r"^Blob has digest 'sha256:\.\./\.\./etc/passwd'"):
        layout.blob_path('sha256:../../etc/passwd')


def test_open_blob_streams_and_verifies(tmp_path: pathlib.Path) -> None:
    image = _image()
    layout = _store(tmp_path, 'v1', image)
    with layout.open_blob(image.descriptor, 'Manifest') as reader:
        assert reader.read() == image.manifest
        reader.verify()


def test_corrupt_blob_is_detected_on_read(tmp_path: pathlib.Path) -> None:
    image = _image()
    layout = _store(tmp_path, 'v1', image)
    blob = tmp_path / 'blobs' / 'sha256' / image.digest.split(':')[1]
    data = bytearray(blob.read_bytes())
    data[10] ^= 0x01
    blob.write_bytes(bytes(data))
    expected = f'has digest sha256:[0-9a-f]{{64}}, not the {image.digest} it was stored under'
    with pytest.raises(ImageFormatError, match=expected) as caught, layout.open_blob(image.descriptor, 'Manifest') as reader:
        reader.verify()
    assert str(tmp_path) in str(caught.value)


def test_corrupt_manifest_is_detected_when_the_tag_is_described(tmp_path: pathlib.Path) -> None:
    image = _image()
    layout = _store(tmp_path, 'v1', image)
    (tmp_path / 'blobs' / 'sha256' / image.digest.split(':')[1]).write_bytes(image.manifest.replace(b'filter.wasm', b'filter.wasx'))
    with pytest.raises(ImageFormatError, match=f'^Manifest of oci:{tmp_path}:v1 {image.digest} in {tmp_path} has digest'):
        describe_tag(layout, 'v1')


def test_corrupt_module_layer_is_detected_when_the_module_is_copied(tmp_path: pathlib.Path) -> None:
    module = proxy_module()
    image = build_image('oci', module, RUNTIME, {})
    layout = _store(tmp_path, 'v1', image)
    (tmp_path / 'blobs' / 'sha256' / sha256_digest(module).split(':')[1]).write_bytes(module[:-1] + b'\x0c')
    source = LayoutSource(layout, 'v1')
    resolved = resolve(source)
    assert resolved is not None
    with pytest.raises(ImageFormatError, match=r'has digest sha256:[0-9a-f]{64}, not the'):
        describe(source, resolved, target=io.BytesIO())


def test_truncated_blob_is_detected(tmp_path: pathlib.Path) -> None:
    image = _image()
    layout = _store(tmp_path, 'v1', image)
    blob = tmp_path / 'blobs' / 'sha256' / image.digest.split(':')[1]
    blob.write_bytes(image.manifest[:-5])
    expected = f'has {len(image.manifest) - 5} bytes but its descriptor declares {len(image.manifest)}'
    with pytest.raises(ImageFormatError, match=expected), layout.open_blob(image.descriptor, 'Manifest') as reader:
        reader.verify()


def test_missing_blob_is_reported_with_the_layout_path(tmp_path: pathlib.Path) -> None:
    image = _image()
    layout = _store(tmp_path, 'v1', image)
    os.unlink(tmp_path / 'blobs' / 'sha256' / image.digest.split(':')[1])
    with pytest.raises(LayoutError, match=f'^Manifest {image.digest} is missing from OCI layout {tmp_path}'), layout.open_blob(image.descriptor, 'Manifest'):
        pass


def test_existing_layout_of_a_missing_directory_is_none(tmp_path: pathlib.Path) -> None:
    assert existing_layout(str(tmp_path / 'nothing')) is None
    assert not layout_exists(str(tmp_path / 'nothing'))


def test_existing_layout_of_an_empty_directory_is_none(tmp_path: pathlib.Path) -> None:
    assert existing_layout(str(tmp_path)) is None


def test_existing_layout_returns_a_layout(tmp_path: pathlib.Path) -> None:
    _store(tmp_path, 'v1', _image())
    layout = existing_layout(str(tmp_path))
    assert layout is not None
    assert layout.tags() == ['v1']
    assert layout_exists(str(tmp_path))


def test_existing_layout_refuses_a_directory_with_other_content(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'notes.txt').write_text('hello')
    with pytest.raises(LayoutError, match=f'^{tmp_path} is neither an OCI image layout nor empty'):
        existing_layout(str(tmp_path))


def test_existing_layout_refuses_a_regular_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'file'
    target.write_text('x')
    with pytest.raises(LayoutError, match='is neither an OCI image layout nor empty'):
        existing_layout(str(target))


def test_open_or_create_layout_refuses_a_directory_with_other_content_and_leaves_it_alone(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'notes.txt').write_text('hello')
    with pytest.raises(LayoutError, match='neither an OCI image layout nor empty'), open_or_create_layout(str(tmp_path)):
        pass
    assert _files(tmp_path) == {'notes.txt'}


def test_layout_without_marker_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'index.json').write_text('{"schemaVersion": 2, "manifests": []}')
    with pytest.raises(LayoutError, match=f'^{tmp_path} is not an OCI image layout: it has no oci-layout file'):
        OciLayout(str(tmp_path))


def test_layout_that_does_not_exist_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(LayoutError, match=f'^OCI layout {tmp_path}/missing does not exist or is not a directory'):
        OciLayout(str(tmp_path / 'missing'))


@pytest.mark.parametrize(
    ('marker', 'problem'),
    [('not json', 'is not valid JSON'), ('{}', 'has no imageLayoutVersion'), ('[1]', 'has no imageLayoutVersion')],
)
def test_bad_layout_marker_is_refused(tmp_path: pathlib.Path, marker: str, problem: str) -> None:
    (tmp_path / 'oci-layout').write_text(marker)
    (tmp_path / 'index.json').write_text('{"schemaVersion": 2, "manifests": []}')
    with pytest.raises(LayoutError, match=problem) as caught:
        OciLayout(str(tmp_path))
    assert str(tmp_path / 'oci-layout') in str(caught.value)


@pytest.mark.parametrize(
    ('index', 'problem'),
    [
        (b'{"schemaVersion": 2, "manifests": [', 'is not valid JSON'),
        (b'\xff\xfe', 'is not valid JSON'),
        (b'', 'is not valid JSON'),
        (b'[]', 'must be an object with a manifests list'),
        (b'{"manifests": {}}', 'must be an object with a manifests list'),
    ],
    ids=['truncated', 'not_utf8', 'empty', 'array', 'manifests_object'],
)
def test_bad_index_is_refused_naming_the_file(tmp_path: pathlib.Path, index: bytes, problem: str) -> None:
    (tmp_path / 'oci-layout').write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / 'index.json').write_bytes(index)
    with pytest.raises(LayoutError, match=problem) as caught:
        OciLayout(str(tmp_path))
    assert str(tmp_path / 'index.json') in str(caught.value)


def test_missing_index_is_refused_naming_the_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'oci-layout').write_text('{"imageLayoutVersion": "1.0.0"}')
    with pytest.raises(LayoutError, match=f'^Cannot read OCI layout index {tmp_path}/index.json'):
        OciLayout(str(tmp_path))


class _Boom(Exception):
    pass


def _store_then_fail(path: pathlib.Path, *, tag: bool = False) -> None:
    """Store a blob (and tag it) inside open_or_create_layout, then fail before it returns."""
    with open_or_create_layout(str(path)) as layout:
        layout.write_blob(sha256_digest(b'x'), b'x')
        if tag:
            layout.set_tag('v1', {'mediaType': mt.OCI_MANIFEST, 'digest': sha256_digest(b'x'), 'size': 1})
        raise _Boom


def test_failure_inside_open_or_create_layout_removes_a_new_directory(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'new' / 'layout'
    with pytest.raises(_Boom):
        _store_then_fail(path)
    assert not path.exists()


def test_failure_inside_open_or_create_layout_empties_a_previously_empty_directory(tmp_path: pathlib.Path) -> None:
    with pytest.raises(_Boom):
        _store_then_fail(tmp_path, tag=True)
    assert tmp_path.is_dir()
    assert _files(tmp_path) == set()


def test_failure_inside_open_or_create_layout_keeps_an_existing_layout(tmp_path: pathlib.Path) -> None:
    image = _image()
    _store(tmp_path, 'v1', image)
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path) if (tmp_path / name).is_file()}
    with pytest.raises(_Boom), open_or_create_layout(str(tmp_path)):
        raise _Boom
    after = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path) if (tmp_path / name).is_file()}
    assert after == before


def test_open_or_create_layout_creates_missing_parents(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'a' / 'b' / 'layout'
    with open_or_create_layout(str(path)) as layout:
        assert layout.tags() == []
    assert _files(path) == {'oci-layout', 'index.json', 'blobs', 'blobs/sha256'}


def test_layout_reference_is_the_skopeo_spelling() -> None:
    assert layout_reference('/srv/layout', '1.0') == 'oci:/srv/layout:1.0'


def test_layout_source_reads_the_tagged_manifest(tmp_path: pathlib.Path) -> None:
    image = _image()
    source = LayoutSource(_store(tmp_path, 'v1', image), 'v1')
    assert source.reference == f'oci:{tmp_path}:v1'
    assert source.root_descriptor()['digest'] == image.digest  # type: ignore[index]
    assert source.read_manifest(image.descriptor) == image.manifest
    assert LayoutSource(OciLayout(str(tmp_path)), 'other').root_descriptor() is None


def test_describe_tag_of_a_missing_tag_is_none(tmp_path: pathlib.Path) -> None:
    layout = _store(tmp_path, 'v1', _image())
    assert describe_tag(layout, 'v2') is None


@pytest.mark.parametrize('variant', ['oci', 'compat'])
def test_describe_tag_describes_a_stored_image(tmp_path: pathlib.Path, variant: str) -> None:
    image = _image(variant=variant)
    description = describe_tag(_store(tmp_path, 'v1', image), 'v1')
    assert description is not None
    assert description.digest == image.digest
    assert description.variant == variant
    assert description.runtime.root_ids == ('add_header',)
    assert description.reference == f'oci:{tmp_path}:v1'
