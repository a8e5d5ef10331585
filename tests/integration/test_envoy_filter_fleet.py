"""The envoy_filter role across a fleet: three Envoy hosts in network namespaces, reached over real SSH.

v1 then v2 roll out with ``serial: 1`` while a bounded load loop keeps sending requests;
no request may fail and no Envoy may restart. A module Envoy refuses is rolled back on
the first host, and the play stops before the others.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import threading
import time

import requests

from harness.envoy import HEADER
from harness.fleet import Fleet, FleetHost
from harness.module_runner import publish
from harness.registries import Registry

ADMIN_PORT = 9901
LISTENER_PORT = 10000
LOAD_LIMIT_SECONDS = 120
LOAD_LIMIT_REQUESTS = 20000
DEPLOY_TASK = 'TASK [wasm.oci.envoy_filter : Apply the filter set in one transaction, confirmed by Envoy or undone]'


class LoadLoop(threading.Thread):
    """Requests to every host's listener in turn, bounded in count and time, until stopped."""

    def __init__(self, hosts: list[FleetHost]) -> None:
        super().__init__(daemon=True)
        self.urls = [f'http://{host.address}:{LISTENER_PORT}/' for host in hosts]
        self.headers: set[str | None] = set()
        self.failures: list[str] = []
        self.count = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + LOAD_LIMIT_SECONDS
        session = requests.Session()
        while not self._stopping.is_set() and self.count < LOAD_LIMIT_REQUESTS and time.monotonic() < deadline:
            url = self.urls[self.count % len(self.urls)]
            self.count += 1
            try:
                response = session.get(url, timeout=5)
            except requests.RequestException as exc:
                self.failures.append(f'{url}: {exc}')
                continue
            if response.status_code != 200:
                self.failures.append(f'{url}: HTTP {response.status_code}')
            self.headers.add(response.headers.get(HEADER))

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)


def _recap(output: str) -> list[str]:
    return [line for line in output.splitlines() if 'changed=' in line and 'ok=' in line]


def _host_files(fleet: Fleet, directories: tuple[str, ...] = ('etc/envoy', 'var/lib/envoy/wasm')) -> dict[str, bytes]:
    """Every file the role manages on every host, by path: Envoy's files and the module store."""
    return {str(path): path.read_bytes() for host in fleet.hosts for directory in directories
            for path in sorted((host.root / directory).rglob('*')) if path.is_file()}


def _header(host: FleetHost) -> str | None:
    response = requests.get(f'http://{host.address}:{LISTENER_PORT}/', timeout=5)
    assert response.status_code == 200, response.text
    return response.headers.get(HEADER)


def test_fleet_rollout(fleet: Fleet, envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],
                       registry_plain: Registry, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    repository = f'{registry_plain.host}/filters/fleet'
    images = {name: publish(str(modules[name]), name, repository, ansible_environment, str(tmp_path / 'layout')) for name in ('v1', 'v2', 'newer_host')}
    environment = fleet.ansible_environment(ansible_environment)
    playbook = tmp_path / 'fleet.yml'
    playbook.write_text(
        '- hosts: envoys\n  serial: 1\n  max_fail_percentage: 0\n  gather_facts: false\n'
        '  roles: [wasm.oci.envoy_filter]\n', encoding='utf-8')

    def rollout(image: str, *options: str) -> subprocess.CompletedProcess:
        variables = {
            'envoy_filter_filters': [{'name': 'add_header', 'image': image}],
            'envoy_filter_registry': {'plain_http': True},
            'envoy_filter_controller_cache': str(tmp_path / 'cache'),
            'envoy_filter_config_dir': '{{ fleet_root }}/etc/envoy',
            'envoy_filter_wasm_dir': '{{ fleet_root }}/var/lib/envoy/wasm',
            'envoy_filter_admin_address': f'127.0.0.1:{ADMIN_PORT}',
            'envoy_filter_listener_address': f'{{{{ fleet_address }}}}:{LISTENER_PORT}',
            'envoy_filter_manage_bootstrap': True,
            'envoy_filter_binary': str(envoy_binary),
            'envoy_filter_verify_timeout': 10,
        }
        variables_file = tmp_path / 'fleet-vars.json'
        variables_file.write_text(json.dumps(variables), encoding='utf-8')
        return subprocess.run(['ansible-playbook', '-i', str(fleet.inventory_path), str(playbook), '-e', f'@{variables_file}', *options],
                              env=environment, capture_output=True, text=True, check=False, timeout=600)

    first = rollout(images['v1'])
    assert first.returncode == 0, first.stdout + first.stderr
    envoys = {}
    for index, host in enumerate(fleet.hosts):
        bootstrap = host.root / 'etc' / 'envoy' / 'envoy.yaml'
        envoys[host.name] = fleet.start_in(host, [str(envoy_binary), '-c', str(bootstrap), '--concurrency', '1',
                                                  '--base-id', str(3000 + index), '-l', 'warn'], name=f'envoy-{host.name}')
        fleet.wait_for_port(host, LISTENER_PORT, process=envoys[host.name], timeout=20)
    pids = {name: process.pid for name, process in envoys.items()}

    # Check and diff mode: every host reports the change it would make, and nothing is written.
    state_before = _host_files(fleet)
    preview = rollout(images['v2'], '--check', '--diff')
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert all(int(line.split('changed=')[1].split()[0]) > 0 for line in _recap(preview.stdout)), _recap(preview.stdout)
    assert preview.stdout.count('+++ after: ') >= len(fleet.hosts)
    assert '"filename": "' in preview.stdout
    assert _host_files(fleet) == state_before
    assert {_header(host) for host in fleet.hosts} == {'add_header'}

    load = LoadLoop(fleet.hosts)
    load.start()
    try:
        second = rollout(images['v2'])
    finally:
        load.stop()
    assert second.returncode == 0, second.stdout + second.stderr
    assert load.count > 0, load.failures[:10]
    assert load.failures == [], load.failures[:10]
    assert load.headers <= {'add_header', 'add_header_v2'}
    assert 'add_header_v2' in load.headers
    assert {name: process.pid for name, process in envoys.items() if process.alive()} == pids

    again = rollout(images['v2'])
    assert again.returncode == 0, again.stdout
    recap = _recap(again.stdout)
    assert len(recap) == len(fleet.hosts), recap
    assert all('changed=0' in line for line in recap), recap

    # The first host's Envoy rejects the module: every file of that host is put back, and the play stops there. (The
    # module stays in its store, unused, until the next run prunes it.)
    config_before = _host_files(fleet, ('etc/envoy',))
    rejected = rollout(images['newer_host'])
    assert rejected.returncode != 0
    assert 'Envoy rejected the new config of filter add_header' in rejected.stdout
    assert 'Envoy logs why just before \\"Unable to create Wasm plugin add_header\\"' in rejected.stdout
    assert 'every file was put back as it was and Envoy serves the previous config' in rejected.stdout
    assert _host_files(fleet, ('etc/envoy',)) == config_before
    assert {_header(host) for host in fleet.hosts} == {'add_header_v2'}
    untouched = [line for line in rejected.stdout.splitlines() if line.startswith(DEPLOY_TASK)]
    assert len(untouched) == 1, 'the play must stop after the first host rejects the update'
    assert {name: process.pid for name, process in envoys.items() if process.alive()} == pids
