"""Interoperability with the tools around the Wasm image format, against real CNCF Distribution registries.

Outward: what wasm_image_push writes is read by skopeo (inspect, copy to ``dir:``) and by the ORAS Python SDK.
Inward: wasm_image_pull reads what other tools write: buildah (an uncompressed OCI tar layer, and a Docker v2
image pushed with ``buildah push --format v2s2``), skopeo's Docker v2 conversion (which drops manifest
annotations), a one-layer oci-variant image pushed by the ORAS SDK, a multi-platform index, and the CNCF
Wasm OCI Artifact. Every module runs through Ansible (``module_runner.run_module``); each test uses its own
repositories. The auth path is covered once each way through ``registry_basic``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pathlib
import subprocess
import tarfile
import typing as t

import oras.provider
import pytest

from harness.module_runner import run_module
from harness.registries import Registry, make_oci_layout, run_skopeo, skopeo_args, skopeo_inspect_raw, skopeo_push

OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar'
DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
WASM_CONFIG = 'application/vnd.module.wasm.config.v1+json'
WASM_CONTENT_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm'
ARTIFACT_CONFIG = 'application/vnd.wasm.config.v0+json'
ARTIFACT_LAYER = 'application/wasm'
TITLE = 'org.opencontainers.image.title'
REF_NAME = 'org.opencontainers.image.ref.name'
VARIANT_ANNOTATION = 'module.wasm.image/variant'
WASI_WASM = {'os': 'wasi', 'architecture': 'wasm'}


def sha256(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, **extra: t.Any) -> dict[str, t.Any]:
    return {'mediaType': media_type, 'digest': sha256(data), 'size': len(data), **extra}


def connection(registry: Registry) -> dict[str, t.Any]:
    """The registry options of the modules for ``registry``."""
    options: dict[str, t.Any] = {'timeout': 20, 'plain_http': registry.plain_http}
    if registry.username:
        options.update(username=registry.username, password=registry.password)
    if registry.ca_path:
        options['ca_path'] = str(registry.ca_path)
    return options


def pull(registry: Registry, reference: str, dest: pathlib.Path, environment: dict[str, str], **options: t.Any) -> dict[str, t.Any]:
    """wasm_image_pull of ``registry.ref(reference)`` into ``dest``; fails the test unless it succeeds."""
    result = run_module('wasm_image_pull', {'name': registry.ref(reference), 'dest': str(dest), **connection(registry), **options},
                        environment)
    assert not result['failed'], result
    return result


def oras_registry(registry: Registry) -> oras.provider.Registry:
    """An ORAS SDK client for ``registry``, with its Basic credentials when it has some."""
    if registry.username:
        client = oras.provider.Registry(hostname=registry.host, insecure=registry.plain_http, auth_backend='basic')
        client.auth.set_basic_auth(registry.username, registry.password)
        return client
    return oras.provider.Registry(hostname=registry.host, insecure=registry.plain_http)


# -- what wasm_image_push writes, read by skopeo and ORAS ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BuiltLayout:
    layout: pathlib.Path
    manifests: dict[str, bytes]  # tag -> the exact manifest bytes wasm_image_build stored


@pytest.fixture(scope='module')
def built(sample_filter: pathlib.Path, ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> BuiltLayout:
    """The sample filter built by wasm_image_build as ``oci`` and ``compat`` (OCI manifest)."""
    layout = tmp_path_factory.mktemp('interop-built') / 'layout'
    manifests = {}
    for variant in ('oci', 'compat'):
        result = run_module('wasm_image_build', {'src': str(sample_filter), 'layout': str(layout), 'tag': variant,
                                                 'variant': variant, 'root_ids': ['add_header']}, ansible_environment)
        assert not result['failed'], result
        manifests[variant] = (layout / 'blobs' / 'sha256' / result['image']['digest'].split(':', 1)[1]).read_bytes()
    return BuiltLayout(layout, manifests)


def push_built(registry: Registry, built_layout: BuiltLayout, tag: str, repository: str, environment: dict[str, str]) -> str:
    """Push ``tag`` of the built layout to ``repository:tag`` with wasm_image_push; return ``repository:tag``."""
    result = run_module('wasm_image_push', {'layout': str(built_layout.layout), 'tag': tag, 'name': registry.ref(f'{repository}:{tag}'),
                                            **connection(registry)}, environment)
    assert not result['failed'], result
    assert result['changed'] is True
    return f'{repository}:{tag}'


def skopeo_copy_to_dir(registry: Registry, reference: str, directory: pathlib.Path) -> dict[str, t.Any]:
    """``skopeo copy docker://… dir:…``; returns the manifest skopeo stored there."""
    run_skopeo('copy', *skopeo_args(registry, 'src'), f'docker://{registry.ref(reference)}', f'dir:{directory}')
    return json.loads((directory / 'manifest.json').read_bytes())


def dir_blob(directory: pathlib.Path, digest: str) -> bytes:
    """A blob of a skopeo ``dir:`` copy, which names blobs by their hex digest; checked against the digest."""
    data = (directory / digest.split(':', 1)[1]).read_bytes()
    assert sha256(data) == digest
    return data


def tar_member(layer: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(layer), mode='r:*') as archive:
        extracted = archive.extractfile(name)
        assert extracted is not None, f'{name} is not a regular file in the layer'
        return extracted.read()


def test_pushed_images_are_read_by_skopeo_and_oras(registry_plain: Registry, built: BuiltLayout, sample_filter: pathlib.Path,
                                                   ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    module = sample_filter.read_bytes()
    oci_ref = push_built(registry_plain, built, 'oci', 'interop/pushed', ansible_environment)
    compat_ref = push_built(registry_plain, built, 'compat', 'interop/pushed', ansible_environment)

    # skopeo gets back the manifests exactly as built.
    assert skopeo_inspect_raw(registry_plain, oci_ref).stdout.encode() == built.manifests['oci']
    assert skopeo_inspect_raw(registry_plain, compat_ref).stdout.encode() == built.manifests['compat']

    # skopeo understands the compat image as a standard image for wasi/wasm.
    inspected = json.loads(run_skopeo('inspect', *skopeo_args(registry_plain), f'docker://{registry_plain.ref(compat_ref)}').stdout)
    assert (inspected['Os'], inspected['Architecture']) == ('wasi', 'wasm')

    # skopeo copies both to dir: and every blob it stores matches; the module is where the spec puts it.
    oci_manifest = skopeo_copy_to_dir(registry_plain, oci_ref, tmp_path / 'skopeo-oci')
    assert oci_manifest == json.loads(built.manifests['oci'])
    module_layers = [layer for layer in oci_manifest['layers'] if layer['mediaType'] == WASM_CONTENT_LAYER]
    assert len(module_layers) == 1
    assert module_layers[0]['annotations'][TITLE] == 'filter.wasm'
    assert dir_blob(tmp_path / 'skopeo-oci', module_layers[0]['digest']) == module
    config = json.loads(dir_blob(tmp_path / 'skopeo-oci', oci_manifest['config']['digest']))
    assert config['type'] == 'envoy_proxy'
    assert config['config']['root_ids'] == ['add_header']

    compat_manifest = skopeo_copy_to_dir(registry_plain, compat_ref, tmp_path / 'skopeo-compat')
    assert compat_manifest['annotations'][VARIANT_ANNOTATION] == 'compat'
    (layer,) = compat_manifest['layers']
    layer_bytes = dir_blob(tmp_path / 'skopeo-compat', layer['digest'])
    assert tar_member(layer_bytes, 'plugin.wasm') == module
    assert json.loads(tar_member(layer_bytes, 'runtime-config.json'))['config']['root_ids'] == ['add_header']

    # The ORAS SDK pulls the oci variant: both layers, saved under their titles.
    outdir = tmp_path / 'oras'
    pulled = oras_registry(registry_plain).pull(target=registry_plain.ref(oci_ref), outdir=str(outdir))
    assert sorted(pathlib.Path(path).name for path in pulled) == ['filter.wasm', 'runtime-config.json']
    assert (outdir / 'filter.wasm').read_bytes() == module
    assert json.loads((outdir / 'runtime-config.json').read_bytes())['config']['root_ids'] == ['add_header']


def test_pushed_with_basic_auth_is_read_by_skopeo_and_oras(registry_basic: Registry, built: BuiltLayout, sample_filter: pathlib.Path,
                                                           ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    oci_ref = push_built(registry_basic, built, 'oci', 'interop/pushed-basic', ansible_environment)
    assert skopeo_inspect_raw(registry_basic, oci_ref).stdout.encode() == built.manifests['oci']
    anonymous = skopeo_inspect_raw(registry_basic, oci_ref, username=None, check=False)
    assert anonymous.returncode != 0, 'the basic-auth registry must refuse anonymous reads'

    outdir = tmp_path / 'oras'
    oras_registry(registry_basic).pull(target=registry_basic.ref(oci_ref), outdir=str(outdir))
    assert (outdir / 'filter.wasm').read_bytes() == sample_filter.read_bytes()


# -- images other tools made, pulled by wasm_image_pull ---------------------------------------------------


def runtime_config_file(directory: pathlib.Path, document: dict[str, t.Any]) -> pathlib.Path:
    path = directory / 'runtime-config.json'
    path.write_text(json.dumps(document), encoding='utf-8')
    return path


class Buildah:
    """buildah with its own storage under ``root`` (vfs), so tests neither see nor leave global state."""

    def __init__(self, root: pathlib.Path) -> None:
        self.global_args = ['--root', str(root / 'storage'), '--runroot', str(root / 'run'), '--storage-driver', 'vfs']

    def __call__(self, *args: str) -> str:
        command = ['buildah', *self.global_args, *args]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if completed.returncode != 0:
            pytest.fail(f'{" ".join(command)} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}')
        return completed.stdout.strip()

    def scratch_filter(self, context: pathlib.Path, module: pathlib.Path, root_ids: list[str]) -> str:
        """A working container from scratch holding ``plugin.wasm`` and ``runtime-config.json``, annotated compat."""
        (context / 'plugin.wasm').write_bytes(module.read_bytes())
        runtime_config_file(context, {'type': 'envoy_proxy', 'abiVersions': ['proxy_abi_version_0_2_1'], 'config': {'root_ids': root_ids}})
        container = self('from', 'scratch')
        self('copy', container, str(context / 'plugin.wasm'), str(context / 'runtime-config.json'), '/')
        self('config', '--annotation', f'{VARIANT_ANNOTATION}=compat', container)
        return container


@pytest.fixture
def buildah(tmp_path: pathlib.Path) -> t.Iterator[Buildah]:
    tool = Buildah(tmp_path / 'buildah')
    yield tool
    # Drop the working containers and images (plain files under tmp_path, but buildah keeps locks and state).
    subprocess.run(['buildah', *tool.global_args, 'rm', '--all'], capture_output=True, check=False, timeout=60)
    subprocess.run(['buildah', *tool.global_args, 'rmi', '--all', '--force'], capture_output=True, check=False, timeout=60)


def test_buildah_oci_layout_with_uncompressed_layer(registry_plain: Registry, buildah: Buildah, sample_filter: pathlib.Path,
                                                    ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    context = tmp_path / 'context'
    context.mkdir()
    container = buildah.scratch_filter(context, sample_filter, ['buildah_root'])
    layout = tmp_path / 'layout'
    buildah('commit', '--quiet', container, f'oci:{layout}:v1')

    (entry,) = json.loads((layout / 'index.json').read_bytes())['manifests']
    manifest = json.loads((layout / 'blobs' / 'sha256' / entry['digest'].split(':', 1)[1]).read_bytes())
    assert [layer['mediaType'] for layer in manifest['layers']] == [OCI_LAYER_TAR], 'buildah writes an uncompressed layer'

    # --preserve-digests: the registry keeps the uncompressed layer (skopeo would gzip it otherwise).
    skopeo_push(registry_plain, f'oci:{layout}:v1', 'interop/buildah-oci:v1', extra_args=['--preserve-digests'])
    served = json.loads(skopeo_inspect_raw(registry_plain, 'interop/buildah-oci:v1').stdout)
    assert served['layers'][0]['mediaType'] == OCI_LAYER_TAR

    dest = tmp_path / 'filter.wasm'
    image = pull(registry_plain, 'interop/buildah-oci:v1', dest, ansible_environment)['image']
    assert dest.read_bytes() == sample_filter.read_bytes()
    assert image['variant'] == 'compat'
    assert image['media_type'] == OCI_MANIFEST
    assert image['runtime']['root_ids'] == ['buildah_root']
    assert image['wasm']['digest'] == sha256(sample_filter.read_bytes())
    assert image['annotations'][VARIANT_ANNOTATION] == 'compat'

    # The record beside dest lets a second pull see, without the layer, that nothing changed.
    again = pull(registry_plain, 'interop/buildah-oci:v1', dest, ansible_environment)
    assert again['changed'] is False
    assert again['image']['runtime']['root_ids'] == ['buildah_root']


def test_buildah_docker_v2s2_through_basic_auth(registry_basic: Registry, buildah: Buildah, sample_filter: pathlib.Path,
                                                ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    context = tmp_path / 'context'
    context.mkdir()
    container = buildah.scratch_filter(context, sample_filter, ['buildah_docker_root'])
    buildah('commit', '--quiet', '--format', 'docker', container, 'localhost/wasm-filter:docker')
    buildah('push', '--quiet', '--format', 'v2s2', '--tls-verify=false', '--creds', f'{registry_basic.username}:{registry_basic.password}',
            'localhost/wasm-filter:docker', f'docker://{registry_basic.ref("interop/buildah-docker:v1")}')
    served = json.loads(skopeo_inspect_raw(registry_basic, 'interop/buildah-docker:v1').stdout)
    assert served['mediaType'] == DOCKER_MANIFEST

    dest = tmp_path / 'filter.wasm'
    image = pull(registry_basic, 'interop/buildah-docker:v1', dest, ansible_environment)['image']
    assert dest.read_bytes() == sample_filter.read_bytes()
    assert (image['variant'], image['media_type']) == ('compat', DOCKER_MANIFEST)
    assert image['runtime']['root_ids'] == ['buildah_docker_root']


def test_skopeo_v2s2_conversion_keeps_root_ids(registry_plain: Registry, built: BuiltLayout, sample_filter: pathlib.Path,
                                               ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    """skopeo --format v2s2 drops the manifest annotations; the root IDs still come from runtime-config.json."""
    source = push_built(registry_plain, built, 'compat', 'interop/convert-source', ansible_environment)
    run_skopeo('copy', '--format', 'v2s2', *skopeo_args(registry_plain, 'src'), *skopeo_args(registry_plain, 'dest'),
               f'docker://{registry_plain.ref(source)}', f'docker://{registry_plain.ref("interop/converted:v2s2")}')
    converted = json.loads(skopeo_inspect_raw(registry_plain, 'interop/converted:v2s2').stdout)
    assert converted['mediaType'] == DOCKER_MANIFEST
    assert 'annotations' not in converted, 'Docker v2 manifests carry no annotations'

    dest = tmp_path / 'filter.wasm'
    image = pull(registry_plain, 'interop/converted:v2s2', dest, ansible_environment)['image']
    assert dest.read_bytes() == sample_filter.read_bytes()
    assert (image['variant'], image['media_type']) == ('compat', DOCKER_MANIFEST)
    assert image['runtime']['root_ids'] == ['add_header']
    assert image['runtime']['type'] == 'envoy_proxy'


def test_oras_one_layer_oci_variant(registry_plain: Registry, sample_filter: pathlib.Path, ansible_environment: dict[str, str],
                                    tmp_path: pathlib.Path) -> None:
    upload = tmp_path / 'upload'
    upload.mkdir()
    module = upload / 'filter.wasm'
    module.write_bytes(sample_filter.read_bytes())
    # The spec's own example spells a single abi_version string; the reference CLI wrote camelCase rootIds.
    config = runtime_config_file(upload, {'type': 'envoy_proxy', 'abi_version': 'proxy_abi_version_0_2_1',
                                          'config': {'rootIds': ['oras_root']}})
    oras_registry(registry_plain).push(
        target=registry_plain.ref('interop/oras:v1'), files=[f'{module}:{WASM_CONTENT_LAYER}'],
        manifest_config=f'{config}:{WASM_CONFIG}', disable_path_validation=True, quiet=True,
    )
    served = json.loads(skopeo_inspect_raw(registry_plain, 'interop/oras:v1').stdout)
    assert served['config']['mediaType'] == WASM_CONFIG
    assert [layer['mediaType'] for layer in served['layers']] == [WASM_CONTENT_LAYER], 'ORAS writes a one-layer image'

    dest = tmp_path / 'filter.wasm'
    image = pull(registry_plain, 'interop/oras:v1', dest, ansible_environment)['image']
    assert dest.read_bytes() == sample_filter.read_bytes()
    assert image['variant'] == 'oci'
    assert image['runtime']['root_ids'] == ['oras_root']
    assert image['runtime']['abi_versions'] == ['proxy_abi_version_0_2_1']


# -- hand-made layouts copied with skopeo: an index, and the CNCF Wasm OCI Artifact -------------------------


class HandLayout:
    """An OCI image layout written blob by blob."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        (path / 'blobs' / 'sha256').mkdir(parents=True)
        (path / 'oci-layout').write_text('{"imageLayoutVersion": "1.0.0"}', encoding='utf-8')

    def blob(self, data: bytes) -> bytes:
        (self.path / 'blobs' / 'sha256' / sha256(data).split(':', 1)[1]).write_bytes(data)
        return data

    def manifest(self, document: dict[str, t.Any]) -> bytes:
        return self.blob(json.dumps(document, sort_keys=True).encode())

    def tag(self, tag: str, media_type: str, data: bytes) -> str:
        """Make ``tag`` name ``data`` (a manifest or index already stored) and return its reference for skopeo."""
        entry = descriptor(media_type, data, annotations={REF_NAME: tag})
        (self.path / 'index.json').write_text(json.dumps({'schemaVersion': 2, 'manifests': [entry]}), encoding='utf-8')
        return f'oci:{self.path}:{tag}'


def test_index_with_linux_and_wasi_children(registry_plain: Registry, sample_filter: pathlib.Path,
                                            ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    module = sample_filter.read_bytes()
    layout = HandLayout(tmp_path / 'layout')

    # The linux/amd64 child: an ordinary image with a text file, from the harness's own layout writer.
    linux = make_oci_layout(tmp_path / 'linux', tag='linux')
    for blob in (tmp_path / 'linux' / 'blobs' / 'sha256').iterdir():
        layout.blob(blob.read_bytes())
    # The wasi/wasm child: the oci variant, two layers as the reference CLI wrote them.
    config = layout.blob(json.dumps({'type': 'envoy_proxy', 'abiVersions': ['proxy_abi_version_0_2_1'],
                                     'config': {'root_ids': ['index_root']}}).encode())
    wasm = layout.manifest({
        'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
        'config': descriptor(WASM_CONFIG, config),
        'layers': [descriptor(WASM_CONFIG, config, annotations={TITLE: 'runtime-config.json'}),
                   descriptor(WASM_CONTENT_LAYER, layout.blob(module), annotations={TITLE: 'filter.wasm'})],
    })
    index = layout.manifest({
        'schemaVersion': 2, 'mediaType': OCI_INDEX,
        'manifests': [
            descriptor(OCI_MANIFEST, linux.manifest, platform={'os': 'linux', 'architecture': 'amd64'}),
            descriptor(OCI_MANIFEST, wasm, platform=WASI_WASM),
        ],
    })
    skopeo_push(registry_plain, layout.tag('multi', OCI_INDEX, index), 'interop/index:multi', extra_args=['--all', '--preserve-digests'])
    assert skopeo_inspect_raw(registry_plain, 'interop/index:multi').stdout.encode() == index

    # By default the wasi/wasm child is chosen.
    dest = tmp_path / 'filter.wasm'
    image = pull(registry_plain, 'interop/index:multi', dest, ansible_environment)['image']
    assert dest.read_bytes() == module
    assert image['digest'] == sha256(wasm)
    assert image['index_digest'] == sha256(index)
    assert image['platform'] == WASI_WASM
    assert image['runtime']['root_ids'] == ['index_root']

    # Pinning the index digest works the same way.
    pinned = tmp_path / 'pinned.wasm'
    image = pull(registry_plain, f'interop/index@{sha256(index)}', pinned, ansible_environment)['image']
    assert pinned.read_bytes() == module
    assert (image['digest'], image['index_digest']) == (sha256(wasm), sha256(index))

    # platform selects the linux/amd64 child, which holds no Wasm module: a clear error, dest untouched.
    result = run_module('wasm_image_pull', {'name': registry_plain.ref('interop/index:multi'), 'dest': str(dest),
                                            'platform': 'linux/amd64', **connection(registry_plain)}, ansible_environment)
    assert result['failed'], result
    assert 'MODULE FAILURE' not in result['msg']
    assert 'plugin.wasm' in result['msg'] or 'not a Wasm image' in result['msg'], result['msg']
    assert dest.read_bytes() == module

    # A platform the index does not offer names the ones it does.
    result = run_module('wasm_image_info', {'name': registry_plain.ref('interop/index:multi'), 'platform': 'linux/arm64',
                                            **connection(registry_plain)}, ansible_environment)
    assert result['failed'], result
    assert 'linux/amd64' in result['msg'], result['msg']
    assert 'wasi/wasm' in result['msg'], result['msg']


def test_cncf_wasm_oci_artifact(registry_plain: Registry, sample_filter: pathlib.Path, ansible_environment: dict[str, str],
                                tmp_path: pathlib.Path) -> None:
    module = sample_filter.read_bytes()
    layout = HandLayout(tmp_path / 'layout')
    layer = layout.blob(module)
    config = layout.blob(json.dumps({
        'created': '2026-01-01T00:00:00Z', 'author': 'wasm.oci interop test', 'architecture': 'wasm', 'os': 'wasip1',
        'layerDigests': [sha256(layer)],
    }).encode())
    manifest = layout.manifest({
        'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
        'config': descriptor(ARTIFACT_CONFIG, config),
        'layers': [descriptor(ARTIFACT_LAYER, layer)],
    })
    skopeo_push(registry_plain, layout.tag('v1', OCI_MANIFEST, manifest), 'interop/artifact:v1', extra_args=['--preserve-digests'])
    assert skopeo_inspect_raw(registry_plain, 'interop/artifact:v1').stdout.encode() == manifest

    info = run_module('wasm_image_info', {'name': registry_plain.ref('interop/artifact:v1'), **connection(registry_plain)},
                      ansible_environment)
    assert not info['failed'], info
    assert info['exists'] is True
    assert info['image']['variant'] == 'artifact'
    assert info['image']['wasm'] == {'digest': sha256(module), 'size': len(module)}
    assert info['image']['platform'] == {'os': 'wasip1', 'architecture': 'wasm'}
    assert info['image']['runtime']['root_ids'] == []

    dest = tmp_path / 'module.wasm'
    image = pull(registry_plain, 'interop/artifact:v1', dest, ansible_environment)['image']
    assert dest.read_bytes() == module
    assert image['variant'] == 'artifact'
