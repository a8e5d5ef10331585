# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import pathlib
import random
import re
import threading
import time
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, RegistryError, RuntimeConfigError
from ansible_collections.wasm.oci.plugins.module_utils._image import platform as image_platform
from ansible_collections.wasm.oci.plugins.module_utils._image.builder import BuiltImage, BuiltImageSource, build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.description import ImageDescription
from ansible_collections.wasm.oci.plugins.module_utils._image.platform import choose_platform_child
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import ModuleContent, ResolvedImage, classify, describe, describe_tag, resolve
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, canonical_json, sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import METADATA_LIMIT, parse_json_document, read_small_blob
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout, store_image
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import LayoutBuilder, TarEntry, gzip_bytes, proxy_module, tar_bytes, uleb128

MODULE = proxy_module()
ABI = 'proxy_abi_version_0_2_1'
RUNTIME = RuntimeConfig('envoy_proxy', (ABI,), ('add_header',), {'vm': 'x'})
REFERENCE = 'registry.example.com/filters/add-header:1.0'
WASI = {'os': 'wasi', 'architecture': 'wasm'}
LINUX = {'os': 'linux', 'architecture': 'amd64'}


@pytest.fixture
def builder(tmp_path: pathlib.Path) -> LayoutBuilder:
    return LayoutBuilder(tmp_path / 'layout')


def _built_source(variant: str, module: bytes = MODULE, compat_media_type: str = 'oci') -> tuple[BuiltImage, BuiltImageSource]:
    image = build_image(variant, module, RUNTIME, {}, compat_media_type)
    return image, BuiltImageSource(image, REFERENCE)


def _resolve(source: t.Any, platform: str | None = None) -> ResolvedImage:
    resolved = resolve(source, platform)
    assert resolved is not None
    return resolved


def _copy(source: t.Any, platform: str | None = None, max_size: int = 1024 * 1024) -> tuple[bytes, ModuleContent]:
    target = io.BytesIO()
    image = describe(source, _resolve(source, platform), max_size, target=target)
    return target.getvalue(), ModuleContent(digest=t.cast(str, image.wasm_digest), size=t.cast(int, image.wasm_size))


def _layout_source(builder: LayoutBuilder, tag: str, target: dict[str, t.Any]) -> LayoutSource:
    return LayoutSource(builder.tag(tag, target), tag)


def _oci_image(builder: LayoutBuilder, module: bytes = MODULE, runtime: bytes | None = None, layers: int = 2) -> dict[str, t.Any]:
    runtime_json = RUNTIME.to_json() if runtime is None else runtime
    config = builder.add(mt.WASM_CONFIG, runtime_json)
    module_layer = builder.add(mt.WASM_CONTENT_LAYER, module, {mt.ANNOTATION_TITLE: 'filter.wasm'})
    layer_list = [dict(config, annotations={mt.ANNOTATION_TITLE: 'runtime-config.json'}), module_layer] if layers == 2 else [module_layer]
    return builder.manifest(config, layer_list)


def _compat_image(
    builder: LayoutBuilder,
    layers: t.Sequence[bytes],
    layer_type: str = mt.OCI_LAYER_TAR_GZIP,
    media_type: str = mt.OCI_MANIFEST,
    annotations: dict[str, str] | None = None,
    config_type: str | None = None,
) -> dict[str, t.Any]:
    config_json = canonical_json({'architecture': 'wasm', 'os': 'wasi', 'rootfs': {'type': 'layers', 'diff_ids': []}})
    default_config_type = mt.DOCKER_IMAGE_CONFIG if media_type == mt.DOCKER_MANIFEST else mt.OCI_IMAGE_CONFIG
    config = builder.add(config_type or default_config_type, config_json)
    return builder.manifest(config, [builder.add(layer_type, layer) for layer in layers], media_type, annotations)


def _check_description(
    description: ImageDescription, variant: str, module: bytes = MODULE, root_ids: tuple[str, ...] = ('add_header',),
) -> None:
    assert description.variant == variant
    assert description.wasm_digest == 'sha256:' + hashlib.sha256(module).hexdigest()
    assert description.wasm_size == len(module)
    assert description.runtime.root_ids == root_ids
    assert description.as_dict()['runtime']['root_ids'] == list(root_ids)


def test_describe_built_oci_variant() -> None:
    image, source = _built_source('oci')
    resolved = _resolve(source)
    description = describe(source, resolved)
    _check_description(description, 'oci')
    assert description.reference == REFERENCE
    assert description.digest == image.digest
    assert description.media_type == mt.OCI_MANIFEST
    assert description.runtime == RUNTIME
    assert description.platform is None
    assert description.index_digest is None
    assert description.annotations == {mt.ANNOTATION_RUNTIME_TYPE: 'envoy_proxy', mt.ANNOTATION_ABI_VERSION: ABI}


@pytest.mark.parametrize(('compat_media_type', 'media_type'), [('oci', mt.OCI_MANIFEST), ('docker', mt.DOCKER_MANIFEST)])
def test_describe_built_compat_variant(compat_media_type: str, media_type: str) -> None:
    image, source = _built_source('compat', compat_media_type=compat_media_type)
    description = describe(source, _resolve(source))
    _check_description(description, 'compat')
    assert description.digest == image.digest
    assert description.media_type == media_type
    assert description.runtime == RUNTIME
    assert description.platform == WASI


@pytest.mark.parametrize(('variant', 'compat_media_type'), [('oci', 'oci'), ('compat', 'oci'), ('compat', 'docker')])
def test_copy_module_writes_the_exact_bytes(variant: str, compat_media_type: str) -> None:
    _image, source = _built_source(variant, compat_media_type=compat_media_type)
    data, content = _copy(source)
    assert data == MODULE
    assert content == ModuleContent(digest=sha256_digest(MODULE), size=len(MODULE))


@pytest.mark.parametrize(('variant', 'module_hashes'), [('oci', 1), ('compat', 2)])
def test_a_module_that_is_a_whole_blob_is_hashed_once(monkeypatch: pytest.MonkeyPatch, variant: str, module_hashes: int) -> None:
    # An oci module is its whole blob: the blob's digest, checked as it streams, is the module's, and a second hash
    # would cost a quarter of a large pull. A compat module is a member of a tar layer: the layer and the module are hashed.
    padding = random.Random(7).randbytes(100_000)  # incompressible, so the gzipped layer is as large as the module
    module = MODULE + b'\x00' + uleb128(len(padding) + 4) + b'\x03pad' + padding
    hashed: list[int] = []
    real_sha256 = hashlib.sha256

    class CountingHash:
        def __init__(self, data: bytes = b'') -> None:
            self._hash = real_sha256(data)

        def update(self, data: bytes) -> None:
            hashed.append(len(data))
            self._hash.update(data)

        def hexdigest(self) -> str:
            return self._hash.hexdigest()

    _image, source = _built_source(variant, module)
    monkeypatch.setattr(hashlib, 'sha256', CountingHash)
    data, content = _copy(source)
    assert (data, content.digest) == (module, sha256_digest(module))
    # Besides the module's passes: small documents, and for compat the tar and gzip framing.
    assert module_hashes * len(module) <= sum(hashed) < module_hashes * len(module) + 8192


class _WatchedSource(BuiltImageSource):
    """A built image whose config is fetched in ``config_fetched`` (by the thread it names), and whose module (or compat
    layer) waits, at its first read, up to ``wait`` seconds for the config to have been fetched."""

    def __init__(self, image: BuiltImage, wait: float = 5.0, config_error: Exception | None = None, body_error: Exception | None = None,
                 config_delay: float = 0.0) -> None:
        super().__init__(image, REFERENCE)
        self.wait = wait
        self.config_delay = config_delay
        self.config_error = config_error
        self.body_error = body_error
        self.config_fetched = threading.Event()
        self.config_thread: threading.Thread | None = None
        self.config_seen_while_downloading = False

    def _config_digest(self) -> str:
        return t.cast(str, json.loads(self.image.manifest)['config']['digest'])

    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.Any:
        if descriptor['digest'] == self._config_digest():
            self.config_thread = threading.current_thread()
            time.sleep(self.config_delay)
            try:
                if self.config_error:
                    raise self.config_error
                return super().open_blob(descriptor, what)
            finally:
                self.config_fetched.set()
        return self._download(super().open_blob(descriptor, what))

    @contextlib.contextmanager
    def _download(self, opened: t.ContextManager[DigestingReader]) -> t.Iterator[DigestingReader]:
        with opened as reader:
            source = self
            real_read = reader.read

            def first_read(size: int = -1) -> bytes:
                if not source.config_seen_while_downloading:
                    source.config_seen_while_downloading = source.config_fetched.wait(source.wait)
                if source.body_error:
                    raise source.body_error
                reader.read = real_read  # type: ignore[method-assign]
                return real_read(size)

            reader.read = first_read  # type: ignore[method-assign]
            yield reader


@pytest.mark.parametrize('variant', ['oci', 'compat'])
def test_a_pull_fetches_the_config_in_another_thread_while_the_module_downloads(variant: str) -> None:
    image, _source = _built_source(variant)
    source = _WatchedSource(image)
    target = io.BytesIO()
    description = describe(source, _resolve(source), target=target)
    assert source.config_seen_while_downloading
    assert source.config_thread is not threading.current_thread()
    assert target.getvalue() == MODULE
    _check_description(description, variant)


def test_describing_without_a_download_fetches_the_config_itself() -> None:
    image, _source = _built_source('oci')
    source = _WatchedSource(image)
    _check_description(describe(source, _resolve(source)), 'oci')
    assert source.config_thread is threading.current_thread()


@pytest.mark.parametrize('variant', ['oci', 'compat'])
def test_a_config_that_fails_beside_the_download_fails_the_pull(variant: str) -> None:
    image, _source = _built_source(variant)
    source = _WatchedSource(image, config_error=RegistryError('Config of x failed: HTTP 500'))
    with pytest.raises(RegistryError, match=r'^Config of x failed: HTTP 500$'):
        describe(source, _resolve(source), target=io.BytesIO())


@pytest.mark.parametrize('variant', ['oci', 'compat'])
def test_a_failed_download_returns_only_when_the_config_fetch_is_over(variant: str) -> None:
    image, _source = _built_source(variant)
    # The download fails at once, while the config is still being fetched.
    source = _WatchedSource(image, wait=0, body_error=RegistryError('the connection broke'), config_delay=0.3)
    with pytest.raises(RegistryError, match=r'^the connection broke$'):
        describe(source, _resolve(source), target=io.BytesIO())
    assert source.config_thread is not None
    assert not source.config_thread.is_alive()


@pytest.mark.parametrize('variant', ['oci', 'compat'])
def test_stored_image_reads_back_the_same_as_the_built_one(tmp_path: pathlib.Path, variant: str) -> None:
    image, built_source = _built_source(variant)
    store_image(str(tmp_path), 'v1', image.descriptor, image.layout_blobs)
    layout_source = LayoutSource(OciLayout(str(tmp_path)), 'v1')
    from_layout = describe(layout_source, _resolve(layout_source))
    from_memory = describe(built_source, _resolve(built_source))
    assert dict(from_layout.as_dict(), reference=None) == dict(from_memory.as_dict(), reference=None)
    assert _copy(layout_source)[0] == MODULE


def test_oci_module_larger_than_max_size_is_refused_before_reading() -> None:
    _image, source = _built_source('oci')
    with pytest.raises(ImageFormatError, match=rf'^Module layer sha256:\w+ of {REFERENCE} is {len(MODULE)} bytes, more than max_size \(100 bytes\)'):
        _copy(source, max_size=100)


def test_module_of_exactly_max_size_is_accepted() -> None:
    _image, source = _built_source('oci')
    assert _copy(source, max_size=len(MODULE))[0] == MODULE


def test_layer_without_declared_size_is_refused(builder: LayoutBuilder) -> None:
    big = b'\0asm\x01\x00\x00\x00' + b'\0' * 5000
    layer = builder.add(mt.WASM_ARTIFACT_LAYER, big)
    del layer['size']
    config = builder.add(mt.WASM_ARTIFACT_CONFIG, b'{"architecture":"wasm","os":"wasip1"}')
    with pytest.raises(ImageFormatError, match=r'has no valid size: None'):
        resolve(_layout_source(builder, 'v1', builder.manifest(config, [layer])))


def test_compat_module_larger_than_max_size_is_refused() -> None:
    _image, source = _built_source('compat', module=MODULE + b'\0' * 30000)
    with pytest.raises(ImageFormatError, match=r'max_size \(20000'):
        describe(source, _resolve(source), max_size=20000)


def test_index_resolves_to_the_wasi_wasm_child(builder: LayoutBuilder) -> None:
    linux = _oci_image(builder, proxy_module(marker='linux'))
    wasi = _oci_image(builder, MODULE)
    index = builder.index([dict(linux, platform=LINUX), dict(wasi, platform=WASI)])
    source = _layout_source(builder, 'multi', index)
    resolved = _resolve(source)
    assert resolved.digest == wasi['digest']
    assert resolved.index_digest == index['digest']
    description = describe(source, resolved)
    _check_description(description, 'oci')
    assert description.index_digest == index['digest']
    assert description.digest == wasi['digest']
    assert description.platform == WASI
    assert _copy(source)[0] == MODULE


@pytest.mark.parametrize('wasm_os', ['wasip1', 'wasip2'])
def test_index_resolves_to_a_wasip_child(builder: LayoutBuilder, wasm_os: str) -> None:
    linux = _oci_image(builder, proxy_module(marker='linux'))
    wasi = _oci_image(builder, MODULE)
    source = _layout_source(builder, 'multi', builder.index([dict(linux, platform=LINUX), dict(wasi, platform={'os': wasm_os, 'architecture': 'wasm'})]))
    assert _resolve(source).digest == wasi['digest']


def test_index_with_a_single_child_resolves_to_it(builder: LayoutBuilder) -> None:
    child = _oci_image(builder)
    source = _layout_source(builder, 'single', builder.index([dict(child, platform=LINUX)]))
    resolved = _resolve(source)
    assert resolved.digest == child['digest']
    assert resolved.index_platform == LINUX


def test_single_child_without_platform_resolves_and_has_no_platform(builder: LayoutBuilder) -> None:
    child = _oci_image(builder)
    source = _layout_source(builder, 'single', builder.index([child]))
    description = describe(source, _resolve(source))
    assert description.digest == child['digest']
    assert description.platform is None


def test_docker_manifest_list_is_an_index(builder: LayoutBuilder) -> None:
    child = _compat_image(builder, [gzip_bytes(tar_bytes([('plugin.wasm', MODULE)]))], mt.DOCKER_LAYER_TAR_GZIP, mt.DOCKER_MANIFEST)
    child['mediaType'] = mt.DOCKER_MANIFEST
    source = _layout_source(builder, 'list', builder.index([dict(child, platform=WASI)], mt.DOCKER_MANIFEST_LIST))
    resolved = _resolve(source)
    assert resolved.media_type == mt.DOCKER_MANIFEST
    assert describe(source, resolved).variant == 'compat'


def test_index_without_media_type_is_recognised_by_its_manifests(builder: LayoutBuilder) -> None:
    child = _oci_image(builder)
    index = builder.add(mt.OCI_INDEX, canonical_json({'schemaVersion': 2, 'manifests': [dict(child, platform=WASI)]}))
    del index['mediaType']
    source = _layout_source(builder, 'bare', index)
    assert _resolve(source).digest == child['digest']


def test_explicit_platform_picks_its_child(builder: LayoutBuilder) -> None:
    linux_module = proxy_module(marker='linux')
    linux = _oci_image(builder, linux_module)
    wasi = _oci_image(builder, MODULE)
    source = _layout_source(builder, 'multi', builder.index([dict(wasi, platform=WASI), dict(linux, platform=LINUX)]))
    resolved = _resolve(source, 'linux/amd64')
    assert resolved.digest == linux['digest']
    assert resolved.index_platform == LINUX
    assert _copy(source, 'linux/amd64')[0] == linux_module


def test_explicit_platform_matches_a_child_with_a_variant(builder: LayoutBuilder) -> None:
    child = _oci_image(builder)
    arm = dict(child, platform={'os': 'linux', 'architecture': 'arm', 'variant': 'v7'})
    source = _layout_source(builder, 'arm', builder.index([dict(_oci_image(builder, proxy_module(marker='x')), platform=WASI), arm]))
    assert _resolve(source, 'linux/arm').digest == child['digest']
    assert _resolve(source, 'linux/arm/v7').digest == child['digest']


def test_explicit_platform_does_not_match_a_longer_architecture_name(builder: LayoutBuilder) -> None:
    arm64 = _oci_image(builder, proxy_module(marker='arm64'))
    arm = _oci_image(builder, proxy_module(marker='arm'))
    source = _layout_source(builder, 'arm', builder.index([
        dict(arm64, platform={'os': 'linux', 'architecture': 'arm64'}),
        dict(arm, platform={'os': 'linux', 'architecture': 'arm', 'variant': 'v7'}),
    ]))
    assert _resolve(source, 'linux/arm').digest == arm['digest']


def test_explicit_platform_without_match_lists_the_platforms(builder: LayoutBuilder) -> None:
    child = _oci_image(builder)
    source = _layout_source(builder, 'multi', builder.index([
        dict(child, platform=LINUX), dict(child, platform=WASI), dict(child, platform={'os': 'linux', 'architecture': 'arm64', 'variant': 'v8'}),
    ]))
    with pytest.raises(ImageFormatError) as caught:
        resolve(source, 'windows/amd64')
    message = str(caught.value)
    assert message.startswith(f'Index of {source.reference} has no image for platform windows/amd64')
    assert 'it offers: linux/amd64, wasi/wasm, linux/arm64/v8. Set platform to one of them' in message


def test_index_of_several_images_none_for_this_machine_needs_a_platform(builder: LayoutBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_platform.stdlib_platform, 'machine', lambda: 's390x')
    child = _oci_image(builder)
    source = _layout_source(builder, 'multi', builder.index([dict(child, platform=LINUX), dict(child, platform={'os': 'linux', 'architecture': 'arm64'})]))
    expected = (f'Index of {source.reference} has no wasi/wasm image, none for the platform of this machine (linux/s390x), and more than '
                'one image; it offers: linux/amd64, linux/arm64. Set platform to one of them')
    with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
        resolve(source)


@pytest.mark.parametrize(('machine', 'chosen'), [('x86_64', 'amd64'), ('aarch64', 'arm64')])
def test_index_without_a_wasm_image_resolves_to_the_platform_of_this_machine(
    builder: LayoutBuilder, monkeypatch: pytest.MonkeyPatch, machine: str, chosen: str,
) -> None:
    monkeypatch.setattr(image_platform.stdlib_platform, 'machine', lambda: machine)
    modules = {arch: proxy_module(marker=arch) for arch in ('amd64', 'arm64')}
    children = {arch: _oci_image(builder, module) for arch, module in modules.items()}
    source = _layout_source(builder, 'multi', builder.index([
        dict(child, platform={'os': 'linux', 'architecture': arch}) for arch, child in children.items()
    ]))
    assert _resolve(source).digest == children[chosen]['digest']
    assert _copy(source)[0] == modules[chosen]


def test_empty_index_offers_nothing(builder: LayoutBuilder) -> None:
    source = _layout_source(builder, 'empty', builder.index([]))
    with pytest.raises(ImageFormatError, match='it offers: none'):
        resolve(source)


def test_attestation_manifests_are_not_candidates() -> None:
    image_child = {'mediaType': mt.OCI_MANIFEST, 'digest': sha256_digest(b'image'), 'size': 5}
    attestation = {
        'mediaType': mt.OCI_MANIFEST, 'digest': sha256_digest(b'att'), 'size': 3,
        'platform': {'os': 'unknown', 'architecture': 'unknown'},
        'annotations': {'vnd.docker.reference.type': 'attestation-manifest'},
    }
    index = {'manifests': [image_child, attestation]}
    assert choose_platform_child(index, None, 'Index') is image_child
    with pytest.raises(ImageFormatError, match=r'^Index has no image for platform unknown/unknown; it offers: unknown\. Set platform'):
        choose_platform_child(index, 'unknown/unknown', 'Index')


def test_index_entry_with_a_bad_digest_is_refused() -> None:
    with pytest.raises(ImageFormatError, match=r"^An entry of Index of x has digest 'sha256:short'"):
        choose_platform_child({'manifests': [{'digest': 'sha256:short'}]}, None, 'Index of x')


def test_hand_made_one_layer_oci_variant_is_read(builder: LayoutBuilder) -> None:
    runtime = b'{"type":"envoy_proxy","abiVersions":["proxy_abi_version_0_2_1"],"config":{"rootIds":["camel_root"]}}'
    source = _layout_source(builder, 'one', _oci_image(builder, runtime=runtime, layers=1))
    description = describe(source, _resolve(source))
    _check_description(description, 'oci', root_ids=('camel_root',))
    assert description.runtime.abi_versions == (ABI,)
    assert _copy(source)[0] == MODULE


def test_oci_variant_recognised_by_its_content_layer_alone(builder: LayoutBuilder) -> None:
    config = builder.add('application/vnd.oci.empty.v1+json', b'{}')
    source = _layout_source(builder, 'x', builder.manifest(config, [builder.add(mt.WASM_CONTENT_LAYER, MODULE)]))
    assert _resolve(source).variant == 'oci'
    assert _copy(source)[0] == MODULE


def test_oci_variant_with_two_module_layers_is_refused(builder: LayoutBuilder) -> None:
    config = builder.add(mt.WASM_CONFIG, RUNTIME.to_json())
    layers = [builder.add(mt.WASM_CONTENT_LAYER, MODULE), builder.add(mt.WASM_CONTENT_LAYER, proxy_module(marker='2'))]
    source = _layout_source(builder, 'two', builder.manifest(config, layers))
    expected = f'Image {source.reference} must have exactly one {mt.WASM_CONTENT_LAYER} or {mt.WASM_TO_OCI_LAYER} layer, it has 2'
    with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
        describe(source, _resolve(source))


def test_oci_variant_with_malformed_runtime_config_names_the_image(builder: LayoutBuilder) -> None:
    source = _layout_source(builder, 'bad', _oci_image(builder, runtime=b'{"config": []}'))
    with pytest.raises(RuntimeConfigError, match=f'^Runtime config in the config of {source.reference}: config must be a JSON object'):
        describe(source, _resolve(source))


def test_cncf_wasm_artifact_is_read(builder: LayoutBuilder) -> None:
    config_doc = {
        'created': '2024-05-01T00:00:00Z', 'author': 'wasm-pkg-tools', 'architecture': 'wasm', 'os': 'wasip1',
        'layerDigests': [sha256_digest(MODULE)],
    }
    config = builder.add(mt.WASM_ARTIFACT_CONFIG, canonical_json(config_doc))
    source = _layout_source(builder, 'artifact', builder.manifest(config, [builder.add(mt.WASM_ARTIFACT_LAYER, MODULE)]))
    description = describe(source, _resolve(source))
    _check_description(description, 'artifact', root_ids=())
    assert description.platform == {'os': 'wasip1', 'architecture': 'wasm'}
    assert description.runtime == RuntimeConfig(runtime_type=None)
    assert _copy(source)[0] == MODULE


def test_artifact_recognised_by_its_layer_type_alone(builder: LayoutBuilder) -> None:
    config = builder.add('application/vnd.oci.empty.v1+json', b'{}')
    source = _layout_source(builder, 'x', builder.manifest(config, [builder.add(mt.WASM_ARTIFACT_LAYER, MODULE)]))
    description = describe(source, _resolve(source))
    assert description.variant == 'artifact'
    assert description.platform is None


def test_compat_without_runtime_config_takes_the_runtime_from_annotations(builder: LayoutBuilder) -> None:
    annotations = {mt.ANNOTATION_RUNTIME_TYPE: 'envoy_proxy', mt.ANNOTATION_ABI_VERSION: 'proxy_abi_version_0_1_0, proxy_abi_version_0_2_1'}
    manifest = _compat_image(builder, [gzip_bytes(tar_bytes([('plugin.wasm', MODULE)]))], annotations=annotations)
    source = _layout_source(builder, 'c', manifest)
    description = describe(source, _resolve(source))
    _check_description(description, 'compat', root_ids=())
    assert description.runtime == RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_1_0', ABI))
    assert description.annotations == annotations


def test_docker_build_style_compat_image_without_annotations_or_runtime_config(builder: LayoutBuilder) -> None:
    manifest = _compat_image(builder, [gzip_bytes(tar_bytes([('plugin.wasm', MODULE)]))], mt.DOCKER_LAYER_TAR_GZIP, mt.DOCKER_MANIFEST)
    source = _layout_source(builder, 'docker', manifest)
    description = describe(source, _resolve(source))
    _check_description(description, 'compat', root_ids=())
    assert description.runtime == RuntimeConfig(runtime_type=None)
    assert description.media_type == mt.DOCKER_MANIFEST
    assert description.annotations == {}


@pytest.mark.parametrize('path', ['./plugin.wasm', 'plugin.wasm', 'wasm/plugin.wasm'])
def test_buildah_style_uncompressed_compat_layer_is_read(builder: LayoutBuilder, path: str) -> None:
    layer = tar_bytes([TarEntry('./', kind=b'5'), (path, MODULE), ('runtime-config.json', RUNTIME.to_json())])
    source = _layout_source(builder, 'buildah', _compat_image(builder, [layer], mt.OCI_LAYER_TAR))
    description = describe(source, _resolve(source))
    _check_description(description, 'compat')
    assert _copy(source)[0] == MODULE


def test_zstd_compat_layer_is_read_when_zstd_is_available(builder: LayoutBuilder) -> None:
    zstandard = pytest.importorskip('zstandard')
    layer = zstandard.ZstdCompressor().compress(tar_bytes([('plugin.wasm', MODULE)]))
    source = _layout_source(builder, 'zstd', _compat_image(builder, [layer], mt.OCI_LAYER_TAR_ZSTD))
    assert _copy(source)[0] == MODULE


def test_compat_module_is_taken_from_an_earlier_layer_when_the_last_has_none(builder: LayoutBuilder) -> None:
    first = gzip_bytes(tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME.to_json())]))
    last = gzip_bytes(tar_bytes([('README.md', b'docs'), ('etc/config', b'x')]))
    source = _layout_source(builder, 'layers', _compat_image(builder, [first, last]))
    description = describe(source, _resolve(source))
    _check_description(description, 'compat')
    assert description.runtime == RUNTIME
    assert _copy(source)[0] == MODULE


def test_two_layers_with_different_modules_are_refused_naming_both(builder: LayoutBuilder) -> None:
    first = gzip_bytes(tar_bytes([('plugin.wasm', MODULE)]))
    last = gzip_bytes(tar_bytes([('./plugin.wasm', proxy_module(marker='newer'))]))
    source = _layout_source(builder, 'layers', _compat_image(builder, [first, last]))
    expected = (f'{source.reference} is ambiguous: it holds two different plugin.wasm files, plugin.wasm in layer {sha256_digest(first)} '
                f'and ./plugin.wasm in layer {sha256_digest(last)}; rebuild the image with exactly one plugin.wasm')
    for read in (lambda: describe(source, _resolve(source)), lambda: _copy(source)):
        with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
            read()


def test_one_layer_with_two_different_modules_is_refused_naming_both(builder: LayoutBuilder) -> None:
    layer = tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME.to_json()), ('opt/plugin.wasm', proxy_module(marker='x'))])
    source = _layout_source(builder, 'one', _compat_image(builder, [layer], mt.OCI_LAYER_TAR))
    with pytest.raises(ImageFormatError, match=r'two different plugin.wasm files, plugin.wasm in layer sha256:\w+ and opt/plugin.wasm in layer'):
        _copy(source)


def test_identical_copies_of_the_module_are_accepted(builder: LayoutBuilder) -> None:
    first = gzip_bytes(tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME.to_json())]))
    last = tar_bytes([('./plugin.wasm', MODULE), ('wasm/plugin.wasm', MODULE), ('runtime-config.json', RUNTIME.to_json())])
    source = _layout_source(builder, 'same', _compat_image(builder, [first, last], mt.OCI_LAYER_TAR_GZIP))
    _check_description(describe(source, _resolve(source)), 'compat')
    assert _copy(source)[0] == MODULE


def test_two_different_runtime_configs_are_refused(builder: LayoutBuilder) -> None:
    other = RuntimeConfig('envoy_proxy', (ABI,), ('other_root',))
    layers = [gzip_bytes(tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME.to_json())])),
              gzip_bytes(tar_bytes([('runtime-config.json', other.to_json())]))]
    source = _layout_source(builder, 'rc', _compat_image(builder, layers))
    with pytest.raises(ImageFormatError, match=r'is ambiguous: it holds two different runtime-config\.json files'):
        describe(source, _resolve(source))


def test_compat_description_verifies_the_layer_past_the_runtime_config(builder: LayoutBuilder) -> None:
    """A description (what wasm_image_info reports) reads the whole layer: root IDs from a tampered layer are never reported."""
    layer = tar_bytes([('runtime-config.json', RUNTIME.to_json()), ('plugin.wasm', MODULE), ('README', b'x' * 4096)])
    source = _layout_source(builder, 'c', _compat_image(builder, [layer], mt.OCI_LAYER_TAR))
    assert describe(source, _resolve(source)).wasm_digest == sha256_digest(MODULE)
    blob = pathlib.Path(builder.path, 'blobs', 'sha256', sha256_digest(layer).split(':')[1])
    blob.write_bytes(layer.replace(b'x' * 4096, b'y' * 4096))
    with pytest.raises(ImageFormatError, match=r'has digest sha256:[0-9a-f]{64}, not the'):
        describe(source, _resolve(source))


def test_compat_tar_layers_adding_up_to_more_than_max_size_are_refused_before_reading(builder: LayoutBuilder) -> None:
    layers = [gzip_bytes(tar_bytes([('README', bytes(range(256)) * 40)])), gzip_bytes(tar_bytes([('plugin.wasm', MODULE)]))]
    source = _layout_source(builder, 'big', _compat_image(builder, layers))
    total = sum(map(len, layers))
    pathlib.Path(builder.path, 'blobs', 'sha256', sha256_digest(layers[0]).split(':')[1]).unlink()
    expected = f'The tar layers of {source.reference} add up to {total} bytes, more than max_size ({total - 1} bytes)'
    with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
        describe(source, _resolve(source), max_size=total - 1)


def test_compat_image_without_plugin_wasm_is_refused(builder: LayoutBuilder) -> None:
    layers = [gzip_bytes(tar_bytes([('module.wasm', MODULE)])), gzip_bytes(tar_bytes([('runtime-config.json', RUNTIME.to_json())]))]
    source = _layout_source(builder, 'none', _compat_image(builder, layers))
    expected = rf'^{source.reference} \(manifest sha256:[0-9a-f]+\) is not a Wasm image: it has tar layers, but none holds a plugin.wasm'
    with pytest.raises(ImageFormatError, match=expected):
        describe(source, _resolve(source))
    with pytest.raises(ImageFormatError, match=r'but none holds a plugin\.wasm'):
        _copy(source)


def test_ordinary_container_image_is_not_a_wasm_image(builder: LayoutBuilder) -> None:
    """What wasm_image_info and pull both say of a container image: never a compat image without a module."""
    layers = [gzip_bytes(tar_bytes([('bin/sh', b'#!'), ('etc/runtime-config.json', RUNTIME.to_json())])), gzip_bytes(tar_bytes([('app', b'x')]))]
    source = _layout_source(builder, 'none', _compat_image(builder, layers, config_type=mt.OCI_IMAGE_CONFIG))
    with pytest.raises(ImageFormatError, match=rf'^{re.escape(source.reference)} \(manifest sha256:\w+\) is not a Wasm image: it has tar layers, but none'):
        describe(source, _resolve(source))


def test_compat_with_malformed_runtime_config_names_the_layer(builder: LayoutBuilder) -> None:
    layer = gzip_bytes(tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', b'{"type": 7}')]))
    source = _layout_source(builder, 'bad', _compat_image(builder, [layer]))
    with pytest.raises(RuntimeConfigError, match=r'^Runtime config in Layer sha256:\w+ of .* \(runtime-config.json\): type must be a string'):
        describe(source, _resolve(source))


@pytest.mark.parametrize('content', [b'not wasm at all', b'', b'\0as', b'(module)'], ids=['text', 'empty', 'short', 'wat'])
def test_compat_plugin_that_is_not_wasm_is_refused(builder: LayoutBuilder, content: bytes) -> None:
    source = _layout_source(builder, 'text', _compat_image(builder, [gzip_bytes(tar_bytes([('plugin.wasm', content)]))]))
    with pytest.raises(ImageFormatError, match=r'^plugin.wasm in Layer sha256:\w+ of .* is not a WebAssembly module \(it lacks the \\0asm magic\)'):
        _copy(source)


@pytest.mark.parametrize('layer_type', [mt.WASM_CONTENT_LAYER, mt.WASM_ARTIFACT_LAYER])
def test_module_layer_that_is_not_wasm_is_refused(builder: LayoutBuilder, layer_type: str) -> None:
    config = builder.add('application/vnd.oci.empty.v1+json', b'{}')
    source = _layout_source(builder, 'text', builder.manifest(config, [builder.add(layer_type, b'#!/bin/sh\necho hi\n')]))
    with pytest.raises(ImageFormatError, match=r'^Module layer sha256:\w+ of .* is not a WebAssembly module'):
        _copy(source)


def test_tampered_compat_layer_is_detected(builder: LayoutBuilder) -> None:
    layer = tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME.to_json())])
    source = _layout_source(builder, 'c', _compat_image(builder, [layer], mt.OCI_LAYER_TAR))
    offset = layer.index(MODULE) + len(MODULE) - 1
    tampered = layer[:offset] + bytes([layer[offset] ^ 0xFF]) + layer[offset + 1:]
    blob = pathlib.Path(builder.path, 'blobs', 'sha256', sha256_digest(layer).split(':')[1])
    blob.write_bytes(tampered)
    with pytest.raises(ImageFormatError, match=r'has digest sha256:[0-9a-f]{64}, not the'):
        _copy(source)
    with pytest.raises(ImageFormatError, match=r'has digest sha256:[0-9a-f]{64}, not the'):
        describe(source, _resolve(source))


@pytest.mark.parametrize('compress', [True, False], ids=['gzip', 'plain_tar'])
def test_truncated_compat_layer_is_reported_as_an_image_error(builder: LayoutBuilder, compress: bool) -> None:
    module = MODULE + random.Random(1).randbytes(64 * 1024)
    layer = tar_bytes([('plugin.wasm', module)])
    layer = gzip_bytes(layer) if compress else layer
    source = _layout_source(builder, 'c', _compat_image(builder, [layer], mt.OCI_LAYER_TAR_GZIP if compress else mt.OCI_LAYER_TAR))
    blob = pathlib.Path(builder.path, 'blobs', 'sha256', sha256_digest(layer).split(':')[1])
    blob.write_bytes(layer[:len(layer) // 2])
    with pytest.raises(ImageFormatError, match=r'^Layer sha256:\w+ of oci:'):
        _copy(source)


@pytest.mark.parametrize(
    ('config_type', 'layer_types'),
    [
        (mt.OCI_IMAGE_CONFIG, [mt.OCI_IMAGE_CONFIG]),
        ('application/vnd.example.thing+json', ['application/octet-stream']),
        (mt.OCI_IMAGE_CONFIG, []),
        (None, ['text/plain']),
    ],
    ids=['config_json_layer', 'other_artifact', 'no_layers', 'no_config_type'],
)
def test_manifest_that_is_not_a_wasm_image_is_refused_by_classify(config_type: str | None, layer_types: list[str]) -> None:
    manifest = {
        'config': {'mediaType': config_type, 'digest': sha256_digest(b'{}'), 'size': 2},
        'layers': [{'mediaType': layer_type, 'digest': sha256_digest(layer_type.encode()), 'size': 1} for layer_type in layer_types],
    }
    with pytest.raises(ImageFormatError) as caught:
        classify(manifest, 'Manifest of example')
    message = str(caught.value)
    assert message.startswith(f'Manifest of example is not a Wasm image: config type {config_type}, layer types ')
    assert (', '.join(layer_types) or 'none') in message


def test_normal_image_in_a_layout_is_refused_naming_the_reference(builder: LayoutBuilder) -> None:
    config_json = builder.add(mt.OCI_IMAGE_CONFIG, b'{"architecture":"amd64","os":"linux"}')
    source = _layout_source(builder, 'normal', builder.manifest(config_json, [dict(config_json)]))
    expected = f'Manifest of {source.reference} is not a Wasm image: config type {mt.OCI_IMAGE_CONFIG}, layer types {mt.OCI_IMAGE_CONFIG}'
    with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
        resolve(source)


@pytest.mark.parametrize(
    ('manifest', 'problem'),
    [
        ({'config': {}}, 'has no valid layers list'),
        ({'layers': {}}, 'has no valid layers list'),
        ({'layers': ['x']}, 'has no valid layers list'),
        ({'layers': [{'mediaType': mt.WASM_CONTENT_LAYER, 'digest': 'md5:abc'}]}, "An entry of Manifest of example has digest 'md5:abc'"),
    ],
)
def test_manifest_with_bad_layers_is_refused(manifest: dict[str, t.Any], problem: str) -> None:
    with pytest.raises(ImageFormatError, match=problem):
        classify(manifest, 'Manifest of example')


def test_wasm_config_type_wins_over_tar_layers() -> None:
    manifest = {
        'config': {'mediaType': mt.WASM_CONFIG, 'digest': sha256_digest(b'{}'), 'size': 2},
        'layers': [{'mediaType': mt.OCI_LAYER_TAR_GZIP, 'digest': sha256_digest(b'x'), 'size': 1}],
    }
    assert classify(manifest, 'm') == 'oci'


def test_manifest_without_config_descriptor_is_refused() -> None:
    source = BuiltImageSource(build_image('oci', MODULE, RUNTIME, {}), REFERENCE)
    resolved = _resolve(source)
    broken = ResolvedImage(resolved.digest, resolved.media_type, {k: v for k, v in resolved.manifest.items() if k != 'config'}, 'oci')
    with pytest.raises(ImageFormatError, match=f'^Descriptor of Config of {REFERENCE} is not a descriptor object'):
        describe(source, broken)


def test_resolve_of_a_reference_naming_nothing_is_none(builder: LayoutBuilder) -> None:
    _layout_source(builder, 'v1', _oci_image(builder))
    assert resolve(LayoutSource(OciLayout(builder.path), 'v2')) is None
    assert describe_tag(OciLayout(builder.path), 'v2') is None


@pytest.mark.parametrize(
    ('data', 'problem'),
    [(b'{', 'is not valid JSON'), (b'\xff', 'is not valid JSON'), (b'[]', 'must be a JSON object, not list'), (b'null', 'must be a JSON object, not NoneType')],
)
def test_parse_json_document_names_the_document(data: bytes, problem: str) -> None:
    with pytest.raises(ImageFormatError, match=f'^Manifest of x {problem}'):
        parse_json_document(data, 'Manifest of x')


def test_manifest_blob_that_is_not_json_is_refused(builder: LayoutBuilder) -> None:
    source = _layout_source(builder, 'bad', builder.add(mt.OCI_MANIFEST, b'this is not json'))
    with pytest.raises(ImageFormatError, match=f'^Manifest of {source.reference} is not valid JSON'):
        resolve(source)


@pytest.mark.parametrize('size', [None, -1, '12', 1.5])
def test_read_small_blob_requires_a_valid_size(size: t.Any) -> None:
    with pytest.raises(ImageFormatError, match=r'^Descriptor of Config of x has no valid size'):
        read_small_blob(t.cast(t.Any, None), {'digest': sha256_digest(b''), 'size': size}, 'Config of x')


def test_read_small_blob_refuses_oversized_metadata() -> None:
    with pytest.raises(ImageFormatError, match=f'^Config of x is {METADATA_LIMIT + 1} bytes, more than the {METADATA_LIMIT} bytes allowed'):
        read_small_blob(t.cast(t.Any, None), {'digest': sha256_digest(b''), 'size': METADATA_LIMIT + 1}, 'Config of x')


def test_read_small_blob_refuses_a_blob_longer_than_its_descriptor(builder: LayoutBuilder) -> None:
    descriptor = builder.add(mt.OCI_IMAGE_CONFIG, b'{"a":1}')
    source = LayoutSource(builder.layout, 'x')
    with pytest.raises(ImageFormatError, match='is larger than the 3 bytes its descriptor declares'):
        read_small_blob(source, dict(descriptor, size=3), 'Config of x')


def test_config_that_is_not_json_is_refused_for_compat(builder: LayoutBuilder) -> None:
    config = builder.add(mt.OCI_IMAGE_CONFIG, b'not json')
    manifest = builder.manifest(config, [builder.add(mt.OCI_LAYER_TAR_GZIP, gzip_bytes(tar_bytes([('plugin.wasm', MODULE)])))])
    source = _layout_source(builder, 'c', manifest)
    with pytest.raises(ImageFormatError, match=f'^Config of {source.reference} is not valid JSON'):
        describe(source, _resolve(source))


def test_description_as_dict_of_a_read_image() -> None:
    image, source = _built_source('oci')
    assert describe(source, _resolve(source)).as_dict() == {
        'reference': REFERENCE,
        'digest': image.digest,
        'index_digest': None,
        'media_type': mt.OCI_MANIFEST,
        'variant': 'oci',
        'runtime': {'type': 'envoy_proxy', 'abi_versions': [ABI], 'root_ids': ['add_header'], 'config': {'vm': 'x'}},
        'wasm': {'digest': sha256_digest(MODULE), 'size': len(MODULE)},
        'annotations': {mt.ANNOTATION_RUNTIME_TYPE: 'envoy_proxy', mt.ANNOTATION_ABI_VERSION: ABI},
        'platform': None,
    }
    json.dumps(describe(source, _resolve(source)).as_dict())


def _wasm_manifest(builder: LayoutBuilder, **changes: t.Any) -> dict[str, t.Any]:
    config = builder.add(mt.WASM_CONFIG, RUNTIME.to_json())
    layer = builder.add(mt.WASM_CONTENT_LAYER, MODULE)
    document: dict[str, t.Any] = {'schemaVersion': 2, 'mediaType': mt.OCI_MANIFEST, 'config': config, 'layers': [layer]}
    for key, value in changes.items():
        if key == 'layer_size':
            layer['size'] = value
        else:
            document[key] = value
    return builder.add(mt.OCI_MANIFEST, canonical_json(document))


MALFORMED_SHAPES: list[t.Any] = [
    pytest.param(lambda b: _wasm_manifest(b, config='application/vnd.module.wasm.config.v1+json'), id='manifest_config_is_a_string'),
    pytest.param(lambda b: _wasm_manifest(b, annotations=['module.wasm.image/variant']), id='manifest_annotations_is_a_list'),
    pytest.param(lambda b: _wasm_manifest(b, layer_size='1234'), id='layer_size_is_a_string'),
    pytest.param(lambda b: b.index([dict(_wasm_manifest(b), platform='wasi/wasm')]), id='index_child_platform_is_a_string'),
    pytest.param(lambda b: b.index([dict(_wasm_manifest(b), annotations='attestation')]), id='index_child_annotations_is_a_string'),
]


@pytest.mark.parametrize('make', MALFORMED_SHAPES)
def test_malformed_manifest_shapes_are_image_format_errors(builder: LayoutBuilder, make: t.Callable[[LayoutBuilder], dict[str, t.Any]]) -> None:
    source = _layout_source(builder, 'bad', make(builder))
    with pytest.raises(ImageFormatError):
        _resolve_and_describe(source)


def _resolve_and_describe(source: LayoutSource) -> None:
    """Every step that reads a manifest: resolving it, describing it, and copying its module."""
    resolved = _resolve(source)
    describe(source, resolved)
    describe(source, resolved, target=io.BytesIO())
