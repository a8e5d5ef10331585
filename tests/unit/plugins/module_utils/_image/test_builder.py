# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import gzip
import io
import json
import tarfile
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._image.builder import COMPAT_PLATFORM, BuiltImage, BuiltImageSource, build_compat_variant, build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig, parse_runtime_config
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import canonical_json, sha256_digest
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import proxy_module

MODULE = proxy_module()
ABI = 'proxy_abi_version_0_2_1'
RUNTIME = RuntimeConfig('envoy_proxy', (ABI,), ('add_header',), {'vm': 'x'})


def _manifest(image: BuiltImage) -> dict[str, t.Any]:
    return json.loads(image.manifest)


def _blob(image: BuiltImage, descriptor: dict[str, t.Any]) -> bytes:
    data = image.blobs[descriptor['digest']]
    assert len(data) == descriptor['size']
    assert sha256_digest(data) == descriptor['digest']
    return data


def _tar_members(layer: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers()}  # type: ignore[union-attr]


def test_oci_variant_manifest_has_the_wasm_config_and_two_layers() -> None:
    image = build_image('oci', MODULE, RUNTIME, {})
    manifest = _manifest(image)
    assert image.media_type == mt.OCI_MANIFEST
    assert manifest['schemaVersion'] == 2
    assert manifest['mediaType'] == mt.OCI_MANIFEST
    assert manifest['config']['mediaType'] == 'application/vnd.module.wasm.config.v1+json'
    assert _blob(image, manifest['config']) == RUNTIME.to_json()
    config_layer, module_layer = manifest['layers']
    assert config_layer == dict(manifest['config'], annotations={mt.ANNOTATION_TITLE: 'runtime-config.json'})
    assert module_layer['mediaType'] == 'application/vnd.module.wasm.content.layer.v1+wasm'
    assert module_layer['annotations'] == {mt.ANNOTATION_TITLE: 'filter.wasm'}
    assert _blob(image, module_layer) == MODULE
    assert module_layer['digest'] == sha256_digest(MODULE)


def test_oci_variant_config_blob_parses_back_to_the_runtime_config() -> None:
    image = build_image('oci', MODULE, RUNTIME, {})
    assert parse_runtime_config(_blob(image, _manifest(image)['config']), 'test') == RUNTIME


def test_oci_variant_carries_runtime_and_user_annotations() -> None:
    image = build_image('oci', MODULE, RUNTIME, {'org.opencontainers.image.source': 'https://example.com/filter'})
    assert _manifest(image)['annotations'] == {
        mt.ANNOTATION_RUNTIME_TYPE: 'envoy_proxy',
        mt.ANNOTATION_ABI_VERSION: ABI,
        'org.opencontainers.image.source': 'https://example.com/filter',
    }


def test_abi_annotation_is_comma_joined_and_absent_without_abi_versions() -> None:
    several = RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_1_0', ABI), ('r',))
    assert _manifest(build_image('oci', MODULE, several, {}))['annotations'][mt.ANNOTATION_ABI_VERSION] == f'proxy_abi_version_0_1_0,{ABI}'
    none = RuntimeConfig('envoy_proxy', (), ('r',))
    assert mt.ANNOTATION_ABI_VERSION not in _manifest(build_image('oci', MODULE, none, {}))['annotations']


def test_oci_variant_stores_config_and_module_blobs_only() -> None:
    image = build_image('oci', MODULE, RUNTIME, {})
    assert set(image.blobs) == {sha256_digest(RUNTIME.to_json()), sha256_digest(MODULE)}
    assert image.layout_blobs == {**image.blobs, image.digest: image.manifest}


def test_built_image_descriptor_and_digest_describe_the_manifest() -> None:
    image = build_image('oci', MODULE, RUNTIME, {})
    assert image.digest == sha256_digest(image.manifest)
    assert image.descriptor == {'mediaType': mt.OCI_MANIFEST, 'digest': image.digest, 'size': len(image.manifest)}


@pytest.mark.parametrize('variant', ['oci', 'compat'])
def test_manifest_is_canonical_json(variant: str) -> None:
    image = build_image(variant, MODULE, RUNTIME, {'b': '2', 'a': '1'})
    assert image.manifest == canonical_json(json.loads(image.manifest))


def test_compat_oci_has_one_tar_gzip_layer_with_module_and_runtime_config() -> None:
    image = build_image('compat', MODULE, RUNTIME, {})
    manifest = _manifest(image)
    assert image.media_type == mt.OCI_MANIFEST
    assert manifest['mediaType'] == mt.OCI_MANIFEST
    assert manifest['config']['mediaType'] == mt.OCI_IMAGE_CONFIG
    (layer,) = manifest['layers']
    assert layer['mediaType'] == mt.OCI_LAYER_TAR_GZIP
    assert _tar_members(_blob(image, layer)) == {'plugin.wasm': MODULE, 'runtime-config.json': RUNTIME.to_json()}


def test_compat_oci_has_the_variant_annotation_besides_runtime_and_user_ones() -> None:
    image = build_image('compat', MODULE, RUNTIME, {'org.example/x': 'y'})
    assert _manifest(image)['annotations'] == {
        mt.ANNOTATION_VARIANT: 'compat',
        mt.ANNOTATION_RUNTIME_TYPE: 'envoy_proxy',
        mt.ANNOTATION_ABI_VERSION: ABI,
        'org.example/x': 'y',
    }


def test_compat_variant_annotation_cannot_be_overridden_by_the_user() -> None:
    image = build_image('compat', MODULE, RUNTIME, {mt.ANNOTATION_VARIANT: 'something-else'})
    assert _manifest(image)['annotations'][mt.ANNOTATION_VARIANT] == 'compat'


@pytest.mark.parametrize('compat_media_type', ['oci', 'docker'])
def test_compat_config_is_a_wasi_wasm_image_config_with_the_diff_id_of_the_uncompressed_layer(compat_media_type: str) -> None:
    image = build_image('compat', MODULE, RUNTIME, {}, compat_media_type)
    manifest = _manifest(image)
    config = json.loads(_blob(image, manifest['config']))
    layer = _blob(image, manifest['layers'][0])
    assert config == {
        'architecture': 'wasm',
        'os': 'wasi',
        'config': {},
        'rootfs': {'type': 'layers', 'diff_ids': [sha256_digest(gzip.decompress(layer))]},
    }
    assert {key: config[key] for key in COMPAT_PLATFORM} == COMPAT_PLATFORM


def test_compat_docker_uses_docker_v2_media_types_and_no_annotations() -> None:
    image = build_image('compat', MODULE, RUNTIME, {}, 'docker')
    manifest = _manifest(image)
    assert image.media_type == mt.DOCKER_MANIFEST
    assert manifest['mediaType'] == 'application/vnd.docker.distribution.manifest.v2+json'
    assert manifest['config']['mediaType'] == 'application/vnd.docker.container.image.v1+json'
    assert [layer['mediaType'] for layer in manifest['layers']] == ['application/vnd.docker.image.rootfs.diff.tar.gzip']
    assert 'annotations' not in manifest
    assert all('annotations' not in descriptor for descriptor in [manifest['config'], *manifest['layers']])
    assert _tar_members(_blob(image, manifest['layers'][0]))['plugin.wasm'] == MODULE


def test_compat_docker_refuses_annotations() -> None:
    with pytest.raises(ImageFormatError, match=r'^Docker v2 manifests cannot carry annotations; drop annotations or use compat_media_type: oci'):
        build_image('compat', MODULE, RUNTIME, {'org.example/x': 'y'}, 'docker')


@pytest.mark.parametrize('compat_media_type', ['v2s2', 'OCI', ''])
def test_unknown_compat_media_type_is_named(compat_media_type: str) -> None:
    with pytest.raises(ImageFormatError, match=f"^compat_media_type must be one of oci, docker, not {compat_media_type!r}"):
        build_compat_variant(MODULE, RUNTIME, {}, compat_media_type)


@pytest.mark.parametrize('variant', ['artifact', 'OCI', '', 'docker'])
def test_unknown_variant_is_named(variant: str) -> None:
    with pytest.raises(ImageFormatError, match=f'^variant must be one of oci, compat, not {variant!r}'):
        build_image(variant, MODULE, RUNTIME, {})


@pytest.mark.parametrize(('variant', 'compat_media_type'), [('oci', 'oci'), ('compat', 'oci'), ('compat', 'docker')])
def test_same_inputs_give_the_same_digest(variant: str, compat_media_type: str) -> None:
    first = build_image(variant, MODULE, RUNTIME, {}, compat_media_type)
    second = build_image(variant, bytes(MODULE), RuntimeConfig('envoy_proxy', (ABI,), ('add_header',), {'vm': 'x'}), {}, compat_media_type)
    assert first.digest == second.digest
    assert first.blobs == second.blobs


@pytest.mark.parametrize(('variant', 'compat_media_type'), [('oci', 'oci'), ('compat', 'oci'), ('compat', 'docker')])
def test_different_root_ids_give_a_different_digest(variant: str, compat_media_type: str) -> None:
    first = build_image(variant, MODULE, RUNTIME, {}, compat_media_type)
    other = RuntimeConfig('envoy_proxy', (ABI,), ('other_root',), {'vm': 'x'})
    assert build_image(variant, MODULE, other, {}, compat_media_type).digest != first.digest


@pytest.mark.parametrize('variant', ['oci', 'compat'])
def test_different_module_or_annotations_give_a_different_digest(variant: str) -> None:
    first = build_image(variant, MODULE, RUNTIME, {})
    assert build_image(variant, proxy_module(marker='x'), RUNTIME, {}).digest != first.digest
    assert build_image(variant, MODULE, RUNTIME, {'org.example/x': 'y'}).digest != first.digest


def test_annotation_order_does_not_change_the_digest() -> None:
    first = build_image('oci', MODULE, RUNTIME, {'a': '1', 'b': '2'})
    second = build_image('oci', MODULE, RUNTIME, {'b': '2', 'a': '1'})
    assert first.digest == second.digest


def test_variants_give_different_digests() -> None:
    digests = {
        build_image('oci', MODULE, RUNTIME, {}).digest,
        build_image('compat', MODULE, RUNTIME, {}).digest,
        build_image('compat', MODULE, RUNTIME, {}, 'docker').digest,
    }
    assert len(digests) == 3


def test_built_image_source_serves_the_manifest_and_verified_blobs() -> None:
    image = build_image('oci', MODULE, RUNTIME, {})
    source = BuiltImageSource(image, 'registry.example.com/filter:1')
    assert source.root_descriptor() == image.descriptor
    assert source.read_manifest(image.descriptor) == image.manifest
    module_layer = _manifest(image)['layers'][1]
    with source.open_blob(module_layer, 'Module') as reader:
        assert reader.read() == MODULE
        reader.verify()
