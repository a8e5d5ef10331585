"""The envoy_filter role on the local machine: a real registry, a real Envoy, hot reload and rollback."""

from __future__ import annotations

import json
import pathlib
import subprocess
import typing as t

from module_runner import publish
from registries import Registry
from test_envoy_config import Envoy, _free_port, envoy_binary, modules  # noqa: F401  pylint: disable=unused-import


def _run_role(play_vars: dict[str, t.Any], environment: dict[str, str], workdir: pathlib.Path) -> subprocess.CompletedProcess:
    playbook = workdir / 'rollout.yml'
    playbook.write_text('- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [wasm.oci.envoy_filter]\n',
                        encoding='utf-8')
    variables = workdir / 'rollout-vars.json'
    variables.write_text(json.dumps(play_vars), encoding='utf-8')
    return subprocess.run(['ansible-playbook', '-i', 'localhost,', str(playbook), '-e', f'@{variables}'], env=environment,
                          capture_output=True, text=True, check=False, timeout=300)


def _recap_changed(output: str) -> int:
    line = next(line for line in output.splitlines() if line.startswith('localhost') and 'changed=' in line)
    return int(line.split('changed=')[1].split()[0])


def test_rollout_hot_reload_and_rollback(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],  # noqa: F811
                                         registry_plain: Registry, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    layout = tmp_path / 'layout'
    repository = f'{registry_plain.host}/filters/add_header'
    images = {name: publish(str(modules[name]), name, repository, ansible_environment, str(layout)) for name in ('v1', 'v2', 'empty')}
    admin_port, listener_port = _free_port(), _free_port()
    base_vars = {
        'envoy_filter_registry': {'plain_http': True},
        'envoy_filter_controller_cache': str(tmp_path / 'cache'),
        'envoy_filter_config_dir': str(tmp_path / 'etc-envoy'),
        'envoy_filter_wasm_dir': str(tmp_path / 'wasm'),
        'envoy_filter_admin_address': f'127.0.0.1:{admin_port}',
        'envoy_filter_listener_address': f'127.0.0.1:{listener_port}',
        'envoy_filter_manage_bootstrap': True,
        'envoy_filter_binary': str(envoy_binary),
        'envoy_filter_verify_timeout': 10,
    }

    def rollout(image: str, **extra: t.Any) -> subprocess.CompletedProcess:
        filters = [dict({'name': 'add_header', 'image': image}, **extra)]
        return _run_role(dict(base_vars, envoy_filter_filters=filters), ansible_environment, tmp_path)

    refused = rollout(images['v1'], root_id='not_in_the_image')
    assert refused.returncode != 0 and 'root_id not_in_the_image is not' in refused.stdout, refused.stdout
    assert not (tmp_path / 'etc-envoy').exists()

    first = rollout(images['v1'])
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'the live check happens on the next run' in first.stdout
    envoy = Envoy(envoy_binary, tmp_path / 'etc-envoy' / 'envoy.yaml', tmp_path / 'envoy.log', admin_port, listener_port)
    try:
        envoy.wait_ready()
        pid = envoy.process.pid
        assert envoy.header() == 'add_header'
        again = rollout(images['v1'])
        assert again.returncode == 0 and _recap_changed(again.stdout) == 0, again.stdout

        v2 = rollout(images['v2'])
        assert v2.returncode == 0, v2.stdout + v2.stderr
        assert 'Envoy applied the new config of filter add_header' in v2.stdout
        assert envoy.header() == 'add_header_v2'
        assert envoy.process.pid == pid and envoy.process.poll() is None

        rejected = rollout(images['empty'], root_id='add_header')
        assert rejected.returncode != 0, rejected.stdout
        assert 'Envoy rejected the new config of filter add_header' in rejected.stdout
        assert [envoy.header() for attempt in range(5)] == ['add_header_v2'] * 5
        assert envoy.process.pid == pid and envoy.process.poll() is None
    finally:
        envoy.stop()
