"""The envoy_filter role's variants on the local machine, against a real registry and a real Envoy.

A host that pulls for itself; two HTTP filters and a network filter in one managed bootstrap,
served by one Envoy; a hot update of one filter among them; check mode and diff mode on that
deployment; idempotent reruns; and check mode on a fresh host.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import subprocess
import typing as t

import pytest

from harness.envoy import Envoy, free_port, snapshot
from harness.module_runner import publish
from harness.registries import Registry
from harness.role import headers, local_role_vars, recap_changed, reported, run_role

DEPLOY_TASK = 'Apply the filter set in one transaction, confirmed by Envoy or undone'
HOST_PULL_TASK = 'Pull each image on the host'
FILTER_NAMES = ('first', 'second', 'tcp')
HTTP_WASM_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm'
NETWORK_WASM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm'
HCM_NAME = 'envoy.filters.network.http_connection_manager'
# The header values the v1 and v2 sample filters add (examples/filters/add_header, and the Makefile's sed for v2).
V1_MARK, V2_MARK = 'add_header', 'add_header_v2'
# A loop item's line in the default callback's output: `changed: [localhost] => (item=127.0.0.1:5000/filters/x:v1)`.
ITEM_STATUS = re.compile(r'^(ok|changed|failed|skipping): \[localhost\](?: =>)? \(item=([^\s)]+)')
DIGEST = r'\(sha256:[0-9a-f]{64}\)'


class Images(t.NamedTuple):
    v1: str
    v2: str
    v1_sha256: str
    v2_sha256: str


@pytest.fixture(scope='module')
def images(sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, registry_plain: Registry,
           ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Images:
    """v1 and v2 of the sample filter, pushed once for the module, and the sha256 of each module."""
    layout = str(tmp_path_factory.mktemp('variants-layout'))
    repository = f'{registry_plain.host}/filters/envoy-filter-variants'
    return Images(
        v1=publish(str(sample_filter), 'v1', repository, ansible_environment, layout),
        v2=publish(str(sample_filter_v2), 'v2', repository, ansible_environment, layout),
        v1_sha256=hashlib.sha256(sample_filter.read_bytes()).hexdigest(),
        v2_sha256=hashlib.sha256(sample_filter_v2.read_bytes()).hexdigest(),
    )


def _role_vars(workdir: pathlib.Path, envoy: str | None, pull_on: str, admin_port: int, listener_port: int) -> dict[str, t.Any]:
    return local_role_vars(workdir, envoy, admin_port, listener_port, envoy_filter_pull_on=pull_on, envoy_filter_manage_bootstrap=True)


def _succeeded(run: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def _task_output(output: str, task: str) -> str:
    """What the default callback printed for one task of the role, up to the next task or the recap."""
    start = output.index(f'TASK [wasm.oci.envoy_filter : {task}]')
    ends = [end for end in (output.find('\nTASK [', start + 1), output.find('\nPLAY RECAP', start + 1)) if end != -1]
    return output[start:min(ends)]


def _item_statuses(output: str, task: str) -> dict[str, str]:
    """Each loop item's status in one task, by item (the image, in the role's pull loops)."""
    return {match.group(2): match.group(1) for match in map(ITEM_STATUS.match, _task_output(output, task).splitlines()) if match}


def _assert_only_changed(output: str, filter_name: str, image: str, verdict: str) -> None:
    """The role changed ``filter_name`` alone, to ``image``, with ``verdict``; the host pulled no image again."""
    assert reported(output) == [f'{filter_name}: {image} (<digest>) {verdict}'], output
    assert set(_item_statuses(output, HOST_PULL_TASK).values()) == {'ok'}, output


def _network_counter(envoy: Envoy, filter_name: str, counter: str) -> int:
    return int(envoy.stats().get(f'extension_config_discovery.network_filter.{filter_name}.{counter}', '0'))


def _ecds_typed_config(config_dir: pathlib.Path, filter_name: str) -> dict[str, t.Any]:
    document = json.loads((config_dir / 'ecds' / f'{filter_name}.yaml').read_text(encoding='utf-8'))
    return document['resources'][0]['typed_config']


def _ecds_module(config_dir: pathlib.Path, filter_name: str) -> str:
    return _ecds_typed_config(config_dir, filter_name)['config']['vm_config']['code']['local']['filename']


def _assert_stored_by_digest(wasm_dir: pathlib.Path, expected_sha256: set[str]) -> None:
    stored = {path.stem: hashlib.sha256(path.read_bytes()).hexdigest() for path in wasm_dir.glob('[!.]*.wasm')}
    assert set(stored) == expected_sha256, stored
    assert all(name == digest for name, digest in stored.items()), stored


def _assert_module_diff(output: str, config_dir: pathlib.Path, filter_name: str, images: tuple[str, str], modules: tuple[str, str]) -> None:
    """The deploy task names the old and new image of ``filter_name``, then shows one diff, of its ECDS file, from the
    old module path to the new one."""
    diff = _task_output(output, DEPLOY_TASK)
    old_image, new_image = images
    old_module, new_module = modules
    assert re.search(rf'^filter {filter_name}: {re.escape(old_image)} {DIGEST} -> {re.escape(new_image)} {DIGEST}$', diff, re.MULTILINE), diff
    assert diff.count('--- before:') == 1, diff
    assert f'--- before: {config_dir / "ecds" / filter_name}.yaml' in diff, diff
    assert re.search(rf'^-\s+"filename": "{re.escape(old_module)}"$', diff, re.MULTILINE), diff
    assert re.search(rf'^\+\s+"filename": "{re.escape(new_module)}"$', diff, re.MULTILINE), diff


@pytest.mark.parametrize(('pull_on', 'validate'), [
    pytest.param('controller', False, id='controller-pull'),
    pytest.param('controller', True, id='controller-pull-validated'),
    pytest.param('host', False, id='host-pull'),
])
def test_check_mode_on_a_fresh_host_creates_nothing(pull_on: str, validate: bool, envoy_binary: pathlib.Path,
                                                    images: Images, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    # Without envoy_filter_binary the role skips `envoy --mode validate`; with it, validation runs in check mode too.
    envoy = str(envoy_binary) if validate else None
    play_vars = dict(_role_vars(tmp_path, envoy, pull_on, free_port(), free_port()), envoy_filter_filters=[{'name': 'first', 'image': images.v1}])
    checked = run_role(play_vars, ansible_environment, tmp_path, '--check')
    assert not (tmp_path / 'etc-envoy').exists()
    assert not (tmp_path / 'wasm-store').exists()
    assert recap_changed(_succeeded(checked).stdout) > 0
    # The controller's cache is filled in check mode on purpose, so that hosts can be compared with it.
    assert any((tmp_path / 'cache').glob('*.wasm')) == (pull_on == 'controller')


def test_host_pull_several_filters_check_diff_and_hot_update(envoy_binary: pathlib.Path, images: Images,
                                                             ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    admin_port, listener_port = free_port(), free_port()
    base_vars = _role_vars(tmp_path, str(envoy_binary), 'host', admin_port, listener_port)
    config_dir, wasm_dir = pathlib.Path(base_vars['envoy_filter_config_dir']), pathlib.Path(base_vars['envoy_filter_wasm_dir'])
    v1_module, v2_module = str(wasm_dir / f'{images.v1_sha256}.wasm'), str(wasm_dir / f'{images.v2_sha256}.wasm')

    def role_vars(first: str, tcp: str) -> dict[str, t.Any]:
        return dict(base_vars, envoy_filter_filters=[
            {'name': 'first', 'image': first},
            {'name': 'second', 'image': images.v2},
            # The sample filter has only HTTP callbacks: as a network filter it loads and lets the bytes pass.
            {'name': 'tcp', 'image': tcp, 'type': 'network'},
        ])

    def rollout_twice(first: str, tcp: str) -> subprocess.CompletedProcess:
        """A real rollout, and the identical second run, which must change nothing."""
        rolled_out = _succeeded(run_role(role_vars(first, tcp), ansible_environment, tmp_path))
        again = _succeeded(run_role(role_vars(first, tcp), ansible_environment, tmp_path))
        assert recap_changed(again.stdout) == 0, again.stdout
        return rolled_out

    rollout_twice(images.v1, images.v1)
    assert not (tmp_path / 'cache').exists()
    _assert_stored_by_digest(wasm_dir, {images.v1_sha256, images.v2_sha256})
    assert {name: _ecds_module(config_dir, name) for name in FILTER_NAMES} == {'first': v1_module, 'second': v2_module, 'tcp': v1_module}
    assert [_ecds_typed_config(config_dir, name)['config']['vm_config']['vm_id'] for name in ('first', 'second')] == ['first', 'second']
    assert [_ecds_typed_config(config_dir, name)['@type'] for name in FILTER_NAMES] == [HTTP_WASM_TYPE, HTTP_WASM_TYPE, NETWORK_WASM_TYPE]
    listener = json.loads((config_dir / 'lds.yaml').read_text(encoding='utf-8'))['resources'][0]
    assert [entry['name'] for entry in listener['filter_chains'][0]['filters']] == ['tcp', HCM_NAME]

    envoy = Envoy(envoy_binary, config_dir / 'envoy.yaml', tmp_path / 'envoy.log', admin_port, listener_port)
    try:
        envoy.wait_ready()
        pid = envoy.process.pid
        assert headers(envoy) == [V1_MARK, V2_MARK]
        assert _network_counter(envoy, 'tcp', 'update_success') == 1, envoy.log_tail()

        deployed = snapshot(config_dir, wasm_dir)
        checked = _succeeded(run_role(role_vars(images.v2, images.v1), ansible_environment, tmp_path, '--check', '--diff'))
        assert recap_changed(checked.stdout) > 0
        _assert_only_changed(checked.stdout, 'first', images.v2, 'would be applied (check mode)')
        _assert_module_diff(checked.stdout, config_dir, 'first', (images.v1, images.v2), (v1_module, v2_module))
        assert snapshot(config_dir, wasm_dir) == deployed
        assert headers(envoy) == [V1_MARK, V2_MARK]

        updated = _succeeded(run_role(role_vars(images.v2, images.v1), ansible_environment, tmp_path, '--diff'))
        _assert_only_changed(updated.stdout, 'first', images.v2, 'applied and confirmed by Envoy')
        _assert_module_diff(updated.stdout, config_dir, 'first', (images.v1, images.v2), (v1_module, v2_module))
        assert headers(envoy) == [V2_MARK, V2_MARK]

        # The next rollout changes tcp alone: first and second coming out of it unchanged shows the update above settled.
        network_update = rollout_twice(images.v2, images.v2)
        _assert_only_changed(network_update.stdout, 'tcp', images.v2, 'applied and confirmed by Envoy')
        assert (_network_counter(envoy, 'tcp', 'update_success'), _network_counter(envoy, 'tcp', 'update_rejected')) == (2, 0)
        assert headers(envoy) == [V2_MARK, V2_MARK]

        # The network filter leaves the listener, then its ECDS file and its previous copy go.
        assert (config_dir / 'ecds' / 'tcp.yaml.previous').is_file()
        removed = base_vars | {'envoy_filter_filters': [*role_vars(images.v2, images.v2)['envoy_filter_filters'][:2], {'name': 'tcp', 'state': 'absent'}]}
        assert reported(_succeeded(run_role(removed, ansible_environment, tmp_path)).stdout) == ['tcp: removed']
        assert sorted(path.name for path in (config_dir / 'ecds').iterdir()) == ['first.yaml', 'first.yaml.previous', 'second.yaml']
        listener = json.loads((config_dir / 'lds.yaml').read_text(encoding='utf-8'))['resources'][0]
        assert [entry['name'] for entry in listener['filter_chains'][0]['filters']] == [HCM_NAME]
        assert headers(envoy) == [V2_MARK, V2_MARK]
        assert envoy.process.pid == pid
        assert envoy.process.poll() is None
    finally:
        envoy.stop()


def test_hosts_with_their_own_images_get_them_from_the_controller(images: Images, ansible_environment: dict[str, str],
                                                                  tmp_path: pathlib.Path) -> None:
    """Two hosts (both this machine), the filter's image set per host: each gets its own module, though the first
    host's images are pulled only once for both."""
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('[envoys]\n' + ''.join(
        f'{host} ansible_connection=local envoy_filter_config_dir={tmp_path / host / "etc-envoy"} '
        f'envoy_filter_wasm_dir={tmp_path / host / "wasm"} filter_image={image}\n'
        for host, image in (('one', images.v1), ('two', images.v2))), encoding='utf-8')
    play_vars = {key: value for key, value in _role_vars(tmp_path, None, 'controller', free_port(), free_port()).items()
                 if key not in ('envoy_filter_config_dir', 'envoy_filter_wasm_dir')}
    play_vars['envoy_filter_filters'] = [{'name': 'first', 'image': '{{ filter_image }}'}]
    variables = tmp_path / 'vars.json'
    variables.write_text(json.dumps(play_vars), encoding='utf-8')
    playbook = tmp_path / 'per-host.yml'
    playbook.write_text('- hosts: envoys\n  gather_facts: false\n  roles: [wasm.oci.envoy_filter]\n', encoding='utf-8')
    run = _succeeded(subprocess.run(['ansible-playbook', '-i', str(inventory), str(playbook), '-e', f'@{variables}'], env=ansible_environment,
                                    capture_output=True, text=True, check=False, timeout=300))
    assert _ecds_module(tmp_path / 'one' / 'etc-envoy', 'first') == str(tmp_path / 'one' / 'wasm' / f'{images.v1_sha256}.wasm'), run.stdout
    assert _ecds_module(tmp_path / 'two' / 'etc-envoy', 'first') == str(tmp_path / 'two' / 'wasm' / f'{images.v2_sha256}.wasm'), run.stdout
    _assert_stored_by_digest(tmp_path / 'two' / 'wasm', {images.v2_sha256})
