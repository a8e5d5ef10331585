"""Every form of Wasm image that tools in the wild write, pulled and inspected through Ansible from a real registry.

The forms (and which tool writes each, and why it looks so) are in harness/wild_images.py. Each is PUT into
``registry_plain`` byte for byte and read by tag and by digest: of the index, and of the child manifest the reader
chooses. A module that ORAS pushed without a media type is also pushed by the ORAS Python SDK itself. Then
wasm_image_info must tell the truth: an ordinary container image is not a Wasm image, two different ``plugin.wasm``
are refused, and a compat layer is verified against its digest before its root IDs are reported.

Starting Ansible costs seconds of CPU, so the images are put once for the whole file and every pull and info runs
as a task of one playbook (harness/playbook.py); the tests then check the results they are about.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import platform
import typing as t

import oras.provider
import pytest
import requests

from harness.module_runner import run_module
from harness.playbook import run_tasks
from harness.registries import Registry
from harness.wild_images import FORMS, OCI_MANIFEST, OCI_TAR, TITLE, WildImage, container, platform_index, put_image, sha256, tar_of

# The smallest valid module, made distinct per form so that no two images share a blob in the registry.
MODULE_HEAD = b'\0asm\x01\0\0\0'
RUNTIME = json.dumps({'type': 'envoy_proxy', 'abiVersions': ['proxy_abi_version_0_2_1'], 'config': {'root_ids': ['wild_root']}}).encode()
# What the reader chooses in a linux/amd64 + linux/arm64 index on this machine (as Go names platform.machine()).
HOST_ARCHITECTURE = {'x86_64': 'amd64', 'amd64': 'amd64', 'aarch64': 'arm64', 'arm64': 'arm64'}.get(platform.machine().lower())
INDEX_FORMS = ('buildx', 'manifest-list')
VARIANTS = {'wasm-to-oci': 'oci', 'oras-1x': 'oci', 'oras-untyped': 'oci'}
ORAS_SDK_REPOSITORY = 'wild/oras-sdk-untyped'
TAMPERED_REPOSITORY = 'wild/tampered'


def module_for(name: str) -> bytes:
    """A valid module (magic, version, one custom section) whose bytes name the image."""
    custom = b'\x04wild' + name.encode()
    return MODULE_HEAD + b'\x00' + bytes([len(custom)]) + custom


def info(reference: str) -> tuple[str, dict[str, t.Any]]:
    return 'wasm_image_info', {'name': reference, 'plain_http': True, 'timeout': 10}


def pull(reference: str, dest: pathlib.Path) -> tuple[str, dict[str, t.Any]]:
    return 'wasm_image_pull', {'name': reference, 'dest': str(dest), 'plain_http': True, 'timeout': 10}


@dataclasses.dataclass(frozen=True)
class PutForm:
    module: bytes
    root: str
    chosen: str
    dest: pathlib.Path


@dataclasses.dataclass
class Wild:
    """What the module fixture put into the registry, and every task result of the one playbook, by task name."""

    forms: dict[str, PutForm] = dataclasses.field(default_factory=dict)
    tasks: dict[str, tuple[str, dict[str, t.Any]]] = dataclasses.field(default_factory=dict)
    results: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)


def _put_forms(wild: Wild, registry: Registry, workdir: pathlib.Path) -> None:
    for form, make in FORMS.items():
        if form in INDEX_FORMS and HOST_ARCHITECTURE is None:
            continue
        module = module_for(form)
        image = WildImage()
        children = make(image, module)
        repository = f'wild/{form}'
        root = put_image(registry, repository, '1', image)
        put = PutForm(module, root, children[HOST_ARCHITECTURE] if form in INDEX_FORMS else root, workdir / form / 'filter.wasm')
        put.dest.parent.mkdir()
        wild.forms[form] = put
        wild.tasks[f'{form}: pull by tag'] = pull(registry.ref(f'{repository}:1'), put.dest)
        for digest in dict.fromkeys([put.root, put.chosen]):
            wild.tasks[f'{form}: info by digest {digest}'] = info(registry.ref(f'{repository}@{digest}'))


def _put_refused_images(wild: Wild, registry: Registry, workdir: pathlib.Path) -> None:
    image = WildImage()
    container(image, [('bin/sh', b'#!/bin/sh\n'), ('etc/runtime-config.json', RUNTIME)], manifest_type=OCI_MANIFEST)
    put_image(registry, 'wild/busybox-like', '1', image)
    wild.tasks['busybox-like: info'] = info(registry.ref('wild/busybox-like:1'))
    wild.tasks['busybox-like: pull'] = pull(registry.ref('wild/busybox-like:1'), workdir / 'busybox-like.wasm')

    image = WildImage()
    container(image, [('plugin.wasm', module_for('first')), ('runtime-config.json', RUNTIME), ('opt/plugin.wasm', module_for('second'))])
    put_image(registry, 'wild/ambiguous', '1', image)
    wild.tasks['ambiguous: info'] = info(registry.ref('wild/ambiguous:1'))
    wild.tasks['ambiguous: pull'] = pull(registry.ref('wild/ambiguous:1'), workdir / 'ambiguous.wasm')

    image = WildImage()
    platform_index(image, module_for('nested'), docker=False, attestations=False)
    inner_type, inner = image.root
    image.manifest('application/vnd.oci.image.index.v1+json', {
        'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
        'manifests': [{'mediaType': inner_type, 'digest': sha256(inner), 'size': len(inner), 'platform': {'os': 'linux', 'architecture': 'amd64'}}],
    })
    put_image(registry, 'wild/nested', '1', image)
    wild.tasks[f'nested: info, inner {sha256(inner)}'] = info(registry.ref('wild/nested:1'))


def _push_with_the_oras_sdk(wild: Wild, registry: Registry, workdir: pathlib.Path) -> None:
    """``Registry.push(files=['plugin.wasm'])``: a file with no ``:type``, as ``oras push`` without one."""
    upload = workdir / 'oras-upload'
    upload.mkdir()
    (upload / 'plugin.wasm').write_bytes(module_for('oras-sdk'))
    oras.provider.Registry(hostname=registry.host, insecure=True).push(
        target=registry.ref(f'{ORAS_SDK_REPOSITORY}:1'), files=[str(upload / 'plugin.wasm')], disable_path_validation=True, quiet=True)
    served = requests.get(f'{registry.url}/v2/{ORAS_SDK_REPOSITORY}/manifests/1', headers={'Accept': OCI_MANIFEST}, timeout=10)
    digest = served.headers['Docker-Content-Digest']
    dest = workdir / 'oras-sdk' / 'filter.wasm'
    dest.parent.mkdir()
    wild.tasks['oras-sdk: pull by tag'] = pull(registry.ref(f'{ORAS_SDK_REPOSITORY}:1'), dest)
    wild.tasks['oras-sdk: pull by digest into the same dest'] = pull(registry.ref(f'{ORAS_SDK_REPOSITORY}@{digest}'), dest)
    wild.tasks['oras-sdk: info by tag'] = info(registry.ref(f'{ORAS_SDK_REPOSITORY}:1'))
    wild.tasks['oras-sdk: info by digest'] = info(registry.ref(f'{ORAS_SDK_REPOSITORY}@{digest}'))


@pytest.fixture(scope='module')
def wild(registry_plain: Registry, ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Wild:
    workdir = tmp_path_factory.mktemp('wild')
    found = Wild()
    _put_forms(found, registry_plain, workdir)
    _put_refused_images(found, registry_plain, workdir)
    _push_with_the_oras_sdk(found, registry_plain, workdir)
    image = WildImage()
    container(image, [('runtime-config.json', RUNTIME), ('plugin.wasm', module_for('tampered'))], manifest_type=OCI_MANIFEST,
              layer_type=OCI_TAR, compress=False)
    put_image(registry_plain, TAMPERED_REPOSITORY, '1', image)
    found.tasks['tampered: info before the change'] = info(registry_plain.ref(f'{TAMPERED_REPOSITORY}:1'))
    found.results = run_tasks(found.tasks, ansible_environment, workdir)
    return found


def assert_failed_cleanly(result: dict[str, t.Any], phrase: str) -> None:
    assert result['failed'], f'expected a failure, got {result}'
    assert 'MODULE FAILURE' not in result.get('msg', ''), f'the module crashed: {result}'
    assert 'module_stderr' not in result, f'the module crashed: {result}'
    assert phrase in result['msg'], result['msg']


def assert_describes(result: dict[str, t.Any], digest: str, variant: str, module: bytes) -> None:
    assert not result['failed'], result
    assert result['exists'] is True
    assert (result['image']['digest'], result['image']['variant']) == (digest, variant)
    assert result['image']['wasm'] == {'digest': sha256(module), 'size': len(module)}
    assert result['image']['runtime']['root_ids'] == []


@pytest.mark.parametrize('form', list(FORMS))
def test_wild_form_is_pulled_and_described_by_tag_and_digest(form: str, wild: Wild) -> None:
    if form not in wild.forms:
        pytest.skip(f'the index offers linux/amd64 and linux/arm64, not {platform.machine()}')
    put = wild.forms[form]
    pulled = wild.results[f'{form}: pull by tag']
    assert not pulled['failed'], pulled
    assert put.dest.read_bytes() == put.module
    assert pulled['image']['digest'] == put.chosen
    assert pulled['image']['index_digest'] == (put.root if form in INDEX_FORMS else None)
    for digest in dict.fromkeys([put.root, put.chosen]):
        assert_describes(wild.results[f'{form}: info by digest {digest}'], put.chosen, VARIANTS.get(form, 'compat'), put.module)


def test_module_the_oras_sdk_pushed_without_a_media_type_is_pulled_and_described(registry_plain: Registry, wild: Wild) -> None:
    """The SDK labels the module a plain tar layer under ORAS's "{}" config; the reader goes by its bytes, checked once."""
    module = module_for('oras-sdk')
    served = requests.get(f'{registry_plain.url}/v2/{ORAS_SDK_REPOSITORY}/manifests/1', headers={'Accept': OCI_MANIFEST}, timeout=10)
    manifest = served.json()
    assert manifest['config']['mediaType'] == 'application/vnd.unknown.config.v1+json'
    assert 'artifactType' not in manifest
    assert [(layer['mediaType'], layer['annotations'][TITLE]) for layer in manifest['layers']] == [(OCI_TAR, 'plugin.wasm')]
    digest = served.headers['Docker-Content-Digest']

    pulled = wild.results['oras-sdk: pull by tag']
    assert not pulled['failed'], pulled
    assert pulled['changed'] is True
    assert (pulled['image']['digest'], pulled['image']['variant']) == (digest, 'oci')
    again = wild.results['oras-sdk: pull by digest into the same dest']
    assert not again['failed'], again
    assert again['changed'] is False, again
    assert pathlib.Path(wild.tasks['oras-sdk: pull by tag'][1]['dest']).read_bytes() == module
    for name in ('oras-sdk: info by tag', 'oras-sdk: info by digest'):
        assert_describes(wild.results[name], digest, 'oci', module)


def test_ordinary_container_image_is_not_a_wasm_image_for_info_or_pull(wild: Wild) -> None:
    described, pulled = wild.results['busybox-like: info'], wild.results['busybox-like: pull']
    assert_failed_cleanly(described, 'is not a Wasm image: it has tar layers, but none holds a plugin.wasm')
    assert 'exists' not in described
    assert_failed_cleanly(pulled, described['msg'])
    assert not pathlib.Path(wild.tasks['busybox-like: pull'][1]['dest']).exists()


def test_two_different_plugin_wasm_are_refused_naming_both(wild: Wild) -> None:
    for name in ('ambiguous: info', 'ambiguous: pull'):
        assert_failed_cleanly(wild.results[name], 'two different plugin.wasm files, plugin.wasm in layer sha256:')
        assert 'and opt/plugin.wasm in layer sha256:' in wild.results[name]['msg']


def test_nested_index_is_refused_naming_the_nesting(wild: Wild) -> None:
    name = next(name for name in wild.results if name.startswith('nested: info'))
    inner = name.rsplit(' ', 1)[1]
    assert_failed_cleanly(wild.results[name], f'chose {inner} (platform linux/amd64), which is itself an index: nested indexes are not followed')


def test_info_verifies_a_compat_layer_before_reporting_its_root_ids(registry_plain: Registry, registry_workdir: pathlib.Path,
                                                                    ansible_environment: dict[str, str], wild: Wild) -> None:
    """The registry serves a layer changed after its runtime config: info must fail, not report the root IDs."""
    described = wild.results['tampered: info before the change']
    assert not described['failed'], described
    assert described['image']['runtime']['root_ids'] == ['wild_root']

    module = module_for('tampered')
    layer = tar_of([('runtime-config.json', RUNTIME), ('plugin.wasm', module)])
    hex_digest = hashlib.sha256(layer).hexdigest()
    stored = registry_workdir / 'plain' / 'storage' / 'docker' / 'registry' / 'v2' / 'blobs' / 'sha256' / hex_digest[:2] / hex_digest / 'data'
    tampered = layer.replace(module, module[:-1] + bytes([module[-1] ^ 0xFF]))
    stored.write_bytes(tampered)
    assert_failed_cleanly(run_module(*info(registry_plain.ref(f'{TAMPERED_REPOSITORY}:1')), ansible_environment),
                          f'has digest {sha256(tampered)}, not the sha256:{hex_digest}')
