"""The canary playbook (wasm.oci.canary) and the metric gate (wasm.oci.envoy_wasm_gate), against three real Envoys on this
machine, filters from a real registry, and steady traffic to every host all along.

Three inventory hosts (local connection, directories, ports and an Envoy each) start on v1 of the sample filter. A canary
in batches [1, 1, "100%"] gives the first host a good v2, and the second a filter that answers every request with a local
503: its gate fails, the play fails, both hosts serve v1 again, and the third host is never touched and never fails a
request. An image missing for the second batch stops the canary before any host changes. A canary of v2 everywhere passes
every gate. The gate module alone shows what it does with too little traffic,
in check mode, and with a plugin that crashes under FAIL_RELOAD, which makes Envoy's Wasm failure counters rise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import subprocess
import threading
import time
import typing as t

import pytest
import requests

from harness.envoy import HEADER, REPO_ROOT, Envoy, free_port, snapshot, wat2wasm
from harness.module_runner import run_module
from harness.playbook import run_tasks
from harness.registries import Registry

HOSTS = ('canary-1', 'canary-2', 'canary-3')
FILTER = 'add_header'
V1, V2 = 'add_header', 'add_header_v2'  # the header value each version adds
GATE = {'seconds': 2, 'max_5xx_ratio': 0.05, 'max_wasm_failures': 0, 'min_requests': 5}
FILTERS_DIR = pathlib.Path(os.environ.get('WASM_OCI_FILTERS', REPO_ROOT / '.build' / 'filters'))
GATE_TASK = "TASK [wasm.oci.envoy_filter : Watch Envoy's metrics for the gate's window]"
TRAFFIC_PAUSE = 0.05
TRAFFIC_LIMIT_SECONDS = 240

# A plugin that traps on every request. Under FAIL_RELOAD Envoy reloads its VM, and counts each request that finds it failed.
TRAPPING_FILTER = """\
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable)
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32)))
"""


@dataclasses.dataclass
class Host:
    name: str
    root: pathlib.Path
    admin_port: int
    listener_port: int
    envoy: Envoy | None = None

    @property
    def host_vars(self) -> dict[str, t.Any]:
        return {'ansible_connection': 'local', 'envoy_filter_config_dir': str(self.root / 'etc-envoy'),
                'envoy_filter_wasm_dir': str(self.root / 'wasm-store'), 'envoy_filter_admin_address': f'127.0.0.1:{self.admin_port}',
                'envoy_filter_listener_address': f'127.0.0.1:{self.listener_port}'}

    def files(self) -> dict[str, t.Any]:
        return snapshot(self.root / 'etc-envoy', self.root / 'wasm-store')

    def serving(self) -> str:
        """The header the filter adds to an answer of this host's listener."""
        response = requests.get(f'http://127.0.0.1:{self.listener_port}/', timeout=2)
        assert self.envoy is not None, f'{self.name}: {response.status_code} {response.text}'
        assert response.status_code == 200, f'{self.name}: {response.status_code} {response.text}'
        return response.headers.get(HEADER, '')


@dataclasses.dataclass
class Fleet:
    workdir: pathlib.Path
    hosts: dict[str, Host]
    images: dict[str, str]
    environment: dict[str, str]
    shared_vars: dict[str, t.Any]

    def run(self, playbook: str, filters: dict[str, str], **extra_vars: t.Any) -> subprocess.CompletedProcess:
        """``playbook`` with the image of each host's filter in its host variables, the rest in ``-e @vars.json``."""
        inventory = {'all': {'hosts': {name: dict(host.host_vars, envoy_filter_filters=[{'name': FILTER, 'image': self.images[filters[name]]}])
                                       for name, host in self.hosts.items()}}}
        (self.workdir / 'inventory.json').write_text(json.dumps(inventory), encoding='utf-8')
        (self.workdir / 'vars.json').write_text(json.dumps(dict(self.shared_vars, **extra_vars)), encoding='utf-8')
        return subprocess.run(['ansible-playbook', playbook, '-i', str(self.workdir / 'inventory.json'), '-e', f'@{self.workdir / "vars.json"}'],
                              env=self.environment, capture_output=True, text=True, check=False, timeout=300)

    def canary(self, filters: dict[str, str], batches: list[int | str]) -> subprocess.CompletedProcess:
        return self.run('wasm.oci.canary', filters, envoy_filter_gate=GATE, canary_batches=batches)


@pytest.fixture(scope='module')
def fleet(registry_plain: Registry, sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, envoy_binary: pathlib.Path,
          ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Fleet]:
    """Three hosts, each with its Envoy on v1 of the sample filter, rolled out by the role."""
    workdir = tmp_path_factory.mktemp('canary')
    always_503 = FILTERS_DIR / 'always_503.wasm'
    if not always_503.is_file():
        pytest.fail(f'{always_503} is missing: run the integration suite through `make integration`, which compiles it')
    repository = f'{registry_plain.host}/filters/canary'
    modules = {'v1': (sample_filter, FILTER), 'v2': (sample_filter_v2, FILTER), 'always-503': (always_503, 'always_503')}
    tasks: dict[str, tuple[str, dict[str, t.Any]]] = {}
    for tag, (module, root_id) in modules.items():
        layout = str(workdir / f'layout-{tag}')
        tasks[f'{tag}: build'] = ('wasm_image_build', {'src': str(module), 'layout': layout, 'tag': tag, 'root_ids': [root_id]})
        tasks[f'{tag}: push'] = ('wasm_image_push', {'layout': layout, 'tag': tag, 'name': repository, 'plain_http': True})
    published = run_tasks(tasks, ansible_environment, workdir)
    assert not [name for name, result in published.items() if result['failed']], published
    hosts = {name: Host(name, workdir / name, free_port(), free_port()) for name in HOSTS}
    shared_vars = {'envoy_filter_registry': {'plain_http': True}, 'envoy_filter_controller_cache': str(workdir / 'cache'),
                   'envoy_filter_manage_bootstrap': True, 'envoy_filter_binary': str(envoy_binary), 'envoy_filter_verify_timeout': 10}
    images = dict({tag: f'{repository}:{tag}' for tag in modules}, missing=f'{repository}:never-pushed')
    serving = Fleet(workdir, hosts, images, ansible_environment, shared_vars)
    playbook = workdir / 'rollout.yml'
    playbook.write_text('- hosts: all\n  gather_facts: false\n  roles: [wasm.oci.envoy_filter]\n', encoding='utf-8')
    # Nothing runs yet: the role writes each host's bootstrap, and its Envoy starts on it.
    first = serving.run(str(playbook), dict.fromkeys(HOSTS, 'v1'))
    assert first.returncode == 0, first.stdout + first.stderr
    try:
        for host in hosts.values():
            host.envoy = Envoy(envoy_binary, host.root / 'etc-envoy' / 'envoy.yaml', host.root / 'envoy.log', host.admin_port, host.listener_port)
        for host in hosts.values():
            t.cast(Envoy, host.envoy).wait_ready()
        yield serving
    finally:
        for host in hosts.values():
            if host.envoy is not None:
                host.envoy.stop()


class Traffic(threading.Thread):
    """GETs to every host's listener in turn, about 15 a second each, recording each answer: the filter's header for a 200,
    else the status or the error."""

    def __init__(self, hosts: t.Iterable[Host]) -> None:
        super().__init__(daemon=True)
        self.urls = {host.name: f'http://127.0.0.1:{host.listener_port}/' for host in hosts}
        self.answers: dict[str, list[str]] = {name: [] for name in self.urls}
        self._stopping = threading.Event()

    def run(self) -> None:
        sessions = {name: requests.Session() for name in self.urls}
        deadline = time.monotonic() + TRAFFIC_LIMIT_SECONDS
        while not self._stopping.is_set() and time.monotonic() < deadline:
            for name, url in self.urls.items():
                try:
                    response = sessions[name].get(url, timeout=5)
                    answer = response.headers.get(HEADER, '') if response.status_code == 200 else f'HTTP {response.status_code}'
                except requests.RequestException as exc:
                    answer = f'error: {exc}'
                self.answers[name].append(answer)
            self._stopping.wait(TRAFFIC_PAUSE)

    def failures(self, name: str) -> list[str]:
        return [answer for answer in self.answers[name] if answer.startswith(('HTTP ', 'error: '))]

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self.join(timeout=30)


def _task_results(output: str, task: str) -> list[tuple[str, str]]:
    """(status, host) of each result of ``task`` in ansible-playbook's output, such as ('ok', 'canary-1'), in order."""
    found: list[tuple[str, str]] = []
    for section in output.split(task)[1:]:
        body = re.split(r'^(?:TASK|PLAY|RUNNING HANDLER) ', section, maxsplit=1, flags=re.MULTILINE)[0]
        found += re.findall(r'^(ok|changed|fatal|failed|skipping): \[([^\]]+)\]', body, re.MULTILINE)
    return found


def _recap(output: str) -> dict[str, dict[str, int]]:
    return {match[1]: {key: int(value) for key, value in re.findall(r'(\w+)=(\d+)', match[2])}
            for match in re.finditer(r'^(\S+)\s+: (ok=.*)$', output, re.MULTILINE)}


def test_a_failed_gate_in_the_second_batch_rolls_back_every_changed_host_and_leaves_the_rest_untouched(fleet: Fleet) -> None:
    hosts = fleet.hosts
    assert [host.serving() for host in hosts.values()] == [V1, V1, V1]
    untouched = hosts['canary-3'].files()
    with Traffic(hosts.values()) as traffic:
        completed = fleet.canary({'canary-1': 'v2', 'canary-2': 'always-503', 'canary-3': 'v2'}, [1, 1, '100%'])
    output = completed.stdout + completed.stderr
    assert completed.returncode == 2, output
    recap = _recap(completed.stdout)
    assert recap['canary-2']['failed'] == 1, recap
    assert recap['canary-1']['failed'] == 0, recap
    assert recap['canary-3']['failed'] == 0, recap
    assert re.search(rf'fatal: \[canary-2\]: FAILED! .*Gate failed for the Envoy at 127\.0\.0\.1:{hosts["canary-2"].admin_port} after '
                     r'[\d.]+ s: max_5xx_ratio: (\d+) of \1 requests answered 5xx \(ratio 1\), more than 0\.05\. '
                     rf'Rolled back: {FILTER}\.', completed.stdout), output
    assert 'The canary stopped: canary-2 failed.' in completed.stdout, output
    # The gate ran on the first two hosts only; the third was never touched.
    assert _task_results(completed.stdout, GATE_TASK) == [('ok', 'canary-1'), ('fatal', 'canary-2')], output
    assert hosts['canary-3'].files() == untouched
    assert [host.serving() for host in hosts.values()] == [V1, V1, V1]
    # The third host served all along, and so did the first: a swap through ECDS, and its rollback, lose no request.
    assert traffic.answers['canary-3']
    assert not traffic.failures('canary-3')
    assert not traffic.failures('canary-1'), traffic.answers['canary-1']
    assert V2 in traffic.answers['canary-1'], traffic.answers['canary-1']
    # The second host answered 503 while its gate watched, and v1 again once rolled back.
    assert traffic.failures('canary-2')
    assert set(traffic.failures('canary-2')) == {'HTTP 503'}
    assert traffic.answers['canary-2'][-1] == V1


def test_an_image_missing_for_a_later_batch_stops_the_canary_before_any_host_changes(fleet: Fleet) -> None:
    before = {name: host.files() for name, host in fleet.hosts.items()}
    serving = [host.serving() for host in fleet.hosts.values()]
    completed = fleet.canary({'canary-1': 'v2', 'canary-2': 'missing', 'canary-3': 'v2'}, [1, 1, '100%'])
    assert completed.returncode != 0, completed.stdout
    assert re.search(r'^failed: \[canary-2 -> localhost\] .*never-pushed does not exist', completed.stdout, re.MULTILINE), completed.stdout
    # The first play pulls for every batch: the rollout never started.
    assert 'PLAY [Roll out batch by batch' not in completed.stdout
    assert {name: host.files() for name, host in fleet.hosts.items()} == before
    assert [host.serving() for host in fleet.hosts.values()] == serving


def test_a_canary_whose_gates_all_pass_rolls_out_everywhere(fleet: Fleet) -> None:
    with Traffic(fleet.hosts.values()) as traffic:
        completed = fleet.canary(dict.fromkeys(HOSTS, 'v2'), [1, '100%'])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert sorted(_task_results(completed.stdout, GATE_TASK)) == [('ok', name) for name in HOSTS], completed.stdout
    assert [host.serving() for host in fleet.hosts.values()] == [V2, V2, V2]
    assert not [traffic.failures(name) for name in HOSTS if traffic.failures(name)]


def _trapping_bootstrap(module: pathlib.Path, admin_port: int, listener_port: int) -> dict[str, t.Any]:
    """A bootstrap of one listener (stat prefix crashes) that runs the trapping plugin inline, under FAIL_RELOAD."""
    wasm = {'name': 'trap', 'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', 'config': {
        'name': 'trap_plugin', 'root_id': 'trap', 'failure_policy': 'FAIL_RELOAD',
        'vm_config': {'vm_id': 'trap', 'runtime': 'envoy.wasm.runtime.v8', 'code': {'local': {'filename': str(module)}}}}}}
    router = {'name': 'envoy.filters.http.router', 'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'}}
    manager = {'name': 'envoy.filters.network.http_connection_manager', 'typed_config': {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        'stat_prefix': 'crashes', 'http_filters': [wasm, router], 'route_config': {'virtual_hosts': [{
            'name': 'all', 'domains': ['*'], 'routes': [{'match': {'prefix': '/'}, 'direct_response': {'status': 200}}]}]}}}
    return {'admin': {'address': {'socket_address': {'address': '127.0.0.1', 'port_value': admin_port}}},
            'static_resources': {'listeners': [{'name': 'crashes', 'filter_chains': [{'filters': [manager]}],
                                                'address': {'socket_address': {'address': '127.0.0.1', 'port_value': listener_port}}}]}}


def test_the_gate_judges_too_little_traffic_as_asked_and_sees_a_crashing_plugin(
        fleet: Fleet, envoy_binary: pathlib.Path, tmp_path: pathlib.Path) -> None:
    quiet = f'127.0.0.1:{fleet.hosts["canary-3"].admin_port}'
    admin_port, listener_port = free_port(), free_port()
    bootstrap = tmp_path / 'envoy.json'
    bootstrap.write_text(json.dumps(_trapping_bootstrap(wat2wasm(TRAPPING_FILTER, tmp_path / 'trap.wasm'), admin_port, listener_port)),
                         encoding='utf-8')
    envoy = Envoy(envoy_binary, bootstrap, tmp_path / 'envoy.log', admin_port, listener_port)
    try:
        envoy.wait_ready()
        crashing = Host('crashing', tmp_path, admin_port, listener_port)
        with Traffic([crashing]):
            results = run_tasks({
                'quiet: fail': ('envoy_wasm_gate', {'admin_address': quiet, 'seconds': 1, 'min_requests': 1, 'filters': [FILTER]}),
                # Named by the stat prefix of its connection manager, every plugin counts.
                'quiet: pass': ('envoy_wasm_gate', {'admin_address': quiet, 'seconds': 1, 'min_requests': 1, 'stat_prefixes': ['wasm_oci'],
                                                    'insufficient_traffic': 'pass'}),
                'crashing': ('envoy_wasm_gate', {'admin_address': f'127.0.0.1:{admin_port}', 'seconds': 30, 'max_5xx_ratio': 1,
                                                 'filters': ['trap']}),
            }, fleet.environment, tmp_path)
    finally:
        envoy.stop()
    failing, passing, crashed = results['quiet: fail'], results['quiet: pass'], results['crashing']
    assert failing['failed'], failing
    assert failing['judged'], failing
    assert failing['insufficient_traffic'], failing
    assert failing['broken'] == ['min_requests: 0 requests in 1.0 s, fewer than 1: too little traffic to judge (insufficient_traffic=fail)']
    assert failing['measured']['requests'] == 0
    assert failing['stat_prefixes'] == ['wasm_oci']
    assert failing['plugins'] == [FILTER]
    assert not passing['failed'], passing
    assert passing['passed'], passing
    assert passing['insufficient_traffic'], passing
    assert passing['broken'] == [], passing
    assert passing['stat_prefixes'] == ['wasm_oci']
    assert passing['plugins'] is None
    assert passing['measured']['wasm_failures'] == 0
    assert passing['measured']['requests'] == 0
    # Wasm failures only grow: the gate stops at the first sample that has any, long before the 30 s window ends.
    assert crashed['failed'], crashed
    assert crashed['ended_early'], crashed
    assert crashed['measured']['seconds'] < 5, crashed
    assert crashed['plugins'] == ['trap_plugin']
    assert crashed['stat_prefixes'] == ['crashes']
    counters = crashed['measured']['wasm_failure_counters']
    assert crashed['measured']['wasm_failures'] > 0
    assert set(counters) >= {'wasm.trap_plugin.vm_reload_backoff', 'wasm.trap_plugin.vm_reload_success'}
    assert crashed['broken'] == [f'max_wasm_failures: {crashed["measured"]["wasm_failures"]} Wasm failures ('
                                 + ', '.join(f'{name} +{delta}' for name, delta in sorted(counters.items()) if delta) + '), more than 0']
    checked = run_module('envoy_wasm_gate', {'admin_address': quiet, 'seconds': 600}, fleet.environment, check_mode=True)
    assert not checked['failed'], checked
    assert checked['judged'] is False, checked
    assert checked['measured'] is None, checked
