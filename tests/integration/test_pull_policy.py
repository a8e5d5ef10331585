"""wasm_image_pull's pull policy against a real registry, behind a front that counts (and, when armed, fails) every request;
images named ``oci:<layout>:<tag>``; and module_defaults for group/wasm.oci.registry on every module of the collection.

A digest-pinned image whose module dest already holds needs no registry at all (if_not_present, the default for a digest),
so a registry outage fails no run that changes nothing; a tag is asked for on every run (always, the default for a tag).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import typing as t

import pytest

from harness.envoy import Envoy, free_port
from harness.module_runner import publish, run_module
from harness.registries import FaultyFront, Registry
from harness.role import local_role_vars, recap_changed, run_role

# Enough faults for every request a pull could make (retries included).
EVERY_REQUEST = 10 ** 6
FILTER = 'add_header'
REPOSITORY = 'filters/pull-policy'


def _pull(environment: dict[str, str], name: str, dest: pathlib.Path, *, check_mode: bool = False, **options: t.Any) -> dict[str, t.Any]:
    return run_module('wasm_image_pull', dict({'name': name, 'dest': str(dest), 'plain_http': True, 'timeout': 2}, **options),
                      environment, check_mode=check_mode)


def _record(dest: pathlib.Path) -> pathlib.Path:
    return dest.parent / f'.{dest.name}.wasm-oci.json'


class Published(t.NamedTuple):
    front: FaultyFront
    tag: str  # repository:tag behind the front
    pinned: str  # repository@manifest digest behind the front
    digest: str


@pytest.fixture(scope='module')
def manifest_digest(sample_filter: pathlib.Path, registry_plain: Registry, ansible_environment: dict[str, str],
                    tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sample filter as REPOSITORY:v1 in registry_plain, pushed once for the module; its manifest digest."""
    publish(str(sample_filter), 'v1', f'{registry_plain.host}/{REPOSITORY}', ansible_environment, str(tmp_path_factory.mktemp('published')))
    described = run_module('wasm_image_info', {'name': f'{registry_plain.host}/{REPOSITORY}:v1', 'plain_http': True}, ansible_environment)
    assert not described['failed'], described
    return described['image']['digest']


@pytest.fixture
def published(manifest_digest: str, faulty_front: t.Callable[..., FaultyFront]) -> Published:
    """That image named through a front before registry_plain that passes every request on until it is armed; its
    faults say Retry-After: 0, so that retries cost no time."""
    front = faulty_front(0, retry_after=0)
    repository = f'{front.registry.host}/{REPOSITORY}'
    return Published(front, f'{repository}:v1', f'{repository}@{manifest_digest}', manifest_digest)


def test_a_pinned_image_already_in_dest_makes_no_request_and_survives_an_outage(
        published: Published, sample_filter: pathlib.Path, registry_down: Registry, ansible_environment: dict[str, str],
        tmp_path: pathlib.Path) -> None:
    dest = tmp_path / 'filter.wasm'
    first = _pull(ansible_environment, published.pinned, dest)
    assert first['changed'], first
    assert not first['failed'], first
    assert published.front.log, 'the first pull went to the registry'
    inode, record = dest.stat().st_ino, _record(dest).read_bytes()

    published.front.arm(EVERY_REQUEST)
    requests_before = len(published.front.log)
    again = _pull(ansible_environment, published.pinned, dest)
    assert not again['failed'], again
    assert again['changed'] is False, again
    assert again['image']['reference'] == published.pinned
    assert again['image']['digest'] == published.digest
    assert again['image']['wasm'] == first['image']['wasm']
    assert again['image']['runtime']['root_ids'] == [FILTER]
    checked = _pull(ansible_environment, published.pinned, dest, check_mode=True)
    assert not checked['failed'], checked
    assert checked['changed'] is False, checked
    assert len(published.front.log) == requests_before, published.front.log[requests_before:]
    assert dest.stat().st_ino == inode
    assert dest.read_bytes() == sample_filter.read_bytes()
    assert _record(dest).read_bytes() == record

    # The same manifest through a registry address where nothing listens at all.
    elsewhere = f'{registry_down.host}/{REPOSITORY}@{published.digest}'
    down = _pull(ansible_environment, elsewhere, dest)
    assert not down['failed'], down
    assert down['changed'] is False, down
    assert down['image']['reference'] == elsewhere, down


def test_a_pinned_image_whose_dest_changed_is_pulled_again(published: Published, sample_filter: pathlib.Path,
                                                           ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    dest = tmp_path / 'filter.wasm'
    assert not _pull(ansible_environment, published.pinned, dest)['failed']
    dest.write_bytes(b'\0asm\1\0\0\0 tampered')

    # The re-hash disagrees with the record: the registry is asked, and while it fails so does the pull, leaving dest alone.
    published.front.arm(EVERY_REQUEST)
    refused = _pull(ansible_environment, published.pinned, dest)
    assert refused['failed'], refused
    assert dest.read_bytes() == b'\0asm\1\0\0\0 tampered', refused

    published.front.arm(0)
    requests_before = len(published.front.log)
    repaired = _pull(ansible_environment, published.pinned, dest)
    assert repaired['changed'], repaired
    assert not repaired['failed'], repaired
    assert dest.read_bytes() == sample_filter.read_bytes()
    assert len(published.front.log) > requests_before


def test_a_tag_is_asked_for_on_every_run_unless_if_not_present(published: Published, ansible_environment: dict[str, str],
                                                               tmp_path: pathlib.Path) -> None:
    dest = tmp_path / 'filter.wasm'
    assert not _pull(ansible_environment, published.tag, dest)['failed']

    requests_before = len(published.front.log)
    unchanged = _pull(ansible_environment, published.tag, dest, pull_policy='always')
    assert unchanged['changed'] is False, unchanged
    assert not unchanged['failed'], unchanged
    assert any(method in ('GET', 'HEAD') and '/manifests/v1' in path for method, path, status in published.front.log[requests_before:])

    published.front.arm(EVERY_REQUEST)
    requests_before = len(published.front.log)
    failed = _pull(ansible_environment, published.tag, dest)
    assert failed['failed'], failed
    assert len(published.front.log) > requests_before, failed

    # Asked for explicitly, if_not_present keeps what dest holds of the tag without asking.
    requests_before = len(published.front.log)
    kept = _pull(ansible_environment, published.tag, dest, pull_policy='if_not_present')
    assert not kept['failed'], kept
    assert kept['changed'] is False, kept
    assert kept['image']['digest'] == published.digest, kept
    assert len(published.front.log) == requests_before


def test_an_oci_name_pulls_from_the_layout(sample_filter: pathlib.Path, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    layout = tmp_path / 'layout'
    built = run_module('wasm_image_build', {'src': str(sample_filter), 'layout': str(layout), 'tag': '1.0.0', 'root_ids': [FILTER]},
                       ansible_environment)
    assert not built['failed'], built
    digest = built['image']['digest']
    module_digest = 'sha256:' + hashlib.sha256(sample_filter.read_bytes()).hexdigest()

    for name in (f'oci:{layout}:1.0.0', f'oci:{layout}@{digest}'):
        dest = tmp_path / f'{name.rsplit("@", 1)[-1].rsplit(":", 1)[-1]}.wasm'
        pulled = _pull(ansible_environment, name, dest)
        assert pulled['changed'], pulled
        assert not pulled['failed'], pulled
        assert pulled['image']['reference'] == name
        assert pulled['image']['digest'] == digest
        assert pulled['image']['wasm']['digest'] == module_digest
        assert dest.read_bytes() == sample_filter.read_bytes()

    missing_tag = _pull(ansible_environment, f'oci:{layout}', tmp_path / 'x.wasm')
    assert missing_tag['failed'], missing_tag
    assert 'names no tag of a local OCI layout; write oci:<layout path>:<tag>' in missing_tag['msg'], missing_tag
    missing_layout = _pull(ansible_environment, f'oci:{tmp_path}/nothing:1.0.0', tmp_path / 'x.wasm')
    assert missing_layout['failed'], missing_layout
    assert f'OCI layout {tmp_path}/nothing does not exist' in missing_layout['msg'], missing_layout
    assert not (tmp_path / 'x.wasm').exists()


@pytest.mark.parametrize('pull_on', ['controller', 'host'])
def test_the_role_converges_with_the_registry_down_for_pinned_images(pull_on: str, published: Published, envoy_binary: pathlib.Path,
                                                                     ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    admin_port, listener_port = free_port(), free_port()
    role_vars = local_role_vars(tmp_path, str(envoy_binary), admin_port, listener_port, envoy_filter_manage_bootstrap=True,
                                envoy_filter_pull_on=pull_on)

    def rollout(image: str) -> subprocess.CompletedProcess:
        return run_role(dict(role_vars, envoy_filter_filters=[{'name': FILTER, 'image': image}]), ansible_environment, tmp_path)

    first = rollout(published.pinned)
    assert first.returncode == 0, first.stdout + first.stderr
    if pull_on == 'controller':
        # Content-addressed by the manifest digest the reference pins.
        assert [path.name for path in (tmp_path / 'cache').glob('*.wasm')] == [f'{published.digest.split(":")[1]}.wasm']
    envoy = Envoy(envoy_binary, tmp_path / 'etc-envoy' / 'envoy.yaml', tmp_path / 'envoy.log', admin_port, listener_port)
    try:
        envoy.wait_ready()
        assert envoy.header() == FILTER
        published.front.arm(EVERY_REQUEST)
        requests_before = len(published.front.log)
        again = rollout(published.pinned)
        assert again.returncode == 0, again.stdout + again.stderr
        assert recap_changed(again.stdout) == 0, again.stdout + again.stderr
        assert len(published.front.log) == requests_before, published.front.log[requests_before:]
        assert envoy.header() == FILTER

        # A tag is asked for, and fails the run while the registry is down; Envoy keeps its filter.
        tagged = rollout(published.tag)
        assert tagged.returncode != 0, tagged.stdout
        assert len(published.front.log) > requests_before, tagged.stdout
        assert envoy.header() == FILTER
    finally:
        envoy.stop()


MODULE_DEFAULTS_PLAY = """\
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/wasm.oci.registry:
      plain_http: true
      timeout: 10
      validate_certs: false
  tasks:
    - name: Build
      wasm.oci.wasm_image_build:
        src: {src}
        layout: {layout}
        tag: v1
        root_ids: [add_header]
    - name: Push
      wasm.oci.wasm_image_push:
        layout: {layout}
        tag: v1
        name: {repository}
    - name: Pull
      wasm.oci.wasm_image_pull:
        name: {repository}:v1
        dest: {dest}
      register: pulled
    - name: Describe
      wasm.oci.wasm_image_info:
        name: {repository}:v1
      register: described
    - name: Roll out (check mode)
      check_mode: true
      wasm.oci.envoy_wasm_filters:
        config_dir: {config_dir}
        wasm_dir: {wasm_dir}
        filters: [{{name: add_header, image: "{repository}:v1"}}]
        host_pulls: ["{{{{ pulled }}}}"]
        managed_bootstrap: {{node_id: edge}}
        admin_address: 127.0.0.1:{admin_port}
      register: planned
    - name: Keep what the modules returned
      ansible.builtin.copy:
        content: "{{{{ {{'digest': described.image.digest, 'pulled': pulled.image.digest, 'planned': planned.changed}} | to_json }}}}"
        dest: {results}
        mode: "0600"
"""


def test_module_defaults_for_the_registry_group_fit_every_module(sample_filter: pathlib.Path, registry_plain: Registry,
                                                                 ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    playbook = tmp_path / 'module-defaults.yml'
    playbook.write_text(MODULE_DEFAULTS_PLAY.format(
        src=sample_filter, layout=tmp_path / 'layout', repository=f'{registry_plain.host}/filters/module-defaults',
        dest=tmp_path / 'pulled.wasm', config_dir=tmp_path / 'etc-envoy', wasm_dir=tmp_path / 'wasm-store', admin_port=free_port(),
        results=tmp_path / 'results.json',
    ), encoding='utf-8')
    completed = subprocess.run(['ansible-playbook', '-i', 'localhost,', str(playbook)], env=ansible_environment, capture_output=True,
                               text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads((tmp_path / 'results.json').read_text(encoding='utf-8'))
    assert result['digest'] == result['pulled'], result
    assert result['digest'].startswith('sha256:'), result
    assert result['planned'] is True, result
    assert not list((tmp_path / 'etc-envoy').rglob('*.yaml'))
    assert not (tmp_path / 'wasm-store').exists()
