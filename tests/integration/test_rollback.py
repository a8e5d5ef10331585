"""Fleet rollback (issue 11) with real Envoys, a real registry and real ansible-playbook runs.

Two inventory hosts on this machine, each with directories, ports and an Envoy of its own, get v1 and then v2 of the
filter from the role, both confirmed by Envoy. With the registry down (a front before it failing every request, and
logging it), the shipped playbook wasm.oci.rollback puts v1 back on every host: Envoy serves it and confirms it, and
the registry is asked nothing. A second run finds nothing to roll back. A rollback whose module is gone is refused
before anything changes, and one Envoy rejects leaves every file of the host as it was, Envoy serving v2 throughout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import typing as t

import pytest

from harness.envoy import NEWER_HOST_FILTER, STAT_PREFIX, Envoy, contents, free_port, snapshot, wat2wasm
from harness.playbook import run_tasks
from harness.registries import FaultyFront, Registry
from harness.role import local_role_vars

HOSTS = ('edge-a', 'edge-b')
FILTER = 'add_header'
REPOSITORY = 'filters/rollback'
HEADERS = {'v1': 'add_header', 'v2': 'add_header_v2'}
ROLLBACK_TASK = 'TASK [wasm.oci.envoy_filter : Roll the filters back to their previous versions, confirmed by Envoy or undone]'
PULL_TASKS = ('Pull each image once', 'Pull the images only some hosts use', 'Pull each image on the host')
# Fails every request to the registry, so that any attempt shows in its log and fails.
EVERY_REQUEST = 10 ** 9


@dataclasses.dataclass
class Fleet:
    """The two hosts: their inventory, the role's variables for them (vars.json), their Envoys, and the registry's front."""

    workdir: pathlib.Path
    environment: dict[str, str]
    front: FaultyFront
    images: dict[str, str]
    ports: dict[str, tuple[int, int]]
    envoys: dict[str, Envoy] = dataclasses.field(default_factory=dict)

    @property
    def inventory(self) -> pathlib.Path:
        return self.workdir / 'inventory.json'

    @property
    def variables(self) -> pathlib.Path:
        return self.workdir / 'vars.json'

    def config_dir(self, host: str) -> pathlib.Path:
        return self.workdir / host / 'etc-envoy'

    def wasm_dir(self, host: str) -> pathlib.Path:
        return self.workdir / host / 'wasm-store'

    def ecds(self, host: str) -> pathlib.Path:
        return self.config_dir(host) / 'ecds' / f'{FILTER}.yaml'

    def previous(self, host: str) -> pathlib.Path:
        return self.ecds(host).with_name(f'{FILTER}.yaml.previous')

    def playbook(self, playbook: str, *options: str) -> subprocess.CompletedProcess:
        return subprocess.run(['ansible-playbook', '-i', str(self.inventory), playbook, '-e', f'@{self.variables}', *options],
                              env=self.environment, capture_output=True, text=True, check=False, timeout=300)

    def roll_out(self, version: str) -> None:
        rollout = self.workdir / 'rollout.yml'
        rollout.write_text('- hosts: all\n  gather_facts: false\n  roles: [wasm.oci.envoy_filter]\n', encoding='utf-8')
        done = self.playbook(str(rollout), '-e', json.dumps({'envoy_filter_filters': [{'name': FILTER, 'image': self.images[version]}]}))
        assert done.returncode == 0, done.stdout + done.stderr

    def roll_back(self, *options: str) -> subprocess.CompletedProcess:
        """The shipped playbook, with -v so that each host's result shows."""
        return self.playbook('wasm.oci.rollback', '-v', *options)

    def serving(self, host: str) -> tuple[str | None, str]:
        """The header the filter adds to an answer of the host's listener, and the version Envoy reports for the filter."""
        envoy = self.envoys[host]
        # Envoy's text stats quote text readouts.
        return envoy.header(), envoy.stats()[STAT_PREFIX + 'version_text'].strip('"')

    def version(self, host: str, previous: bool = False) -> str:
        return json.loads((self.previous(host) if previous else self.ecds(host)).read_text(encoding='utf-8'))['version_info']


def _rollback_results(output: str) -> dict[str, dict[str, t.Any]]:
    """Each host's result of the role's rollback task in the output of a run with -v."""
    section = output.split(ROLLBACK_TASK, 1)[1].split('\nTASK [', 1)[0]
    return {match[2]: json.JSONDecoder().raw_decode(section[match.end() - 1:])[0]
            for match in re.finditer(r'^(ok|changed|fatal): \[([^\]]+)\].* => \{', section, re.MULTILINE)}


def _ran(output: str, tasks: t.Sequence[str]) -> set[str]:
    """Those of the role's ``tasks`` that ran (or failed) on some host, rather than being skipped."""
    sections = {section.split(']', 1)[0]: section for section in output.split('\nTASK [wasm.oci.envoy_filter : ')[1:]}
    return {task for task in tasks if re.search(r'^(ok|changed|fatal|failed): ', sections.get(task, ''), re.MULTILINE)}


def _recap(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines() if 'changed=' in line and 'ok=' in line}


def _publish(registry: Registry, workdir: pathlib.Path, modules: dict[str, pathlib.Path], environment: dict[str, str]) -> None:
    tasks: dict[str, tuple[str, dict[str, t.Any]]] = {}
    for version, module in modules.items():
        layout = str(workdir / f'layout-{version}')
        tasks[f'{version}: build'] = ('wasm_image_build', {'src': str(module), 'layout': layout, 'tag': version, 'root_ids': [FILTER]})
        tasks[f'{version}: push'] = ('wasm_image_push', {'layout': layout, 'tag': version, 'name': registry.ref(REPOSITORY), 'plain_http': True})
    results = run_tasks(tasks, environment, workdir)
    assert not [name for name, result in results.items() if result['failed']], results


@pytest.fixture(scope='module')
def fleet(envoy_binary: pathlib.Path, sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, registry_plain: Registry,
          ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Fleet]:
    """Both hosts at v2, the swap from v1 confirmed by their Envoys, so each keeps v1 as its previous version."""
    workdir = tmp_path_factory.mktemp('rollback')
    _publish(registry_plain, workdir, {'v1': sample_filter, 'v2': sample_filter_v2}, ansible_environment)
    # The hosts reach the registry through the front only.
    front = FaultyFront(registry_plain, workdir / 'front.log', fail_first=0).start()
    images = {version: f'{front.registry.ref(REPOSITORY)}:{version}' for version in ('v1', 'v2')}
    serving = Fleet(workdir, ansible_environment, front, images, {host: (free_port(), free_port()) for host in HOSTS})
    serving.inventory.write_text(json.dumps({'all': {'hosts': {
        host: {'ansible_connection': 'local', 'admin_port': admin, 'listener_port': listener}
        for host, (admin, listener) in serving.ports.items()}}}), encoding='utf-8')
    # What a user's vars.yml holds: the role's variables, here each host's own directories and ports.
    serving.variables.write_text(json.dumps(local_role_vars(
        workdir, str(envoy_binary), 0, 0, envoy_filter_manage_bootstrap=True,
        envoy_filter_config_dir=f'{workdir}/{{{{ inventory_hostname }}}}/etc-envoy',
        envoy_filter_wasm_dir=f'{workdir}/{{{{ inventory_hostname }}}}/wasm-store',
        envoy_filter_admin_address='127.0.0.1:{{ admin_port }}', envoy_filter_listener_address='127.0.0.1:{{ listener_port }}',
        envoy_filter_filters=[{'name': FILTER, 'image': images['v1']}])), encoding='utf-8')
    try:
        # Written while no Envoy runs; the Envoys start on the bootstraps the role wrote, and confirm v1 in the next run.
        serving.roll_out('v1')
        for host, (admin, listener) in serving.ports.items():
            serving.envoys[host] = Envoy(envoy_binary, serving.config_dir(host) / 'envoy.yaml', workdir / f'envoy-{host}.log', admin, listener)
        for envoy in serving.envoys.values():
            envoy.wait_ready()
        serving.roll_out('v2')
        yield serving
    finally:
        for envoy in serving.envoys.values():
            envoy.stop()
        front.stop()


@pytest.fixture
def at_v2(fleet: Fleet) -> Fleet:
    """The fleet at v2 with v1 kept as the previous version (rolled out again if a test rolled it back), registry up."""
    fleet.front.arm(0)
    if not all(fleet.previous(host).exists() for host in HOSTS):
        fleet.roll_out('v2')
    for host in HOSTS:
        assert fleet.serving(host) == (HEADERS['v2'], fleet.version(host))
        assert fleet.version(host, previous=True).startswith(fleet.images['v1'] + ' sha256:')
    return fleet


def _module_of(ecds: pathlib.Path) -> pathlib.Path:
    document = json.loads(ecds.read_text(encoding='utf-8'))
    return pathlib.Path(document['resources'][0]['typed_config']['config']['vm_config']['code']['local']['filename'])


def test_a_refused_rollback_leaves_each_host_as_it_was(at_v2: Fleet) -> None:
    """edge-a's previous version lost its module: refused before anything changes. edge-b's previous version names a module
    Envoy cannot load: Envoy rejects it, and every file is put back. Both keep serving v2."""
    fleet = at_v2
    module = _module_of(fleet.previous('edge-a'))
    aside = fleet.workdir / 'module-aside.wasm'
    shutil.move(module, aside)
    newer_host = wat2wasm(NEWER_HOST_FILTER, fleet.workdir / 'newer_host.wasm')
    stored = fleet.wasm_dir('edge-b') / (hashlib.sha256(newer_host.read_bytes()).hexdigest() + '.wasm')
    shutil.copyfile(newer_host, stored)
    kept = fleet.previous('edge-b').read_bytes()
    document = json.loads(kept)
    document['resources'][0]['typed_config']['config']['vm_config']['code']['local']['filename'] = str(stored)
    mode = fleet.previous('edge-b').stat().st_mode
    fleet.previous('edge-b').write_text(json.dumps(document), encoding='utf-8')
    os.chmod(fleet.previous('edge-b'), mode)
    try:
        untouched = snapshot(fleet.config_dir('edge-a'), fleet.wasm_dir('edge-a'))
        files = contents(fleet.config_dir('edge-b'))
        rejected = fleet.envoys['edge-b'].counter('update_rejected')
        refused = fleet.roll_back()
        assert refused.returncode != 0, refused.stdout
        results = _rollback_results(refused.stdout)

        message = results['edge-a']['msg']
        assert message.startswith(f'Cannot roll back filter {FILTER} to {fleet.images["v1"]} (sha256:'), message
        assert f'the module {module} that version loads is missing' in message, message
        assert 'nothing was changed' in message, message
        assert snapshot(fleet.config_dir('edge-a'), fleet.wasm_dir('edge-a')) == untouched

        message = results['edge-b']['msg']
        assert message.startswith(f'Envoy rejected the new config of filter {FILTER}, rolled back to {fleet.images["v1"]} (sha256:'), message
        assert message.endswith('every file was put back as it was and Envoy serves the previous config'), message
        assert fleet.envoys['edge-b'].counter('update_rejected') == rejected + 1
        assert contents(fleet.config_dir('edge-b')) == files
        assert not (fleet.config_dir('edge-b') / '.wasm-oci-unconfirmed.json').exists()
        for host in HOSTS:
            assert fleet.serving(host) == (HEADERS['v2'], fleet.version(host))
    finally:
        shutil.move(aside, module)
        fleet.previous('edge-b').write_bytes(kept)
        stored.unlink()


def test_with_the_registry_down_every_host_serves_its_previous_version_again(at_v2: Fleet) -> None:
    fleet = at_v2
    versions = {host: (fleet.version(host), fleet.version(host, previous=True)) for host in HOSTS}
    counters = {host: (fleet.envoys[host].counter('update_success'), fleet.envoys[host].counter('update_rejected')) for host in HOSTS}
    fleet.front.arm(EVERY_REQUEST)
    asked = len(fleet.front.log)
    cache = snapshot(fleet.workdir / 'cache')

    # Check and diff mode: each host shows v2 -> v1 and nothing changes.
    files = {host: snapshot(fleet.config_dir(host), fleet.wasm_dir(host)) for host in HOSTS}
    preview = fleet.roll_back('--check', '--diff')
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert preview.stdout.count(f'filter {FILTER}: {fleet.images["v2"]} (sha256:') == len(HOSTS), preview.stdout
    assert {host: snapshot(fleet.config_dir(host), fleet.wasm_dir(host)) for host in HOSTS} == files

    rolled_back = fleet.roll_back()
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    # No pull ran, and the registry was asked nothing.
    assert _ran(rolled_back.stdout, PULL_TASKS) == set()
    assert len(fleet.front.log) == asked
    assert snapshot(fleet.workdir / 'cache') == cache
    results = _rollback_results(rolled_back.stdout)
    for host in HOSTS:
        current, previous = versions[host]
        assert fleet.serving(host) == (HEADERS['v1'], previous)
        accepted, rejected = counters[host]
        assert (fleet.envoys[host].counter('update_success'), fleet.envoys[host].counter('update_rejected')) == (accepted + 1, rejected)
        assert not fleet.previous(host).exists()
        result = results[host]
        assert result['changed'], result
        assert result['verified'], result
        assert result['msg'] == f'Rolled back: {FILTER}', result
        [report] = result['filters']
        assert report['confirmed']
        assert report['changed']
        assert report['rolled_back_from'] == {'reference': fleet.images['v2'], 'digest': current.split()[1]}
        assert report['rolled_back_to'] == report['image'] == {'reference': fleet.images['v1'], 'digest': previous.split()[1]}

    # The version rolled back from is not kept: a second run changes nothing instead of flipping back.
    again = fleet.roll_back()
    assert again.returncode == 0, again.stdout + again.stderr
    recap = _recap(again.stdout)
    assert all('changed=0' in recap[host] for host in HOSTS), recap
    results = _rollback_results(again.stdout)
    for host in HOSTS:
        assert results[host]['verified'], results[host]
        assert results[host]['filters'][0]['message'].startswith('nothing to roll back'), results[host]
        assert fleet.serving(host)[0] == HEADERS['v1']
    assert len(fleet.front.log) == asked
