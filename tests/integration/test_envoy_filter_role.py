"""The envoy_filter role on the local machine: a real registry, a real Envoy, hot reload and rollback."""

from __future__ import annotations

import pathlib
import subprocess
import typing as t

from harness.envoy import HEADER, Envoy, contents, free_port
from harness.module_runner import publish
from harness.registries import Registry
from harness.role import LocalRollout, failure_message, headers, local_role_vars, recap_changed, reported, run_role


def test_rollout_hot_reload_and_rollback(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],
                                         registry_plain: Registry, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    layout = tmp_path / 'layout'
    repository = f'{registry_plain.host}/filters/add_header'
    images = {name: publish(str(modules[name]), name, repository, ansible_environment, str(layout)) for name in ('v1', 'v2', 'newer_host')}
    admin_port, listener_port = free_port(), free_port()
    base_vars = local_role_vars(tmp_path, str(envoy_binary), admin_port, listener_port, envoy_filter_manage_bootstrap=True)

    def rollout(image: str, **extra: t.Any) -> subprocess.CompletedProcess:
        filters = [dict({'name': 'add_header', 'image': image}, **extra)]
        return run_role(dict(base_vars, envoy_filter_filters=filters), ansible_environment, tmp_path)

    refused = rollout(images['v1'], root_id='not_in_the_image')
    assert refused.returncode != 0
    message = failure_message(refused.stdout)
    assert 'root_id "not_in_the_image" is not one of the root IDs the image declares ("add_header")' in message, message
    # Nothing but the lock of the configuration directory: no Envoy file, no module.
    assert [path.name for path in (tmp_path / 'etc-envoy').rglob('*') if path.is_file()] == ['.wasm-oci.lock']
    assert not (tmp_path / 'wasm-store').exists()

    first = rollout(images['v1'])
    assert first.returncode == 0, first.stdout + first.stderr
    assert f'Envoy is not running (nothing listens on 127.0.0.1:{admin_port}' in first.stderr, first.stderr
    assert reported(first.stdout) == [f'add_header: {images["v1"]} (<digest>) written, not confirmed by Envoy yet']
    envoy = Envoy(envoy_binary, tmp_path / 'etc-envoy' / 'envoy.yaml', tmp_path / 'envoy.log', admin_port, listener_port)
    try:
        envoy.wait_ready()
        pid = envoy.process.pid
        assert envoy.header() == 'add_header'
        again = rollout(images['v1'])
        assert again.returncode == 0, again.stdout
        assert recap_changed(again.stdout) == 0, again.stdout

        v2 = rollout(images['v2'])
        assert v2.returncode == 0, v2.stdout + v2.stderr
        assert reported(v2.stdout) == [f'add_header: {images["v2"]} (<digest>) applied and confirmed by Envoy'], v2.stdout
        assert envoy.header() == 'add_header_v2'
        assert envoy.process.pid == pid
        assert envoy.process.poll() is None

        v2_files = contents(tmp_path / 'etc-envoy')
        rejected = rollout(images['newer_host'], root_id='add_header')
        assert rejected.returncode != 0, rejected.stdout
        message = failure_message(rejected.stdout)
        assert f'Envoy rejected the new config of filter add_header ({images["newer_host"]} (sha256:' in message, message
        assert 'every file was put back as it was and Envoy serves the previous config' in message, message
        assert contents(tmp_path / 'etc-envoy') == v2_files
        assert [envoy.header() for attempt in range(5)] == ['add_header_v2'] * 5
        assert envoy.process.pid == pid
        assert envoy.process.poll() is None
    finally:
        envoy.stop()


def test_filters_added_and_removed_live_with_modules_pruned(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],
                                                            registry_plain: Registry, ansible_environment: dict[str, str],
                                                            tmp_path: pathlib.Path) -> None:
    rollout = LocalRollout(envoy_binary, modules, registry_plain, ansible_environment, tmp_path, envoy_filter_manage_bootstrap=True)
    v1, v2 = rollout.images['v1'], rollout.images['v2']
    assert rollout.run({'name': 'first', 'image': v1}).returncode == 0
    envoy = rollout.start_envoy()
    try:
        pid = envoy.process.pid
        assert headers(envoy) == ['add_header']
        v1_module = rollout.stored_modules()

        updated = rollout.run({'name': 'first', 'image': v2})
        assert updated.returncode == 0, updated.stdout
        assert headers(envoy) == ['add_header_v2']
        assert (rollout.config_dir / 'ecds' / 'first.yaml.previous').is_file()
        assert len(rollout.stored_modules()) == 2, 'the previous module stays for a rollback'
        v2_module = rollout.stored_modules() - v1_module

        # A second filter joins the listener through its file: no restart.
        added = rollout.run({'name': 'first', 'image': v2}, {'name': 'second', 'image': v1})
        assert added.returncode == 0, added.stdout
        assert reported(added.stdout) == [f'second: {v1} (<digest>) applied and confirmed by Envoy'], added.stdout
        assert headers(envoy) == ['add_header', 'add_header_v2']

        # A new filter Envoy cannot load: the listener would answer 500 with it, so every file is put back, the
        # broken filter's new ECDS file removed again.
        files = contents(rollout.config_dir)
        broken = rollout.run({'name': 'first', 'image': v2}, {'name': 'second', 'image': v1}, {'name': 'broken', 'image': rollout.images['newer_host']})
        assert broken.returncode != 0
        message = failure_message(broken.stdout)
        assert f'Envoy rejected config of filter broken ({rollout.images["newer_host"]} (sha256:' in message, message
        assert 'every file was put back as it was and Envoy serves the previous config' in message, message
        assert contents(rollout.config_dir) == files
        envoy.wait_for(lambda: headers(envoy) == ['add_header', 'add_header_v2'], 'the listener without the broken filter')

        # Listed as absent, a filter leaves the listener, then its ECDS file and its previous copy go.
        removed = rollout.run({'name': 'first', 'state': 'absent'}, {'name': 'second', 'image': v1}, {'name': 'broken', 'state': 'absent'})
        assert removed.returncode == 0, removed.stdout
        assert reported(removed.stdout) == ['first: removed'], removed.stdout
        assert headers(envoy) == ['add_header']
        assert sorted(path.name for path in (rollout.config_dir / 'ecds').iterdir()) == ['second.yaml']
        assert rollout.stored_modules() == v1_module
        assert v2_module.isdisjoint(rollout.stored_modules())
        assert envoy.process.pid == pid
        assert envoy.process.poll() is None

        again = rollout.run({'name': 'first', 'state': 'absent'}, {'name': 'second', 'image': v1}, {'name': 'broken', 'state': 'absent'})
        assert again.returncode == 0, again.stdout
        assert recap_changed(again.stdout) == 0, again.stdout

        # A health check that the new version fails: Envoy takes it, the probe fails, the old file comes back.
        unhealthy = rollout.run({'name': 'second', 'image': v2}, envoy_filter_health_check={
            'url': f'{envoy.listener}/', 'headers': {HEADER.upper(): 'add_header'}, 'timeout': 2})
        assert unhealthy.returncode != 0
        message = failure_message(unhealthy.stdout)
        assert 'but the health check failed' in message, message
        assert "not 'add_header'" in message, message
        assert headers(envoy) == ['add_header']
        assert envoy.process.pid == pid
        assert envoy.process.poll() is None

        # Only a change of the bootstrap itself needs a restart, and without envoy_filter_service the role says so.
        renamed = rollout.run({'name': 'second', 'image': v1}, envoy_filter_cluster='edge')
        assert renamed.returncode == 0, renamed.stdout
        assert reported(renamed.stdout) == ['The bootstrap changed; Envoy reads it only when it starts'], renamed.stdout
        assert 'restart Envoy to apply it (or set envoy_filter_service)' in renamed.stdout
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


def test_existing_bootstrap_is_checked_never_written(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],
                                                     registry_plain: Registry, ansible_environment: dict[str, str],
                                                     tmp_path: pathlib.Path) -> None:
    rollout = LocalRollout(envoy_binary, modules, registry_plain, ansible_environment, tmp_path)
    bootstrap = rollout.config_dir / 'envoy.yaml'
    bootstrap.parent.mkdir()
    original = BOOTSTRAP_WITHOUT_FILTERS.format(admin=rollout.admin_port, listener=rollout.listener_port)
    bootstrap.write_text(original, encoding='utf-8')
    add_header = {'name': 'add_header', 'image': rollout.images['v1']}

    # The filter's ECDS file and module are written, harmless while nothing references them; the bootstrap is not.
    refused = rollout.run(add_header)
    assert refused.returncode != 0
    message = failure_message(refused.stdout)
    assert f'The bootstrap {bootstrap} does not take every filter from its ECDS file' in message, message
    assert 'Their ECDS files and modules are in place' in message, message
    assert '1. paste each entry below' in message, message
    assert (rollout.config_dir / 'ecds' / 'add_header.yaml').is_file()
    assert len(rollout.stored_modules()) == 1
    assert bootstrap.read_text(encoding='utf-8') == original

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
        assert headers(envoy) == ['add_header']
        # The run after the restart confirms that Envoy runs the filter the ECDS file written at onboarding names.
        confirmed = rollout.run(add_header)
        assert confirmed.returncode == 0, confirmed.stdout
        assert recap_changed(confirmed.stdout) == 0, confirmed.stdout
        still_used = rollout.run(dict(add_header, state='absent'))
        assert still_used.returncode != 0
        assert f'The bootstrap {bootstrap} still takes filter add_header (listed as absent)' in failure_message(still_used.stdout)
        assert (rollout.config_dir / 'ecds' / 'add_header.yaml').is_file()
    finally:
        envoy.stop()
    bootstrap.write_text(original, encoding='utf-8')
    removed = rollout.run({'name': 'add_header', 'state': 'absent'})
    assert removed.returncode == 0, removed.stdout
    assert not (rollout.config_dir / 'ecds' / 'add_header.yaml').exists()
    assert rollout.stored_modules() == set()
