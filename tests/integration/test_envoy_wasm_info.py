"""envoy_wasm_info against a real Envoy 1.40 and filters the envoy_filter role rolled out from a real registry.

One Envoy runs a bootstrap of the user's with two filters the role manages, one ECDS file written by hand and one
Wasm filter inline in its listener. Info reports each managed filter's image, manifest digest and module digest,
confirmed by Envoy's own version, counters and Wasm stats; an ECDS file edited in place (which Envoy does not load)
and one Envoy rejected show as changed on disk; the file and the inline filter the role did not write show as
unmanaged; an expected filter the host lacks is missing; a stopped Envoy gives the filters from disk. The shipped
playbook prints the fleet table, with a filter on another image than expected as different_image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import subprocess
import typing as t

import pytest
import requests

from harness.envoy import Envoy, free_port
from harness.module_runner import publish, run_module
from harness.registries import Registry
from harness.rollouts import PublishedRollout, ecds_entry, user_bootstrap

MODULE = 'envoy_wasm_info'
REPOSITORY = 'filters/info-add-header'
HTTP_WASM = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm'
MANIFEST_TYPES = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
CHANGED = 'config_changed_on_disk_not_loaded'


@dataclasses.dataclass(frozen=True)
class Image:
    reference: str
    digest: str


def _info(rollout: PublishedRollout, check_mode: bool = False, **options: t.Any) -> dict[str, t.Any]:
    arguments = {'config_dir': str(rollout.config_dir), 'admin_address': f'127.0.0.1:{rollout.admin_port}', **options}
    result = run_module(MODULE, arguments, rollout.environment, check_mode=check_mode)
    assert not result['failed'], result
    assert result['changed'] is False, result
    return result


@dataclasses.dataclass
class Deployed:
    """The rolled-out host: Envoy running, and what info said while Envoy was still stopped."""

    rollout: PublishedRollout
    envoy: Envoy
    images: dict[str, Image]
    module_digests: dict[str, str]
    while_stopped: dict[str, t.Any]

    def info(self, check_mode: bool = False, **options: t.Any) -> dict[str, t.Any]:
        return _info(self.rollout, check_mode, **options)


def _manifest_digest(registry: Registry, reference: str) -> str:
    """The digest of the manifest ``reference`` names, read from the registry itself."""
    repository, tag = reference[len(registry.host) + 1:].rsplit(':', 1)
    response = requests.get(f'{registry.url}/v2/{repository}/manifests/{tag}', headers={'Accept': MANIFEST_TYPES}, timeout=10)
    response.raise_for_status()
    return 'sha256:' + hashlib.sha256(response.content).hexdigest()


def _filters(result: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    return {entry['name']: entry for entry in result['filters']}


def _inline_wasm(module: pathlib.Path) -> dict[str, t.Any]:
    """An HTTP filter entry with the Wasm config in the bootstrap itself, as people write one without this collection."""
    return {'name': 'inline_wasm', 'typed_config': {'@type': HTTP_WASM, 'config': {
        'name': 'inline_plugin', 'root_id': 'add_header',
        'vm_config': {'vm_id': 'inline', 'runtime': 'envoy.wasm.runtime.v8', 'code': {'local': {'filename': str(module)}}}}}}


def _by_hand(module: pathlib.Path) -> str:
    """An ECDS file as a person writes one, with a version_info of their own."""
    typed_config = _inline_wasm(module)['typed_config']
    typed_config['config']['name'] = 'by_hand'
    return json.dumps({'version_info': 'by-hand-1', 'resources': [{
        '@type': 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig', 'name': 'by_hand', 'typed_config': typed_config}]})


@pytest.fixture(scope='module')
def deployed(envoy_binary: pathlib.Path, sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, registry_plain: Registry,
             ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Deployed]:
    workdir = tmp_path_factory.mktemp('envoy-wasm-info')
    references = {name: publish(str(path), name, registry_plain.ref(REPOSITORY), ansible_environment, str(workdir / 'layout'))
                  for name, path in (('v1', sample_filter), ('v2', sample_filter_v2))}
    images = {name: Image(reference, _manifest_digest(registry_plain, reference)) for name, reference in references.items()}
    rollout = PublishedRollout(envoy_binary, references, ansible_environment, workdir, envoy_filter_manage_bootstrap=False)
    rollout.config_dir.mkdir()
    (rollout.config_dir / 'envoy.yaml').write_text(user_bootstrap(
        rollout.admin_port, rollout.listener_port, *(ecds_entry(name, rollout.ecds(name)) for name in ('a', 'b', 'by_hand')),
        _inline_wasm(sample_filter)), encoding='utf-8')

    # Rolled out while Envoy is stopped: written, not confirmed yet.
    stopped = rollout.run(*rollout.filter_set(('a', 'v1'), ('b', 'v1')))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    while_stopped = _info(rollout)

    rollout.ecds('by_hand').write_text(_by_hand(sample_filter), encoding='utf-8')
    envoy = rollout.start_envoy()
    try:
        # b moves to v2 while Envoy runs: Envoy confirms it, and confirms a, written while it was stopped.
        updated = rollout.run(*rollout.filter_set(('a', 'v1'), ('b', 'v2')))
        assert updated.returncode == 0, updated.stdout + updated.stderr
        module_digests = {name: 'sha256:' + hashlib.sha256(path.read_bytes()).hexdigest() for name, path in (('v1', sample_filter), ('v2', sample_filter_v2))}
        yield Deployed(rollout, envoy, images, module_digests, while_stopped)
    finally:
        envoy.stop()


def _envoy_stat(envoy: Envoy, filter_name: str, name: str) -> str:
    return envoy.stats()[f'extension_config_discovery.http_filter.{filter_name}.{name}'].strip('"')


def test_after_a_rollout_info_reports_images_digests_and_envoys_confirmation(deployed: Deployed) -> None:
    v1, v2 = deployed.images['v1'], deployed.images['v2']
    pinned = f'{v2.reference.rsplit(":", 1)[0]}@{v2.digest}'
    result = deployed.info(check_mode=True, expected=[{'name': 'a', 'image': v1.reference}, {'name': 'b', 'image': pinned},
                                                      {'name': 'gone', 'image': v1.reference}])
    filters = _filters(result)
    assert list(filters) == ['a', 'b', 'by_hand', 'inline_wasm', 'gone'], result
    assert (filters['gone']['drift'], filters['gone']['expected_image'], filters['gone']['envoy']) == ('missing', v1.reference, None)
    assert filters['b']['expected_image'] == pinned, 'the expected digest is the one Envoy runs'
    for name, version in (('a', 'v1'), ('b', 'v2')):
        entry = filters[name]
        image = deployed.images[version]
        assert entry['image'] == {'reference': image.reference, 'digest': image.digest}, entry
        assert entry['module_digest'] == deployed.module_digests[version]
        assert (entry['type'], entry['confirmed'], entry['drift'], entry['drift_reason']) == ('http', True, 'in_sync', None), entry
        assert entry['file'] == str(deployed.rollout.ecds(name))
        # What Envoy reports, as Envoy's own stats say it.
        assert entry['envoy']['version'] == _envoy_stat(deployed.envoy, name, 'version_text')
        assert entry['envoy']['version'].startswith(f'{image.reference} {image.digest} ')
        assert entry['envoy']['image'] == entry['image']
        assert entry['envoy']['loaded']
        assert entry['envoy']['same_as_file']
        assert entry['envoy']['update_success'] == int(_envoy_stat(deployed.envoy, name, 'update_success'))
        assert entry['envoy']['update_rejected'] == 0
        assert entry['envoy']['ecds_stats']['update_attempt'] >= 1
        assert entry['envoy']['last_updated'].endswith('Z')
        assert set(entry['envoy']['plugin_stats']) == {'vm_reload', 'vm_reload_backoff', 'vm_reload_failure', 'vm_reload_success'}
    assert filters['b']['envoy']['update_success'] == 2, 'v1 when Envoy started, then v2'
    envoy = result['envoy']
    assert (envoy['available'], envoy['error'], envoy['node_id']) == (True, None, 'ingress')
    assert envoy['config_path'] == str(deployed.rollout.config_dir / 'envoy.yaml')
    assert '/1.40.' in envoy['version']
    assert envoy['wasm_runtime_stats']['v8.active'] >= 1
    assert envoy['wasm_runtime_stats']['v8.created'] >= 1

    # What the role did not write: an ECDS file by hand, which Envoy runs, and a Wasm filter inline in the listener.
    by_hand, inline = filters['by_hand'], filters['inline_wasm']
    assert (by_hand['drift'], by_hand['confirmed'], by_hand['image']['reference']) == ('unmanaged', False, None)
    assert by_hand['envoy']['loaded']
    assert by_hand['envoy']['version'] == 'by-hand-1'
    assert by_hand['envoy']['same_as_file']
    assert by_hand['module_digest'] == deployed.module_digests['v1']
    assert (inline['drift'], inline['file'], inline['envoy']['loaded']) == ('unmanaged', None, True)
    assert inline['drift_reason'].startswith('Envoy runs Wasm filter inline_wasm from inline in a listener')
    assert set(inline['envoy']['plugin_stats']) >= {'vm_reload_failure'}, 'the plugin is named inline_plugin'
    assert result['table'][0].split() == ['a', v1.reference, v1.digest[:19], 'in_sync']
    assert result['table'][-1].split() == ['gone', '-', '-', 'missing', '(expected', f'{v1.reference})']


@contextlib.contextmanager
def _put_back(path: pathlib.Path, envoy: Envoy, filter_name: str) -> t.Iterator[bytes]:
    """The file's bytes; afterwards the file as it was, moved into place so Envoy runs it again."""
    original = path.read_bytes()
    try:
        yield original
    finally:
        before = int(_envoy_stat(envoy, filter_name, 'update_success'))
        spare = path.with_name('.put-back')
        spare.write_bytes(original)
        os.replace(spare, path)
        envoy.wait_for(lambda: int(_envoy_stat(envoy, filter_name, 'update_success')) > before, f'Envoy running {path} again')


def test_files_changed_on_disk_are_drift(deployed: Deployed) -> None:
    path = deployed.rollout.ecds('a')
    with _put_back(path, deployed.envoy, 'a') as original:
        # Edited in place, as an editor that rewrites the file does: Envoy only reloads a file moved into place.
        document = json.loads(original)
        document['resources'][0]['typed_config']['config']['root_id'] = 'edited_by_hand'
        with path.open('r+', encoding='utf-8') as stream:
            stream.write(json.dumps(document, indent=2))
            stream.truncate()
        edited = _filters(deployed.info())['a']
        assert (edited['drift'], edited['confirmed'], edited['envoy']['same_as_file']) == (CHANGED, False, False), edited
        assert edited['drift_reason'] == f'{path} was changed by hand after envoy_wasm_filters wrote it; Envoy has not loaded it'
        assert edited['envoy']['version'] == json.loads(original)['version_info'], 'Envoy still runs the rollout'

        # Moved into place with a module that does not exist: Envoy rejects it and keeps running the rollout.
        rejected_before = int(_envoy_stat(deployed.envoy, 'a', 'update_rejected'))
        document['resources'][0]['typed_config']['config']['vm_config']['code']['local']['filename'] = '/nonexistent/module.wasm'
        spare = path.with_name('.edited')
        spare.write_text(json.dumps(document), encoding='utf-8')
        os.replace(spare, path)
        deployed.envoy.wait_for(lambda: int(_envoy_stat(deployed.envoy, 'a', 'update_rejected')) > rejected_before, 'the rejection')
        rejected = _filters(deployed.info())['a']
        assert (rejected['drift'], rejected['confirmed'], rejected['envoy']['same_as_file']) == (CHANGED, False, False), rejected
        assert rejected['envoy']['update_rejected'] == rejected_before + 1
        assert rejected['envoy']['last_file_rejected'] is True
        assert rejected['drift_reason'] == (f'{path} was changed by hand after envoy_wasm_filters wrote it; Envoy rejected it '
                                            '(see update_rejected) and runs the config from before')
        # Envoy's config dump shows the rejected file; its stats show it still runs the rollout.
        assert rejected['envoy']['version'] == json.loads(original)['version_info'] == _envoy_stat(deployed.envoy, 'a', 'version_text')
        assert deployed.envoy.header() is not None


def test_envoy_stopped_gives_the_filters_from_disk(deployed: Deployed) -> None:
    result = deployed.while_stopped
    assert result['envoy']['available'] is False
    assert result['envoy']['error'].startswith(f'nothing listens on 127.0.0.1:{deployed.rollout.admin_port}')
    filters = _filters(result)
    assert list(filters) == ['a', 'b']
    for entry in filters.values():
        assert entry['image'] == {'reference': deployed.images['v1'].reference, 'digest': deployed.images['v1'].digest}
        assert (entry['envoy'], entry['confirmed'], entry['drift']) == (None, False, CHANGED), entry
        assert 'written by envoy_wasm_filters while Envoy did not confirm it' in entry['drift_reason']
    assert all(line.endswith(', Envoy not answering') for line in result['table'])


def test_the_shipped_playbook_prints_one_fleet_table(deployed: Deployed) -> None:
    inventory = deployed.rollout.workdir / 'fleet.json'
    host_vars = {'ansible_connection': 'local', 'ansible_python_interpreter': deployed.rollout.environment['ANSIBLE_PYTHON_INTERPRETER'],
                 'envoy_filter_config_dir': str(deployed.rollout.config_dir)}
    inventory.write_text(json.dumps({'all': {'hosts': {
        'edge-running': dict(host_vars, envoy_filter_admin_address=f'127.0.0.1:{deployed.rollout.admin_port}'),
        'edge-stopped': dict(host_vars, envoy_filter_admin_address=f'127.0.0.1:{free_port()}'),
    }}}), encoding='utf-8')
    # The fleet should run v1 everywhere: b, on v2, is on another image.
    expected = json.dumps({'fleet_expected': [{'name': 'a', 'image': deployed.images['v1'].reference},
                                              {'name': 'b', 'image': deployed.images['v1'].reference}]})
    completed = subprocess.run(['ansible-playbook', 'wasm.oci.fleet_status', '-i', str(inventory), '-e', expected],
                               env=deployed.rollout.environment, capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = completed.stdout
    start = output.index('{', output.index('TASK [Print one table for the fleet]'))
    table = json.loads(output[start:output.index('\n}\n', start) + 2])['msg']
    assert table[0].split() == ['HOST', 'FILTER', 'IMAGE', 'DIGEST', 'STATE']
    rows = {(row.split()[0], row.split()[1]): row for row in table[1:]}
    assert list(rows) == [(host, name) for host in ('edge-running', 'edge-stopped') for name in ('a', 'b', 'by_hand', 'inline_wasm')
                          if host == 'edge-running' or name != 'inline_wasm']
    v1, v2 = deployed.images['v1'], deployed.images['v2']
    assert rows['edge-running', 'a'].split() == ['edge-running', 'a', v1.reference, v1.digest[:19], 'in_sync']
    assert rows['edge-running', 'b'].split()[2:4] == [v2.reference, v2.digest[:19]]
    assert rows['edge-running', 'b'].endswith(f'different_image (expected {v1.reference})')
    assert rows['edge-stopped', 'a'].endswith('in_sync, Envoy not answering')
    image_column = table[0].index('IMAGE')
    assert all(row[image_column - 1] == ' ' and row[image_column:].split()[0] == row.split()[2] for row in table[1:]), 'columns line up'
