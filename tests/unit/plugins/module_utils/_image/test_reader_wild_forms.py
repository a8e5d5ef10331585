# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The reader against every form of Wasm image that tools in the wild write (see wasm_fixtures for where each comes from)."""

from __future__ import annotations

import io
import json
import pathlib
import re
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._image import platform as image_platform
from ansible_collections.wasm.oci.plugins.module_utils._image.description import ImageDescription
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import describe, resolve
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import canonical_json, sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import (
    LayoutBuilder,
    MemorySource,
    container_image,
    descriptor,
    higress_oci_image,
    oras_artifact,
    oras_untyped_file,
    platform_index,
    proxy_module,
    tar_bytes,
    wasm_to_oci_image,
)

MODULE = proxy_module(marker='wild')
RUNTIME_CONFIG = json.dumps({'type': 'envoy_proxy', 'abiVersions': ['proxy_abi_version_0_2_1'], 'config': {'root_ids': ['wild_root']}}).encode()


@pytest.fixture
def builder(tmp_path: pathlib.Path) -> LayoutBuilder:
    return LayoutBuilder(tmp_path / 'layout')


@pytest.fixture(autouse=True)
def amd64_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Index choices depend on the machine that pulls; these tests pull as an x86_64 Linux host."""
    monkeypatch.setattr(image_platform.stdlib_platform, 'machine', lambda: 'x86_64')


def _read(builder: LayoutBuilder, root: dict[str, t.Any], tag: str = 't') -> tuple[ImageDescription, bytes]:
    source = LayoutSource(builder.tag(tag, root), tag)
    resolved = resolve(source)
    assert resolved is not None
    target = io.BytesIO()
    pulled = describe(source, resolved, target=target)
    assert describe(source, resolved) == pulled, 'a description (info) and a pull must report the same image'
    return pulled, target.getvalue()


FORMS: dict[str, tuple[t.Callable[[LayoutBuilder], dict[str, t.Any]], str, str]] = {
    # form: (builder, variant, media type of the image manifest)
    'wasm-to-oci': (lambda b: wasm_to_oci_image(b, MODULE), 'oci', mt.OCI_MANIFEST),
    'oras-1x-oci-layer': (lambda b: oras_artifact(b, MODULE), 'oci', mt.OCI_MANIFEST),
    'oras-1x-wasm-layer': (lambda b: oras_artifact(b, MODULE, mt.WASM_ARTIFACT_LAYER), 'artifact', mt.OCI_MANIFEST),
    'higress-compat': (lambda b: container_image(b, [('plugin.wasm', MODULE)]), 'compat', mt.DOCKER_MANIFEST),
    'higress-oci': (lambda b: higress_oci_image(b, MODULE), 'compat', mt.OCI_MANIFEST),
    'crane-oci-manifest-docker-layer': (
        lambda b: container_image(b, [('plugin.wasm', MODULE)], manifest_type=mt.OCI_MANIFEST), 'compat', mt.OCI_MANIFEST),
    'crane-docker-manifest-oci-layer': (
        lambda b: container_image(b, [('plugin.wasm', MODULE)], layer_type=mt.OCI_LAYER_TAR_GZIP), 'compat', mt.DOCKER_MANIFEST),
    'docker-gzip-label-plain-tar': (
        lambda b: container_image(b, [('plugin.wasm', MODULE)], compress=False), 'compat', mt.DOCKER_MANIFEST),
    'oci-tar-label-gzip-content': (
        lambda b: container_image(b, [('./plugin.wasm', MODULE)], manifest_type=mt.OCI_MANIFEST, layer_type=mt.OCI_LAYER_TAR), 'compat',
        mt.OCI_MANIFEST),
}


@pytest.mark.parametrize('form', list(FORMS))
def test_every_wild_form_is_read(builder: LayoutBuilder, form: str) -> None:
    make, variant, media_type = FORMS[form]
    root = make(builder)
    description, module = _read(builder, root)
    assert module == MODULE
    assert (description.variant, description.media_type, description.digest) == (variant, media_type, root['digest'])
    assert (description.wasm_digest, description.wasm_size) == (sha256_digest(MODULE), len(MODULE))
    assert description.runtime.root_ids == ()


def test_wasm_to_oci_manifest_has_no_media_type_and_its_empty_config_is_no_runtime_config(builder: LayoutBuilder) -> None:
    description, _module = _read(builder, wasm_to_oci_image(builder, MODULE))
    assert description.runtime.runtime_type is None
    assert description.platform is None


def test_oras_artifact_takes_its_runtime_from_annotations(builder: LayoutBuilder) -> None:
    root = oras_artifact(builder, MODULE)
    description, _module = _read(builder, root)
    assert description.annotations == {'org.opencontainers.image.created': '2024-01-01T00:00:00Z'}
    assert description.runtime.runtime_type is None


@pytest.mark.parametrize('media_type', [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST], ids=['buildx', 'manifest-list'])
@pytest.mark.parametrize('attestations', [True, False], ids=['attested', 'plain'])
def test_multi_platform_index_resolves_to_this_machine(builder: LayoutBuilder, media_type: str, attestations: bool) -> None:
    index, images = platform_index(builder, MODULE, ['arm64', 'amd64'], attestations=attestations and media_type == mt.OCI_INDEX,
                                   media_type=media_type)
    description, module = _read(builder, index)
    assert module == MODULE
    assert (description.digest, description.index_digest) == (images['amd64']['digest'], index['digest'])
    assert description.platform == {'os': 'linux', 'architecture': 'amd64'}


def test_buildx_single_platform_index_is_read_on_any_machine(builder: LayoutBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_platform.stdlib_platform, 'machine', lambda: 'riscv64')
    index, images = platform_index(builder, MODULE, ['amd64'], attestations=True)
    description, module = _read(builder, index)
    assert (description.digest, module) == (images['amd64']['digest'], MODULE)


def test_child_manifest_of_an_index_is_read_directly(builder: LayoutBuilder) -> None:
    """Pinning the child's digest (not the index's) names a plain image manifest."""
    _index, images = platform_index(builder, MODULE, ['amd64', 'arm64'], attestations=True)
    description, module = _read(builder, images['arm64'], 'child')
    assert (description.digest, description.index_digest, module) == (images['arm64']['digest'], None, MODULE)


def test_index_of_only_attestations_offers_nothing(builder: LayoutBuilder) -> None:
    index, _images = platform_index(builder, MODULE, ['amd64'], attestations=True)
    attestation = [child for child in _index_children(builder, index) if child.get('annotations')]
    source = LayoutSource(builder.tag('att', builder.index(attestation)), 'att')
    with pytest.raises(ImageFormatError, match=r'it offers: none\. Set platform'):
        resolve(source)


def _index_children(builder: LayoutBuilder, index: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    blob = pathlib.Path(builder.path, 'blobs', 'sha256', index['digest'].split(':')[1])
    return json.loads(blob.read_bytes())['manifests']


def test_nested_index_is_refused_naming_the_nesting(builder: LayoutBuilder) -> None:
    inner, _images = platform_index(builder, MODULE, ['amd64'], attestations=True)
    outer = builder.index([dict(inner, platform={'os': 'linux', 'architecture': 'amd64'})])
    source = LayoutSource(builder.tag('nested', outer), 'nested')
    expected = (f'Index of {source.reference} chose {inner["digest"]} (platform linux/amd64), which is itself an index: nested '
                'indexes are not followed. Name the inner index by its digest instead, or flatten the image')
    with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
        resolve(source)


def test_nested_index_without_media_types_is_recognised(builder: LayoutBuilder) -> None:
    inner, _images = platform_index(builder, MODULE, ['amd64'], attestations=False)
    outer = builder.index([{'digest': inner['digest'], 'size': inner['size']}])
    with pytest.raises(ImageFormatError, match='which is itself an index: nested indexes are not followed'):
        resolve(LayoutSource(builder.tag('nested', outer), 'nested'))


def test_ordinary_multi_platform_container_image_is_not_a_wasm_image(builder: LayoutBuilder) -> None:
    images = [dict(container_image(builder, [('bin/sh', b'#!'), ('app', arch.encode())], architecture=arch),
                   platform={'os': 'linux', 'architecture': arch}) for arch in ('amd64', 'arm64')]
    source = LayoutSource(builder.tag('busybox', builder.index(images, mt.DOCKER_MANIFEST_LIST)), 'busybox')
    resolved = resolve(source)
    assert resolved is not None
    with pytest.raises(ImageFormatError, match=r'is not a Wasm image: it has tar layers, but none holds a plugin\.wasm'):
        describe(source, resolved)


def test_higress_image_with_two_different_modules_is_ambiguous(builder: LayoutBuilder) -> None:
    image = container_image(builder, [('plugin.wasm', MODULE), ('app/plugin.wasm', proxy_module(marker='other'))])
    with pytest.raises(ImageFormatError, match=r'is ambiguous: it holds two different plugin\.wasm files, plugin\.wasm in layer sha256:'):
        _read(builder, image)


# -- a module that ORAS pushed without a media type: labelled a plain tar layer, read as the module it is --

UNTYPED_FORMS = {
    'oras-1.1-cli': {},
    'oras-1.0-and-python-sdk': {'oras_1_0': True},
    'title-with-a-directory': {'title': 'build/filter.wasm'},
}


def _describe_both(source: MemorySource, max_size: int = 1024 * 1024) -> tuple[ImageDescription, ImageDescription, bytes]:
    """What info (no target) and a pull (a target) report; both read the source."""
    resolved = resolve(source)
    assert resolved is not None
    target = io.BytesIO()
    return describe(source, resolved, max_size), describe(source, resolved, max_size, target=target), target.getvalue()


@pytest.mark.parametrize('form', list(UNTYPED_FORMS))
def test_module_oras_pushed_untyped_is_read_as_the_oci_variant(form: str) -> None:
    root, blobs = oras_untyped_file(MODULE, **UNTYPED_FORMS[form])
    described, pulled, module = _describe_both(MemorySource(root, blobs))
    assert module == MODULE
    assert described == pulled
    assert (pulled.variant, pulled.digest, pulled.media_type) == ('oci', root['digest'], mt.OCI_MANIFEST)
    assert (pulled.wasm_digest, pulled.wasm_size) == (sha256_digest(MODULE), len(MODULE))
    assert pulled.runtime.root_ids == ()
    assert pulled.platform is None


def test_untyped_oras_module_is_read_once_to_its_end_for_info_and_for_pull() -> None:
    """The magic is peeked at on the stream that is then copied and verified: one open and one pass per describe."""
    root, blobs = oras_untyped_file(MODULE)
    source = MemorySource(root, blobs)
    _describe_both(source)
    layer_reads = [reader.size for digest, reader in source.readers if digest == sha256_digest(MODULE)]
    assert layer_reads == [len(MODULE), len(MODULE)]


@pytest.mark.parametrize('pull', [False, True], ids=['info', 'pull'])
def test_untyped_oras_module_is_verified_against_the_layer_digest(pull: bool) -> None:
    root, blobs = oras_untyped_file(MODULE)
    tampered = MODULE[:-1] + bytes([MODULE[-1] ^ 0xFF])
    blobs[sha256_digest(MODULE)] = tampered
    source = MemorySource(root, blobs)
    resolved = resolve(source)
    assert resolved is not None
    with pytest.raises(ImageFormatError, match=f'has digest {sha256_digest(tampered)}, not the {sha256_digest(MODULE)}'):
        describe(source, resolved, target=io.BytesIO() if pull else None)


def test_untyped_oras_module_longer_than_its_descriptor_is_refused() -> None:
    root, blobs = oras_untyped_file(MODULE)
    blobs[sha256_digest(MODULE)] = MODULE + b'\0' * 4096
    with pytest.raises(ImageFormatError, match=f'is larger than the {len(MODULE)} bytes its descriptor declares'):
        _describe_both(MemorySource(root, blobs))


def test_untyped_oras_module_larger_than_max_size_is_refused_before_reading() -> None:
    root, blobs = oras_untyped_file(MODULE)
    source = MemorySource(root, blobs)
    with pytest.raises(ImageFormatError, match=f'more than max_size \\({len(MODULE) - 1} bytes\\)'):
        _describe_both(source, max_size=len(MODULE) - 1)
    assert [digest for digest, _reader in source.readers if digest == sha256_digest(MODULE)] == []


README = descriptor('text/markdown', b'# filter\n', {mt.ANNOTATION_TITLE: 'README.md'})


@pytest.mark.parametrize('shape', [
    pytest.param({'title': 'plugin.bin'}, id='title-not-wasm'),
    pytest.param({'title': ''}, id='no-title'),
    pytest.param({'title': 'plugin.wasm.tar'}, id='title-of-a-tar'),
    pytest.param({'config': b'{"os":"linux"}'}, id='config-not-empty'),
    pytest.param({'oras_1_0': True, 'config': b'{"architecture":"amd64"}'}, id='oras-config-not-empty'),
    pytest.param({'layer_type': mt.OCI_LAYER_TAR_GZIP}, id='gzip-label'),
    pytest.param({'layer_type': mt.DOCKER_LAYER_TAR_GZIP}, id='docker-label'),
    pytest.param({'extra_layers': [README]}, id='second-layer'),
])
def test_a_module_labelled_tar_is_refused_unless_the_image_has_the_oras_untyped_shape(shape: dict[str, t.Any]) -> None:
    """Only the whole ORAS shape makes the label doubtful; anywhere else a tar label on a module is refused, saying how to fix it."""
    root, blobs = oras_untyped_file(MODULE, **shape)
    blobs[README['digest']] = b'# filter\n'
    expected = (f'Layer {sha256_digest(MODULE)} of registry.example.com/filters/oras:1 is labelled {shape.get("layer_type", mt.OCI_LAYER_TAR)}, '
                f'but holds a WebAssembly module, not a tar; push the module as a layer of type {mt.WASM_CONTENT_LAYER} '
                f'(with ORAS: plugin.wasm:{mt.WASM_CONTENT_LAYER})')
    with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
        _describe_both(MemorySource(root, blobs))


def test_a_config_of_another_type_keeps_the_tar_label() -> None:
    root, blobs = oras_untyped_file(MODULE)
    manifest = json.loads(blobs.pop(root['digest']))
    manifest['config'] = descriptor(mt.OCI_IMAGE_CONFIG, b'{}')
    changed = canonical_json(manifest)
    blobs[sha256_digest(changed)] = changed
    with pytest.raises(ImageFormatError, match='but holds a WebAssembly module, not a tar'):
        _describe_both(MemorySource(descriptor(mt.OCI_MANIFEST, changed), blobs))


@pytest.mark.parametrize('oras_1_0', [False, True], ids=['oras-1.1', 'oras-1.0'])
def test_a_real_tar_in_the_oras_untyped_shape_is_still_a_compat_image(oras_1_0: bool) -> None:
    """Someone pushing a tar named like a module: it starts with a tar header, never with the Wasm magic."""
    layer = tar_bytes([('runtime-config.json', RUNTIME_CONFIG), ('plugin.wasm', MODULE)])
    root, blobs = oras_untyped_file(layer, oras_1_0=oras_1_0)
    described, pulled, module = _describe_both(MemorySource(root, blobs))
    assert module == MODULE
    assert described == pulled
    assert (pulled.variant, pulled.wasm_digest, pulled.runtime.root_ids) == ('compat', sha256_digest(MODULE), ('wild_root',))


@pytest.mark.parametrize('content', [b'', b'\0as', b'\0asn' + MODULE[4:], b'not a module'], ids=['empty', 'short', 'almost-magic', 'text'])
def test_untyped_oras_file_that_is_neither_wasm_nor_tar_is_refused(content: bytes) -> None:
    root, blobs = oras_untyped_file(content)
    with pytest.raises(ImageFormatError, match='is not a readable tar layer'):
        _describe_both(MemorySource(root, blobs))


def test_untyped_oras_module_takes_its_runtime_from_manifest_annotations() -> None:
    root, blobs = oras_untyped_file(MODULE, oras_1_0=True)
    manifest = json.loads(blobs.pop(root['digest']))
    manifest['annotations'] = {mt.ANNOTATION_RUNTIME_TYPE: 'envoy_proxy', mt.ANNOTATION_ABI_VERSION: 'proxy_abi_version_0_2_1'}
    changed = canonical_json(manifest)
    blobs[sha256_digest(changed)] = changed
    described, _pulled, _module = _describe_both(MemorySource(descriptor(mt.OCI_MANIFEST, changed), blobs))
    assert (described.runtime.runtime_type, described.runtime.abi_versions) == ('envoy_proxy', ('proxy_abi_version_0_2_1',))
