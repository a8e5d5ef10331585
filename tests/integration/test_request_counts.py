"""What a run that changes nothing costs the registry: its requests and blob bytes, read from Distribution's access log.

A no-op pull (without verify_keys) asks for the manifest and nothing else: the record beside dest proves the rest,
for either variant, so not even the config blob is read. A no-op push looks the tag up and stops. With Basic auth
each is preceded by the registry's 401 challenge. A digest-pinned image that dest holds needs no request at all.
The images are built and pushed with the library (fast); the runs that are counted go through Ansible.
"""

from __future__ import annotations

import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._image.builder import build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.push import layout_descriptor, push
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import OciLayout, store_image
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import connect, registry_argument_spec

from harness.access_log import AccessEntry, AccessLog
from harness.module_runner import run_module
from harness.registries import Registry

TAG = 'v1'
VARIANTS = ('oci', 'compat')


class Published(t.NamedTuple):
    registry: Registry
    log: AccessLog
    layout: pathlib.Path
    repository: str  # host/name, without the tag
    digest: str


def _requests_during(log: AccessLog, action: t.Callable[[], object]) -> list[AccessEntry]:
    """The requests the registry logged while ``action`` ran (and until its log stopped growing)."""
    mark = log.mark()
    action()
    return log.since(mark)


def _blob_bytes(requests: list[AccessEntry]) -> int:
    return int(AccessLog.count(requests)['blob_bytes'])


def _publish(registry: Registry, log: AccessLog, layout: pathlib.Path, module: bytes, variant: str, name: str) -> Published:
    image = build_image(variant, module, RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_2_1',), ('add_header',)), {})
    store_image(str(layout), TAG, image.descriptor, image.layout_blobs)
    params = {option: spec.get('default') for option, spec in registry_argument_spec().items()}
    params.update(plain_http=True, username=registry.username, password=registry.password)
    reference = parse_reference(registry.ref(f'{name}:{TAG}'))
    oci_layout = OciLayout(str(layout))
    push(oci_layout, TAG, layout_descriptor(oci_layout, TAG), connect(reference, params, lambda args, data: (1, b'', b'')))
    return Published(registry, log, layout, registry.ref(name), image.digest)


@pytest.fixture(scope='module')
def published(registry_plain: Registry, registry_basic: Registry, registry_workdir: pathlib.Path, sample_filter: pathlib.Path,
              tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Published]:
    """The sample filter as an oci and a compat image in registry_plain, and as oci in registry_basic; keyed by
    (registry kind, variant)."""
    module = sample_filter.read_bytes()
    root = tmp_path_factory.mktemp('request-counts')
    found = {}
    for registry, variants in ((registry_plain, VARIANTS), (registry_basic, ('oci',))):
        for variant in variants:
            log = AccessLog(registry_workdir / registry.kind / 'registry.log')
            found[(registry.kind, variant)] = _publish(registry, log, root / f'{registry.kind}-{variant}', module, variant, f'counts/{variant}')
    return found


def _pull(image: Published, dest: pathlib.Path, environment: dict[str, str], name: str | None = None) -> dict[str, t.Any]:
    args = {'name': name or f'{image.repository}:{TAG}', 'dest': str(dest), 'plain_http': True}
    if image.registry.username:
        args.update(username=image.registry.username, password=image.registry.password)
    result = run_module('wasm_image_pull', args, environment)
    assert not result['failed'], result
    return result


def _push(image: Published, environment: dict[str, str]) -> dict[str, t.Any]:
    args = {'name': image.repository, 'layout': str(image.layout), 'tag': TAG, 'plain_http': True}
    if image.registry.username:
        args.update(username=image.registry.username, password=image.registry.password)
    result = run_module('wasm_image_push', args, environment)
    assert not result['failed'], result
    return result


@pytest.mark.parametrize('variant', VARIANTS)
def test_a_no_op_pull_is_one_manifest_request_and_no_blob(published: dict[tuple[str, str], Published], variant: str,
                                                          ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    image = published[('plain', variant)]
    dest = tmp_path / 'filter.wasm'
    first = _requests_during(image.log, lambda: _pull(image, dest, ansible_environment))
    assert _blob_bytes(first) > 0, 'the first pull downloads the module'

    again: dict[str, t.Any] = {}
    requests = _requests_during(image.log, lambda: again.update(_pull(image, dest, ansible_environment)))
    assert again['changed'] is False
    assert again['image']['runtime']['root_ids'] == ['add_header'], 'the image is described from the record'
    assert [(request.method, request.path, request.status) for request in requests] == [
        ('GET', f'/v2/counts/{variant}/manifests/{TAG}', 200)]
    assert _blob_bytes(requests) == 0


@pytest.mark.parametrize('variant', VARIANTS)
def test_a_pinned_image_that_dest_holds_needs_no_request(published: dict[tuple[str, str], Published], variant: str,
                                                         ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    image = published[('plain', variant)]
    dest = tmp_path / 'filter.wasm'
    pinned = f'{image.repository}@{image.digest}'
    _pull(image, dest, ansible_environment, pinned)
    again: dict[str, t.Any] = {}
    assert _requests_during(image.log, lambda: again.update(_pull(image, dest, ansible_environment, pinned))) == []
    assert again['changed'] is False


@pytest.mark.parametrize('variant', VARIANTS)
def test_a_no_op_push_is_one_request(published: dict[tuple[str, str], Published], variant: str,
                                     ansible_environment: dict[str, str]) -> None:
    image = published[('plain', variant)]
    pushed: dict[str, t.Any] = {}
    requests = _requests_during(image.log, lambda: pushed.update(_push(image, ansible_environment)))
    assert pushed['changed'] is False
    assert [(request.method, request.path, request.status) for request in requests] == [
        ('HEAD', f'/v2/counts/{variant}/manifests/{TAG}', 200)]


def test_with_basic_auth_a_no_op_pull_and_push_add_only_the_challenge(published: dict[tuple[str, str], Published],
                                                                      ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    image = published[('basic', 'oci')]
    dest = tmp_path / 'filter.wasm'
    _pull(image, dest, ansible_environment)
    manifest = f'/v2/counts/oci/manifests/{TAG}'

    pull_requests = _requests_during(image.log, lambda: _pull(image, dest, ansible_environment))
    assert [(request.method, request.path, request.status) for request in pull_requests] == [('GET', manifest, 401), ('GET', manifest, 200)]
    push_requests = _requests_during(image.log, lambda: _push(image, ansible_environment))
    assert [(request.method, request.path, request.status) for request in push_requests] == [('HEAD', manifest, 401), ('HEAD', manifest, 200)]
