"""wasm_image_copy against real registries: ``registry_plain`` (the source) and ``registry_basic`` (a second registry,
with credentials given only on the dest side), and local layouts between them.

The images are made as wasm_image_build makes them (both variants) and pushed in this process; an index is put byte
for byte (harness/wild_images.py). Then one playbook, two plays side by side, does what a site filling an air-gapped
registry does: sign each image (wasm_image_sign), copy it registry -> layout -> second registry, copy again (no
change), and pull and describe the final copy with ``verify_keys``. The same plays promote an image within one
registry (mounts), and copy from a layout whose module layer has other bytes than its digest says onto a tag of the
second registry. skopeo reads every end back, and the tests compare the raw manifests and their sha256. Check mode
and diff mode run as a single module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import shutil
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._image.builder import build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.push import push
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import OciLayout, store_image
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.sender import RegistryOptions

from harness.module_runner import run_module
from harness.playbook import run_tasks
from harness.registries import Registry, registry_request, run_skopeo, skopeo_inspect_raw
from harness.signing import get_manifest, key_id, make_keys, put_image, signature_tag
from harness.wild_images import WildImage, platform_index

VARIANTS = ('oci', 'compat')
# The final copies pulled with verify_keys (the compat variant's signature is the same kind as the oci variant's).
PULLED = ('oci', 'index')
TIMEOUT = 20
RUNTIME = RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_2_1',), ('add_header',))


def sha256(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


@dataclasses.dataclass
class Scene:
    plain: Registry
    basic: Registry
    workdir: pathlib.Path
    keys: dict[str, pathlib.Path]
    digests: dict[str, str] = dataclasses.field(default_factory=dict)
    results: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    # The digest of the blob whose bytes the corrupt layout changed.
    corrupted: str = ''

    def layout(self, name: str) -> pathlib.Path:
        return self.workdir / 'layouts' / name

    def src(self, name: str, tag: str = 'v1') -> str:
        return self.plain.ref(f'copy/{name}:{tag}')

    def mirror(self, name: str, tag: str = 'v1') -> str:
        return self.basic.ref(f'mirror/{name}:{tag}')

    def dest_registry(self) -> dict[str, t.Any]:
        return {'plain_http': True, 'timeout': TIMEOUT, 'username': self.basic.username, 'password': self.basic.password}


def copy_task(src: str, dest: str, scene: Scene, **options: t.Any) -> tuple[str, dict[str, t.Any]]:
    """src on registry_plain or in a layout, dest on registry_basic or in a layout: each side gets only its own options."""
    args: dict[str, t.Any] = {'src': src, 'dest': dest, **options}
    if src.startswith(scene.plain.host):
        args['src_registry'] = {'plain_http': True, 'timeout': TIMEOUT}
    if dest.startswith(scene.plain.host):
        args['dest_registry'] = {'plain_http': True, 'timeout': TIMEOUT}
    elif dest.startswith(scene.basic.host):
        args['dest_registry'] = scene.dest_registry()
    return 'wasm_image_copy', args


def pull_task(name: str, scene: Scene) -> tuple[str, dict[str, t.Any]]:
    """Pull the final copy from registry_basic, trusting only the ci key."""
    dest = scene.workdir / 'pulled' / f'{name}.wasm'
    return 'wasm_image_pull', {'name': scene.mirror(name), 'dest': str(dest), 'verify_keys': [str(scene.keys['ci.pub'])],
                               'username': scene.basic.username, 'password': scene.basic.password, 'plain_http': True, 'timeout': TIMEOUT}


def _put_images(scene: Scene, sample_filter: pathlib.Path) -> None:
    """Both variants built as wasm_image_build builds them and pushed to registry_plain; an index put byte for byte."""
    module = sample_filter.read_bytes()
    for variant in VARIANTS:
        image = build_image(variant, module, RUNTIME, {})
        layout_path = scene.layout(f'built-{variant}')
        store_image(str(layout_path), 'v1', image.descriptor, image.layout_blobs)
        client = RegistryClient(parse_reference(scene.src(variant)), RegistryOptions(plain_http=True, timeout=TIMEOUT), None)
        push(OciLayout(str(layout_path)), 'v1', image.descriptor, client)
        scene.digests[variant] = image.digest
    _corrupt_copy(scene)
    index = WildImage()
    platform_index(index, module, docker=False, attestations=True)
    scene.digests['index'] = put_image(scene.plain, 'copy/index', 'v1', index)
    # What a tag of the second registry names before a copy with a corrupted blob fails to replace it.
    guarded = WildImage()
    platform_index(guarded, module, docker=True, attestations=False)
    scene.digests['guarded'] = put_image(scene.basic, 'mirror/guarded', 'v1', guarded)


def _corrupt_copy(scene: Scene) -> None:
    """The built oci image in a layout of its own, with the last byte of its module layer flipped."""
    layout = scene.layout('corrupt')
    shutil.copytree(scene.layout('built-oci'), layout)
    manifest = json.loads(layout_raw_manifest(layout, 'v1'))
    scene.corrupted = manifest['layers'][0]['digest']
    blob = layout / 'blobs' / 'sha256' / scene.corrupted.split(':')[1]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))


def _chain(name: str, scene: Scene) -> dict[str, tuple[str, dict[str, t.Any]]]:
    """Sign the image, copy it registry -> layout (of its own: the plays run side by side) -> second registry, pull it."""
    layout = f'oci:{scene.layout(f"transfer-{name}")}:{name}-v1'
    tasks = {
        f'{name}: sign': ('wasm_image_sign', {'name': scene.src(name), 'key': str(scene.keys['ci']), 'plain_http': True, 'timeout': TIMEOUT}),
        f'{name}: registry to layout': copy_task(scene.src(name), layout, scene),
        f'{name}: layout to second registry': copy_task(layout, scene.mirror(name), scene),
    }
    if name in PULLED:
        tasks[f'{name}: pull the final copy'] = pull_task(name, scene)
    return tasks


def _copy_around(scene: Scene, environment: dict[str, str]) -> None:
    oci, index, compat = (_chain(name, scene) for name in ('oci', 'index', 'compat'))
    oci['oci: again'] = copy_task(f'oci:{scene.layout("transfer-oci")}:oci-v1', scene.mirror('oci'), scene)
    oci['oci: promote within the registry'] = copy_task(scene.src('oci'), scene.plain.ref('promoted/oci:v1'), scene)
    index['index: describe the final copy'] = ('wasm_image_info', {key: value for key, value in pull_task('index', scene)[1].items() if key != 'dest'})
    compat['compat: unsigned into the same layout'] = copy_task(scene.src('compat'), f'oci:{scene.layout("transfer-compat")}:plain', scene,
                                                                copy_signatures=False)
    corrupt = {'corrupt: onto a tag of the second registry': copy_task(f'oci:{scene.layout("corrupt")}:v1', scene.mirror('guarded'), scene)}
    # The two plays take the groups in turn: oci and corrupt in one, index and compat in the other.
    scene.results.update(run_tasks({**oci, **index, **corrupt, **compat}, environment, scene.workdir / 'plays'))


@pytest.fixture(scope='module')
def scene(sample_filter: pathlib.Path, registry_plain: Registry, registry_basic: Registry, ansible_environment: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Scene:
    workdir = tmp_path_factory.mktemp('copy')
    (workdir / 'keys').mkdir()
    (workdir / 'pulled').mkdir()
    (workdir / 'plays').mkdir()
    found = Scene(registry_plain, registry_basic, workdir, make_keys(workdir / 'keys'))
    _put_images(found, sample_filter)
    _copy_around(found, ansible_environment)
    return found


def succeeded(result: dict[str, t.Any]) -> dict[str, t.Any]:
    assert not result['failed'], result
    return result


def raw_manifest(registry: Registry, repository: str, version: str) -> bytes:
    return skopeo_inspect_raw(registry, f'{repository}{"@" if version.startswith("sha256:") else ":"}{version}').stdout.encode()


def layout_raw_manifest(layout: pathlib.Path, tag: str) -> bytes:
    return run_skopeo('inspect', '--raw', f'oci:{layout}:{tag}').stdout.encode()


@pytest.mark.parametrize('name', [*VARIANTS, 'index'])
def test_registry_to_layout_to_second_registry_keeps_every_byte(scene: Scene, name: str) -> None:
    digest = scene.digests[name]
    to_layout = succeeded(scene.results[f'{name}: registry to layout'])
    to_registry = succeeded(scene.results[f'{name}: layout to second registry'])
    assert to_layout['changed']
    assert to_registry['changed']
    assert to_layout['digest'] == to_registry['digest'] == digest
    source = raw_manifest(scene.plain, f'copy/{name}', 'v1')
    assert sha256(source) == digest
    assert layout_raw_manifest(scene.layout(f'transfer-{name}'), f'{name}-v1') == source
    assert raw_manifest(scene.basic, f'mirror/{name}', 'v1') == source
    assert to_layout['signatures_copied'] == to_registry['signatures_copied'] == 1
    assert to_layout['blobs_copied'] == to_registry['blobs_copied'] > 0
    assert to_layout['blobs_mounted'] == to_registry['blobs_mounted'] == 0
    if name == 'index':
        for child in json.loads(source)['manifests']:
            assert sha256(raw_manifest(scene.basic, 'mirror/index', child['digest'])) == child['digest']


@pytest.mark.parametrize('name', [*VARIANTS, 'index'])
def test_the_signatures_come_along_byte_for_byte_and_verify_at_the_end(scene: Scene, name: str) -> None:
    sig_tag = signature_tag(scene.digests[name])
    signatures = get_manifest(scene.plain, f'copy/{name}', sig_tag)
    assert signatures is not None
    assert layout_raw_manifest(scene.layout(f'transfer-{name}'), sig_tag) == signatures
    assert get_manifest(scene.basic, f'mirror/{name}', sig_tag) == signatures
    if name in PULLED:
        pulled = succeeded(scene.results[f'{name}: pull the final copy'])
        assert pulled['image']['index_digest' if name == 'index' else 'digest'] == scene.digests[name]


def test_info_names_the_key_that_signed_the_final_copy(scene: Scene) -> None:
    described = succeeded(scene.results['index: describe the final copy'])
    assert described['image']['index_digest'] == scene.digests['index']
    assert [signature['key'] for signature in described['signatures']] == [key_id(scene.keys['ci.pub'])]


def test_a_second_copy_changes_and_uploads_nothing(scene: Scene) -> None:
    again = succeeded(scene.results['oci: again'])
    assert not again['changed']
    assert (again['digest'], again['blobs_copied'], again['blobs_mounted'], again['signatures_copied']) == (scene.digests['oci'], 0, 0, 0)


def test_a_copy_without_signatures_leaves_them_behind(scene: Scene) -> None:
    plain = succeeded(scene.results['compat: unsigned into the same layout'])
    assert plain['changed']
    assert plain['signatures_copied'] == 0
    # The layout had every blob from the signed copy of the same image.
    assert plain['blobs_copied'] == 0
    assert plain['blobs_skipped'] > 0
    assert OciLayout(str(scene.layout('transfer-compat'))).find('plain')['digest'] == scene.digests['compat']


def test_a_copy_within_one_registry_mounts_every_blob(scene: Scene) -> None:
    promoted = succeeded(scene.results['oci: promote within the registry'])
    manifest = json.loads(raw_manifest(scene.plain, 'copy/oci', 'v1'))
    signatures = json.loads(t.cast(bytes, get_manifest(scene.plain, 'copy/oci', signature_tag(scene.digests['oci']))))
    # The oci variant's config and its runtime-config layer are the same blob.
    blobs = len({blob['digest'] for document in (manifest, signatures) for blob in [document['config'], *document['layers']]})
    assert (promoted['blobs_copied'], promoted['blobs_mounted'], promoted['signatures_copied']) == (0, blobs, 1)
    assert sha256(raw_manifest(scene.plain, 'promoted/oci', 'v1')) == scene.digests['oci']


def test_check_mode_predicts_and_writes_nothing_and_diff_names_both_digests(scene: Scene, ansible_environment: dict[str, str]) -> None:
    result = succeeded(run_module(*copy_task(scene.src('compat'), scene.mirror('guarded'), scene), ansible_environment,
                                  check_mode=True, diff=True))
    assert result['changed']
    assert result['digest'] == scene.digests['compat']
    assert result['diff'] == {
        'before': {'digest': scene.digests['guarded'], 'signatures': None},
        'after': {'digest': scene.digests['compat'], 'signatures': sha256(t.cast(bytes, get_manifest(
            scene.plain, 'copy/compat', signature_tag(scene.digests['compat']))))},
    }
    assert sha256(raw_manifest(scene.basic, 'mirror/guarded', 'v1')) == scene.digests['guarded']
    assert get_manifest(scene.basic, 'mirror/guarded', signature_tag(scene.digests['compat'])) is None


def test_a_blob_with_wrong_bytes_is_refused_and_the_dest_tag_stays(scene: Scene) -> None:
    result = scene.results['corrupt: onto a tag of the second registry']
    layer = scene.corrupted
    assert result['failed']
    assert f'Blob {layer} of oci:' in result['msg'], result['msg']
    assert 'has digest' in result['msg'], result['msg']
    assert sha256(raw_manifest(scene.basic, 'mirror/guarded', 'v1')) == scene.digests['guarded']
    assert registry_request(scene.basic, 'HEAD', f'/v2/mirror/guarded/blobs/{layer}').status_code == 404
    assert get_manifest(scene.basic, 'mirror/guarded', scene.digests['oci']) is None
