"""The envoy_filter role on the local machine: a real registry, a real Envoy, hot reload and rollback."""

from __future__ import annotations

import json
import pathlib
import subprocess
import typing as t

from module_runner import publish
from registries import Registry
import requests
from test_envoy_config import HEADER, Envoy, _free_port, envoy_binary, modules  # noqa: F401  pylint: disable=unused-import


def _run_role(play_vars: dict[str, t.Any], environment: dict[str, str], workdir: pathlib.Path, *options: str) -> subprocess.CompletedProcess:
    """The role on this machine; ``options`` go to ansible-playbook, such as --check and --diff."""
    playbook = workdir / 'rollout.yml'
    playbook.write_text('- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [wasm.oci.envoy_filter]\n',
                        encoding='utf-8')
    variables = workdir / 'rollout-vars.json'
    variables.write_text(json.dumps(play_vars), encoding='utf-8')
    return subprocess.run(['ansible-playbook', '-i', 'localhost,', str(playbook), '-e', f'@{variables}', *options], env=environment,
                          capture_output=True, text=True, check=False, timeout=300)


def local_role_vars(workdir: pathlib.Path, envoy_binary: str, admin_port: int, listener_port: int, **overrides: t.Any) -> dict[str, t.Any]:
    """The role's variables for this machine: directories of its own under ``workdir``, a plain-HTTP registry, loopback ports."""
    return {
        'envoy_filter_registry': {'plain_http': True},
        'envoy_filter_controller_cache': str(workdir / 'cache'),
        'envoy_filter_config_dir': str(workdir / 'etc-envoy'),
        # Not "wasm": the modules fixture keeps its source modules there.
        'envoy_filter_wasm_dir': str(workdir / 'wasm-store'),
        'envoy_filter_admin_address': f'127.0.0.1:{admin_port}',
        'envoy_filter_listener_address': f'127.0.0.1:{listener_port}',
        'envoy_filter_binary': envoy_binary,
        'envoy_filter_verify_timeout': 10,
        **overrides,
    }


def _recap_changed(output: str) -> int:
    line = next(line for line in output.splitlines() if line.startswith('localhost') and 'changed=' in line)
    return int(line.split('changed=')[1].split()[0])


def test_rollout_hot_reload_and_rollback(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],  # noqa: F811
                                         registry_plain: Registry, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    layout = tmp_path / 'layout'
    repository = f'{registry_plain.host}/filters/add_header'
    images = {name: publish(str(modules[name]), name, repository, ansible_environment, str(layout)) for name in ('v1', 'v2', 'newer_host')}
    admin_port, listener_port = _free_port(), _free_port()
    base_vars = local_role_vars(tmp_path, str(envoy_binary), admin_port, listener_port, envoy_filter_manage_bootstrap=True)

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

        rejected = rollout(images['newer_host'], root_id='add_header')
        assert rejected.returncode != 0, rejected.stdout
        assert 'Envoy rejected the new config of filter add_header' in rejected.stdout
        assert [envoy.header() for attempt in range(5)] == ['add_header_v2'] * 5
        assert envoy.process.pid == pid and envoy.process.poll() is None
    finally:
        envoy.stop()


def _failure_message(output: str) -> str:
    """The msg of the first failed task in ansible-playbook's default output."""
    line = next(line for line in output.splitlines() if line.startswith(('fatal: ', 'failed: ')))
    return json.loads(line[line.index('{'):])['msg']


class LocalRollout:
    """The role against this machine, with its own directories, admin and listener ports, and images in a registry."""

    def __init__(self, envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path], registry: Registry,
                 environment: dict[str, str], workdir: pathlib.Path, **role_vars: t.Any) -> None:
        self.envoy_binary = envoy_binary
        self.environment = environment
        self.workdir = workdir
        repository = f'{registry.host}/filters/add_header'
        self.images = {name: publish(str(modules[name]), name, repository, environment, str(workdir / 'layout')) for name in ('v1', 'v2', 'newer_host')}
        self.admin_port, self.listener_port = _free_port(), _free_port()
        self.role_vars = local_role_vars(workdir, str(envoy_binary), self.admin_port, self.listener_port, **role_vars)
        self.config_dir = pathlib.Path(self.role_vars['envoy_filter_config_dir'])
        self.wasm_dir = pathlib.Path(self.role_vars['envoy_filter_wasm_dir'])

    def run(self, *filters: dict[str, t.Any], **extra_vars: t.Any) -> subprocess.CompletedProcess:
        return _run_role(dict(self.role_vars, envoy_filter_filters=list(filters), **extra_vars), self.environment, self.workdir)

    def start_envoy(self, bootstrap: pathlib.Path | None = None) -> Envoy:
        envoy = Envoy(self.envoy_binary, bootstrap or self.config_dir / 'envoy.yaml', self.workdir / 'envoy.log', self.admin_port, self.listener_port)
        envoy.wait_ready()
        return envoy

    def stored_modules(self) -> set[str]:
        return {path.name for path in self.wasm_dir.glob('*.wasm')}


def _headers(envoy: Envoy) -> list[str]:
    response = requests.get(f'{envoy.listener}/', timeout=2)
    assert response.status_code == 200, f'{response.status_code} {response.text}\n{envoy.log_tail()}'
    return sorted(value.strip() for value in response.headers.get(HEADER, '').split(',') if value.strip())


def test_filters_added_and_removed_live_with_modules_pruned(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],  # noqa: F811
                                                            registry_plain: Registry, ansible_environment: dict[str, str],
                                                            tmp_path: pathlib.Path) -> None:
    rollout = LocalRollout(envoy_binary, modules, registry_plain, ansible_environment, tmp_path, envoy_filter_manage_bootstrap=True)
    v1, v2 = rollout.images['v1'], rollout.images['v2']
    assert rollout.run({'name': 'first', 'image': v1}).returncode == 0
    envoy = rollout.start_envoy()
    try:
        pid = envoy.process.pid
        assert _headers(envoy) == ['add_header']
        v1_module = rollout.stored_modules()

        updated = rollout.run({'name': 'first', 'image': v2})
        assert updated.returncode == 0, updated.stdout
        assert _headers(envoy) == ['add_header_v2']
        assert (rollout.config_dir / 'ecds' / 'first.yaml.previous').is_file()
        assert len(rollout.stored_modules()) == 2, 'the previous module stays for a rollback'
        v2_module = rollout.stored_modules() - v1_module

        # A second filter joins the listener through its file: no restart.
        added = rollout.run({'name': 'first', 'image': v2}, {'name': 'second', 'image': v1})
        assert added.returncode == 0, added.stdout
        assert 'Envoy applied the new listeners' in added.stdout
        assert _headers(envoy) == ['add_header', 'add_header_v2']

        # A new filter Envoy cannot load: the listener would answer 500 with it, so the listener file is put back.
        listeners = (rollout.config_dir / 'lds.yaml').read_bytes()
        broken = rollout.run({'name': 'first', 'image': v2}, {'name': 'second', 'image': v1}, {'name': 'broken', 'image': rollout.images['newer_host']})
        assert broken.returncode != 0
        assert 'Envoy rejected the config of filter broken' in _failure_message(broken.stdout)
        assert (rollout.config_dir / 'lds.yaml').read_bytes() == listeners
        envoy.wait_for(lambda: _headers(envoy) == ['add_header', 'add_header_v2'], 'the listener without the broken filter')

        # The broken filter's ECDS file stays until the filter is listed as absent, like any filter.
        removed = rollout.run({'name': 'first', 'state': 'absent'}, {'name': 'second', 'image': v1}, {'name': 'broken', 'state': 'absent'})
        assert removed.returncode == 0, removed.stdout
        assert f'Removed {rollout.config_dir}/ecds/first.yaml' in removed.stdout
        assert _headers(envoy) == ['add_header']
        assert sorted(path.name for path in (rollout.config_dir / 'ecds').iterdir()) == ['second.yaml']
        assert rollout.stored_modules() == v1_module and v2_module.isdisjoint(rollout.stored_modules())
        assert envoy.process.pid == pid and envoy.process.poll() is None

        again = rollout.run({'name': 'first', 'state': 'absent'}, {'name': 'second', 'image': v1}, {'name': 'broken', 'state': 'absent'})
        assert again.returncode == 0 and _recap_changed(again.stdout) == 0, again.stdout

        # A health check that the new version fails: Envoy takes it, the probe fails, the old file comes back.
        unhealthy = rollout.run({'name': 'second', 'image': v2}, envoy_filter_health_check={
            'url': f'{envoy.listener}/', 'headers': {HEADER.upper(): 'add_header'}, 'timeout': 2})
        assert unhealthy.returncode != 0
        message = _failure_message(unhealthy.stdout)
        assert 'but the health check failed' in message and "not 'add_header'" in message, message
        assert _headers(envoy) == ['add_header']
        assert envoy.process.pid == pid and envoy.process.poll() is None

        # Only a change of the bootstrap itself needs a restart, and without envoy_filter_service the role says so.
        renamed = rollout.run({'name': 'second', 'image': v1}, envoy_filter_cluster='edge')
        assert renamed.returncode == 0, renamed.stdout
        assert 'The bootstrap changed: restart Envoy to apply it' in renamed.stdout
    finally:
        envoy.stop()


BOOTSTRAP_WITHOUT_FILTERS = """\
node: {{id: edge, cluster: edge}}
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
    - name: edge
      address: {{socket_address: {{address: 127.0.0.1, port_value: {listener}}}}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: edge
                route_config:
                  virtual_hosts:
                    - {{name: all, domains: ["*"], routes: [{{match: {{prefix: /}}, direct_response: {{status: 200}}}}]}}
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
"""


def test_existing_bootstrap_is_checked_never_written(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],  # noqa: F811
                                                     registry_plain: Registry, ansible_environment: dict[str, str],
                                                     tmp_path: pathlib.Path) -> None:
    rollout = LocalRollout(envoy_binary, modules, registry_plain, ansible_environment, tmp_path)
    bootstrap = rollout.config_dir / 'envoy.yaml'
    bootstrap.parent.mkdir()
    original = BOOTSTRAP_WITHOUT_FILTERS.format(admin=rollout.admin_port, listener=rollout.listener_port)
    bootstrap.write_text(original, encoding='utf-8')
    add_header = {'name': 'add_header', 'image': rollout.images['v1']}

    refused = rollout.run(add_header)
    assert refused.returncode != 0
    message = _failure_message(refused.stdout)
    assert f'The bootstrap {bootstrap} does not take filter add_header' in message and 'nothing was written' in message, message
    assert not (rollout.config_dir / 'ecds' / 'add_header.yaml').exists()

    # The entry from the message, pasted as it is above the router, is all the bootstrap needs.
    stanza = message[message.index('# Add to'):]
    indent = ' ' * 18
    router = f'{indent}- name: envoy.filters.http.router'
    edited = original.replace(router, ''.join(f'{indent}{line}\n' for line in stanza.splitlines()[1:]) + router)
    bootstrap.write_text(edited, encoding='utf-8')
    deployed = rollout.run(add_header)
    assert deployed.returncode == 0, deployed.stdout
    assert bootstrap.read_text(encoding='utf-8') == edited
    envoy = rollout.start_envoy()
    try:
        assert _headers(envoy) == ['add_header']
        still_used = rollout.run(dict(add_header, state='absent'))
        assert still_used.returncode != 0
        assert 'still takes a filter from' in _failure_message(still_used.stdout)
        assert (rollout.config_dir / 'ecds' / 'add_header.yaml').is_file()
    finally:
        envoy.stop()
    bootstrap.write_text(original, encoding='utf-8')
    removed = rollout.run({'name': 'add_header', 'state': 'absent'})
    assert removed.returncode == 0, removed.stdout
    assert not (rollout.config_dir / 'ecds' / 'add_header.yaml').exists() and rollout.stored_modules() == set()
