"""The envoy_filter role taking images from a local OCI layout on the controller (``oci:<layout>:<tag>``), as air-gapped
sites do: no registry at all, a real Envoy, hot updates; with host pulls the layout images still come from the controller."""

from __future__ import annotations

import pathlib
import typing as t

from harness.envoy import STAT_PREFIX, Envoy, free_port
from harness.module_runner import publish, run_module
from harness.registries import Registry
from harness.role import failure_message, headers, local_role_vars, recap_changed, reported, run_role

FILTER = 'add_header'


def _build(module: pathlib.Path, layout: pathlib.Path, tag: str, environment: dict[str, str]) -> str:
    """Build ``module`` into ``layout`` as ``tag``; its manifest digest."""
    built = run_module('wasm_image_build', {'src': str(module), 'layout': str(layout), 'tag': tag, 'root_ids': [FILTER]}, environment)
    assert not built['failed'], built
    return built['image']['digest']


class Host(t.NamedTuple):
    role_vars: dict[str, t.Any]
    envoy: t.Callable[[], Envoy]


def _host(workdir: pathlib.Path, envoy_binary: pathlib.Path, **role_vars: t.Any) -> Host:
    admin_port, listener_port = free_port(), free_port()
    # No registry options at all: nothing here may need one.
    variables = local_role_vars(workdir, str(envoy_binary), admin_port, listener_port,
                                **dict({'envoy_filter_manage_bootstrap': True, 'envoy_filter_registry': {}}, **role_vars))

    def start() -> Envoy:
        envoy = Envoy(envoy_binary, workdir / 'etc-envoy' / 'envoy.yaml', workdir / 'envoy.log', admin_port, listener_port)
        envoy.wait_ready()
        return envoy

    return Host(variables, start)


def test_the_role_deploys_from_a_local_layout_with_no_registry(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],
                                                               ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    layout = tmp_path / 'layout'
    _build(modules['v1'], layout, 'v1', ansible_environment)
    v2_digest = _build(modules['v2'], layout, 'v2', ansible_environment)
    host = _host(tmp_path, envoy_binary)

    def rollout(image: str) -> t.Any:
        return run_role(dict(host.role_vars, envoy_filter_filters=[{'name': FILTER, 'image': image}]), ansible_environment, tmp_path)

    first = rollout(f'oci:{layout}:v1')
    assert first.returncode == 0, first.stdout + first.stderr
    assert reported(first.stdout) == [f'{FILTER}: oci:{layout}:v1 (<digest>) written, not confirmed by Envoy yet'], first.stdout
    envoy = host.envoy()
    try:
        assert envoy.header() == FILTER
        # Envoy names the image it runs by the layout reference and its manifest digest.
        assert envoy.stats()[STAT_PREFIX + 'version_text'].strip('"').startswith(f'oci:{layout}:v1 sha256:')

        pinned = f'oci:{layout}@{v2_digest}'
        updated = rollout(pinned)
        assert updated.returncode == 0, updated.stdout + updated.stderr
        assert reported(updated.stdout) == [f'{FILTER}: {pinned} (<digest>) applied and confirmed by Envoy'], updated.stdout
        assert envoy.header() == 'add_header_v2'
        assert envoy.stats()[STAT_PREFIX + 'version_text'].strip('"').startswith(f'{pinned} {v2_digest} ')
        # The controller's copy is named by the digest the reference pins.
        assert (tmp_path / 'cache' / f'{v2_digest.split(":")[1]}.wasm').read_bytes() == modules['v2'].read_bytes()

        again = rollout(pinned)
        assert again.returncode == 0, again.stdout
        assert recap_changed(again.stdout) == 0, again.stdout

        # A layout that is not there fails the run at the pull, naming it; Envoy keeps its filter.
        missing = rollout(f'oci:{tmp_path}/no-layout:v1')
        assert missing.returncode != 0
        assert f'OCI layout {tmp_path}/no-layout does not exist' in failure_message(missing.stdout), missing.stdout
        untagged = rollout(f'oci:{layout}')
        assert untagged.returncode != 0
        assert 'names no tag of a local OCI layout; write oci:<layout path>:<tag>' in failure_message(untagged.stdout), untagged.stdout
        assert envoy.header() == 'add_header_v2'
    finally:
        envoy.stop()


def test_hosts_that_pull_for_themselves_get_layout_images_from_the_controller(
        envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path], registry_plain: Registry,
        ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    from_registry = publish(str(modules['v2']), 'v2', f'{registry_plain.host}/filters/role-layouts', ansible_environment,
                            str(tmp_path / 'published'))
    layout = tmp_path / 'layout'
    _build(modules['v1'], layout, 'v1', ansible_environment)
    host = _host(tmp_path, envoy_binary, envoy_filter_pull_on='host', envoy_filter_registry={'plain_http': True})
    wasm_dir = pathlib.Path(host.role_vars['envoy_filter_wasm_dir'])
    filters = [{'name': 'from_registry', 'image': from_registry}, {'name': 'from_layout', 'image': f'oci:{layout}:v1'}]
    play_vars = dict(host.role_vars, envoy_filter_filters=filters)

    checked = run_role(play_vars, ansible_environment, tmp_path, '--check')
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert recap_changed(checked.stdout) > 0, checked.stdout + checked.stderr
    assert not list((tmp_path / 'etc-envoy').rglob('*.yaml'))
    assert not wasm_dir.exists()

    deployed = run_role(play_vars, ansible_environment, tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # The host pulled the registry image itself; the layout's module came from the controller's cache.
    assert len(list(wasm_dir.glob('.*.pulled.wasm'))) == 1
    assert [path.name for path in (tmp_path / 'cache').glob('*.wasm')] != []
    envoy = host.envoy()
    try:
        assert headers(envoy) == ['add_header', 'add_header_v2']
        again = run_role(play_vars, ansible_environment, tmp_path)
        assert again.returncode == 0, again.stdout
        assert recap_changed(again.stdout) == 0, again.stdout
    finally:
        envoy.stop()
