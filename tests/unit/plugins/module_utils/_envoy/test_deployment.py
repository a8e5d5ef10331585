# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""A whole run against one Envoy, in a temporary directory: Envoy is stopped (its admin port refuses connections) or
a scripted admin object stands in for it."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import stat
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy import running
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import CLUSTER_UPDATES, LISTENER_UPDATES, REJECTED, UpdateCounters, stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.deployment import Deployment, ModulesMissing, Outcome, Settings
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import dump_document, filter_reference, filter_stanza
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import load_document
from ansible_collections.wasm.oci.plugins.module_utils._envoy.lock import LOCK_FILE
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import module_store_path
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import ManagedBootstrap, Paths, PlanError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import RESTART_MARK, read_unconfirmed, write_unconfirmed
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import build_module, proxy_module

REFERENCE = 'ghcr.io/example/add_header:1.0.0'


def _tree(root: pathlib.Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) below ``root``."""
    return {str(path.relative_to(root)): None if path.is_dir() else path.read_bytes() for path in sorted(root.rglob('*'))}


def _envoy_files(root: pathlib.Path) -> dict[str, bytes | None]:
    """The files below ``root`` but the lock, which a run takes (creating it and the ECDS directory) before it checks anything."""
    return {name: data for name, data in _tree(root).items() if data is not None and os.path.basename(name) != LOCK_FILE}


def _no_command(command: list[str]) -> tuple[int, str, str]:
    raise AssertionError(f'ran {command}')


class Run:
    """The settings of one Envoy's run, changed with :meth:`set`, and the run itself."""

    def __init__(self, paths: Paths, address: str, digest: str, image: dict[str, t.Any], make_filter: t.Any) -> None:
        self.paths = paths
        self.digest = digest
        self.settings = Settings(
            paths=paths, filters=[make_filter('a', image=REFERENCE)], host_pulls=[{'image': image, 'dest': None}],
            controller_pulls=[], uploads={}, managed=ManagedBootstrap('edge-1', 'edge', address, '127.0.0.1:10000'), admin_address=address,
            envoy_binary=None, verify_timeout=1.0, health_check=None, prune=False, purge=False, mode=0o640, group=None)
        self.run_command: t.Callable[[list[str]], tuple[int, str, str]] = _no_command

    @property
    def module(self) -> str:
        return module_store_path(self.paths.wasm_dir, self.digest)

    def set(self, **changes: t.Any) -> Run:
        self.settings = dataclasses.replace(self.settings, **changes)
        return self

    def user_owned(self, bootstrap: dict[str, t.Any]) -> Run:
        """Let Envoy run the bootstrap ``bootstrap``, written by its user."""
        os.makedirs(os.path.dirname(self.paths.bootstrap), exist_ok=True)
        pathlib.Path(self.paths.bootstrap).write_text(dump_document(bootstrap))
        return self.set(managed=None)

    def __call__(self, check_mode: bool = False) -> Outcome:
        return Deployment(self.settings, self.run_command, check_mode).run()


@pytest.fixture
def run(paths: Paths, refused_address: str, add_module: t.Any, make_image: t.Any, make_filter: t.Any) -> Run:
    """Filter a from a stored image module, on a managed bootstrap whose Envoy is stopped."""
    digest = add_module()
    return Run(paths, refused_address, digest, make_image(REFERENCE, digest, ['add_header']), make_filter)


@pytest.fixture
def envoy(admin: t.Any, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> t.Any:
    """A running Envoy, started with the bootstrap at ``paths.bootstrap``, behind the scripted admin."""
    admin.info = {'command_line_options': {'config_path': paths.bootstrap}, 'node': {'id': 'edge-1'}}
    monkeypatch.setattr(running, 'EnvoyAdmin', lambda address: admin)
    return admin


def _bootstrap(address: str, *ecds_paths: str) -> dict[str, t.Any]:
    """A user's static bootstrap taking the filters at ``ecds_paths`` from their files."""
    host, port = address.rsplit(':', 1)
    filters = [{'name': os.path.basename(path)[:-5], 'config_discovery': {'config_source': {'path_config_source': {'path': path}}}}
               for path in ecds_paths]
    return {'node': {'id': 'edge-1', 'cluster': 'edge'},
            'admin': {'address': {'socket_address': {'address': host, 'port_value': int(port)}}},
            'static_resources': {'listeners': [{'name': 'main', 'filter_chains': [{'filters': [
                {'name': 'envoy.filters.network.http_connection_manager', 'typed_config': {'http_filters': filters}}]}]}]}}


def _watches(paths: Paths) -> dict[str, str]:
    return {paths.ecds('a'): stat_prefix('a', 'http'), paths.listeners: LISTENER_UPDATES, paths.clusters: CLUSTER_UPDATES}


def test_with_envoy_stopped_everything_is_written_and_recorded_unconfirmed(run: Run, paths: Paths, refused_address: str) -> None:
    outcome = run()
    assert not outcome.running
    assert not outcome.restart_needed
    assert not outcome.verified
    assert outcome.unconfirmed == set(_watches(paths))
    assert read_unconfirmed(paths.config_dir) == _watches(paths)
    assert [change.path for change in outcome.plan.changes] == [paths.ecds('a'), paths.clusters, paths.listeners, paths.bootstrap]
    for change in outcome.plan.changes:
        assert pathlib.Path(change.path).read_bytes() == change.new
        assert stat.S_IMODE(os.stat(change.path).st_mode) == 0o640
    assert load_document(paths.ecds('a'))['version_info'].startswith(f'{REFERENCE} sha256:')
    assert outcome.warnings == [(f'Envoy is not running (nothing listens on {refused_address}, the admin address of its bootstrap): '
                                 'the files were written unconfirmed; the next run with Envoy running checks them')]
    assert outcome.plan.filters[0]['confirmed'] is False
    assert outcome.summary() == [f'a: {REFERENCE} (sha256:{"e" * 64}) written, not confirmed by Envoy yet']
    # Nothing changes the next time; the files stay unconfirmed until Envoy runs.
    again = run()
    assert again.plan.changes == []
    assert again.unconfirmed == set(_watches(paths))
    assert again.warnings == []


def test_a_user_owned_bootstrap_naming_another_admin_address_is_refused(run: Run, paths: Paths, tmp_path: pathlib.Path) -> None:
    run.user_owned(_bootstrap('127.0.0.1:9999', paths.ecds('a')))
    before = _envoy_files(tmp_path)
    with pytest.raises(WasmOciError) as caught:
        run()
    assert str(caught.value) == (f'admin_address {run.settings.admin_address} is not the admin address 127.0.0.1:9999 that the '
                                 f'bootstrap {paths.bootstrap} names; set it to that address; nothing was written')
    assert _envoy_files(tmp_path) == before


def test_a_user_owned_bootstrap_without_an_admin_address_is_refused(run: Run, paths: Paths) -> None:
    run.user_owned({'node': {'id': 'edge-1'}})
    with pytest.raises(WasmOciError, match=r'has no admin address \(admin.address.socket_address\), so no change could be confirmed'):
        run()
    assert not os.path.exists(paths.ecds('a'))


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_missing_user_owned_bootstrap_is_an_error(run: Run, paths: Paths, check_mode: bool) -> None:
    with pytest.raises(WasmOciError, match=f'^The bootstrap {paths.bootstrap} does not exist: give the bootstrap Envoy runs with'):
        run.set(managed=None)(check_mode)


def test_filters_a_user_owned_bootstrap_does_not_use_are_onboarded(run: Run, paths: Paths, refused_address: str) -> None:
    run.user_owned(_bootstrap(refused_address))
    bootstrap = pathlib.Path(paths.bootstrap).read_bytes()
    with pytest.raises(PlanError) as caught:
        run()
    message = str(caught.value)
    assert message.startswith(f'The bootstrap {paths.bootstrap} does not take every filter from its ECDS file')
    assert 'Their ECDS files and modules are in place' in message
    assert message.endswith('\n' + filter_stanza(filter_reference('a', paths.ecds('a'))))
    assert load_document(paths.ecds('a'))['resources'][0]['name'] == 'a'
    assert read_unconfirmed(paths.config_dir) == {paths.ecds('a'): stat_prefix('a', 'http')}
    assert pathlib.Path(paths.bootstrap).read_bytes() == bootstrap


def test_check_mode_onboards_nothing(run: Run, paths: Paths, refused_address: str, tmp_path: pathlib.Path) -> None:
    run.user_owned(_bootstrap(refused_address))
    before = _tree(tmp_path)
    with pytest.raises(PlanError, match=r'Check mode wrote nothing\. Now: 1\. paste each entry'):
        run(check_mode=True)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize('setup', ['fresh', 'user-owned', 'written-before'])
def test_check_mode_writes_nothing_at_all(run: Run, paths: Paths, refused_address: str, tmp_path: pathlib.Path, setup: str,
                                          make_filter: t.Any) -> None:
    if setup == 'user-owned':
        run.user_owned(_bootstrap(refused_address, paths.ecds('a')))
    elif setup == 'written-before':
        run()
        run.set(filters=[make_filter('a', image=REFERENCE, configuration={'header': 'x'})])
    before = _tree(tmp_path)
    outcome = run(check_mode=True)
    assert outcome.plan.changes
    assert _tree(tmp_path) == before
    assert outcome.summary()[0] == f'a: {REFERENCE} (sha256:{"e" * 64}) would be applied (check mode)'


def test_a_stored_module_that_is_not_the_expected_one_is_refused(run: Run, paths: Paths, make_filter: t.Any) -> None:
    run.set(filters=[make_filter('a', image=REFERENCE, sha256='sha256:' + 'f' * 64)])
    with pytest.raises(PlanError, match=f'^Filter a: the module of {REFERENCE} is {run.digest}, not the expected sha256 sha256:f{{64}}'):
        run()
    assert not os.path.exists(paths.ecds('a'))
    run.set(filters=[make_filter('a', image=REFERENCE, sha256=run.digest.split(':')[1])])
    assert run().plan.changes


@pytest.mark.parametrize(('data', 'named_for', 'message'), [
    pytest.param(proxy_module(marker='other'), proxy_module(), 'is damaged: its sha256 is not the one its name gives', id='damaged'),
    pytest.param(build_module(function_exports=('_start',)), None, 'exports no proxy_abi_version_', id='no-proxy-wasm'),
])
def test_a_module_envoy_cannot_run_is_refused_before_any_file_names_it(run: Run, paths: Paths, make_image: t.Any, data: bytes,
                                                                       named_for: bytes | None, message: str) -> None:
    """``data`` stored under the name of ``named_for`` (by default its own)."""
    digest = 'sha256:' + hashlib.sha256(data if named_for is None else named_for).hexdigest()
    pathlib.Path(module_store_path(paths.wasm_dir, digest)).write_bytes(data)
    run.set(host_pulls=[{'image': make_image(REFERENCE, digest, ['add_header']), 'dest': None}])
    with pytest.raises(WasmOciError, match=message):
        run()
    assert not os.path.exists(paths.ecds('a'))
    assert not os.path.exists(paths.bootstrap)


def test_a_module_pulled_on_the_host_is_stored_under_the_lock(run: Run, paths: Paths, tmp_path: pathlib.Path) -> None:
    pulled = tmp_path / 'pulled.wasm'
    os.rename(run.module, pulled)
    run.set(host_pulls=[dict(run.settings.host_pulls[0], dest=str(pulled))])
    assert run(check_mode=True).stored_modules == [run.module]
    assert not os.path.exists(run.module)
    outcome = run()
    assert outcome.stored_modules == [run.module]
    assert pathlib.Path(run.module).read_bytes() == pulled.read_bytes()
    assert os.path.exists(paths.ecds('a'))


def test_modules_pulled_on_the_controller_are_asked_for_then_stored_from_the_upload(run: Run, paths: Paths,
                                                                                    tmp_path: pathlib.Path) -> None:
    uploaded = tmp_path / 'upload.wasm'
    os.rename(run.module, uploaded)
    run.set(host_pulls=[], controller_pulls=[dict(run.settings.host_pulls[0], dest='/controller/pulled.wasm')])
    with pytest.raises(ModulesMissing) as caught:
        run()
    assert caught.value.missing == [{'path': run.module, 'digest': run.digest}]
    assert not os.path.exists(paths.ecds('a'))
    assert not os.path.exists(run.module)
    outcome = run.set(uploads={run.digest: str(uploaded)})()
    assert outcome.stored_modules == [run.module]
    assert os.path.exists(paths.ecds('a'))


def test_a_module_sent_with_the_first_run_is_stored_without_asking(run: Run, paths: Paths, tmp_path: pathlib.Path) -> None:
    uploaded = tmp_path / 'upload.wasm'
    os.rename(run.module, uploaded)
    run.set(host_pulls=[], controller_pulls=[dict(run.settings.host_pulls[0], dest='/controller/pulled.wasm', changed=True)],
            uploads={run.digest: str(uploaded)})
    assert run().stored_modules == [run.module]
    assert os.path.exists(paths.ecds('a'))


def test_a_module_the_host_pulled_itself_wins_over_the_controller_copy(run: Run, tmp_path: pathlib.Path) -> None:
    pulled = tmp_path / 'pulled.wasm'
    os.rename(run.module, pulled)
    item = run.settings.host_pulls[0]
    run.set(host_pulls=[dict(item, dest=str(pulled))], controller_pulls=[dict(item, dest='/controller/pulled.wasm')])
    assert run().stored_modules == [run.module]


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_module_file_that_does_not_exist_is_an_error_outside_check_mode(run: Run, paths: Paths, make_filter: t.Any,
                                                                          check_mode: bool) -> None:
    run.set(filters=[make_filter('a', module=os.path.join(paths.wasm_dir, 'by_hand.wasm'), root_id='r')])
    if check_mode:
        assert run(check_mode=True).plan.changes
        return
    with pytest.raises(PlanError, match=f'^The module {paths.wasm_dir}/by_hand.wasm of filter a does not exist'):
        run()
    assert not os.path.exists(paths.ecds('a'))


def test_the_candidate_is_validated_before_anything_is_written(run: Run, paths: Paths, tmp_path: pathlib.Path) -> None:
    commands: list[list[str]] = []
    run.run_command = lambda command: commands.append(command) or (1, '', 'error: invalid listener')
    run.set(envoy_binary='/usr/bin/envoy')
    before = _envoy_files(tmp_path)
    with pytest.raises(WasmOciError, match=r'^/usr/bin/envoy --mode validate refused the configuration .*\nerror: invalid listener$'):
        run()
    assert [command[:3] for command in commands] == [['/usr/bin/envoy', '--mode', 'validate']]
    assert _envoy_files(tmp_path) == before
    run.run_command = lambda command: (0, '', '')
    assert os.path.exists(run().plan.changes[0].path)


def test_prune_removes_the_stored_modules_no_filter_uses(run: Run, paths: Paths, add_module: t.Any) -> None:
    unused = module_store_path(paths.wasm_dir, add_module('unused'))
    run.set(prune=True)
    assert run(check_mode=True).removed_modules == [unused]
    assert os.path.exists(unused)
    assert run().removed_modules == [unused]
    assert os.listdir(paths.wasm_dir) == [os.path.basename(run.module)]


def test_prune_removes_the_host_copies_host_pulls_no_longer_names(run: Run, paths: Paths) -> None:
    current, old = (os.path.join(os.path.realpath(paths.wasm_dir), f'.{letter * 64}.pulled.wasm') for letter in 'ab')
    for path in (current, old):
        pathlib.Path(path).write_bytes(b'')
    run.set(prune=True, host_pulls=[dict(run.settings.host_pulls[0], dest=current)])
    assert run().removed_modules == [old]
    assert os.path.exists(current)
    assert not os.path.exists(old)


def test_stale_temporary_files_are_removed(run: Run, paths: Paths) -> None:
    os.makedirs(paths.ecds_dir)
    os.makedirs(paths.wasm_dir, exist_ok=True)
    stale = [os.path.join(paths.config_dir, '.envoy.yaml.abcd1234.tmp'), os.path.join(paths.ecds_dir, '.a.yaml.x_Y9zz00.tmp'),
             os.path.join(paths.ecds_dir, '.a.yaml.previous.abcd1234.tmp')]
    # Not ours: another tool's file; and the module directory, which other Envoys may share, is left alone.
    kept = [os.path.join(paths.config_dir, '.envoy.yaml.tmp'), os.path.join(paths.config_dir, 'notes.abcd1234.tmp'),
            os.path.join(paths.wasm_dir, f'.{"ab" * 32}.wasm.abcd1234.tmp')]
    for path in stale + kept:
        pathlib.Path(path).write_bytes(b'')
    run()
    assert [os.path.exists(path) for path in stale + kept] == [False] * len(stale) + [True] * len(kept)


def test_another_envoy_on_the_admin_address_is_refused(run: Run, paths: Paths, envoy: t.Any) -> None:
    envoy.info = {'command_line_options': {'config_path': '/etc/other/envoy.yaml'}}
    with pytest.raises(WasmOciError, match=r'was started with /etc/other/envoy\.yaml, not .*: it is another Envoy, so nothing was changed'):
        run()
    assert not os.path.exists(paths.ecds('a'))


def test_with_envoy_running_every_change_is_confirmed_and_replaced_files_are_kept(run: Run, paths: Paths, envoy: t.Any,
                                                                                  make_filter: t.Any) -> None:
    outcome = run()
    assert outcome.running
    assert outcome.verified
    assert outcome.unconfirmed == set()
    assert outcome.restart_needed
    assert not os.path.exists(os.path.join(paths.config_dir, '.wasm-oci-unconfirmed.json'))
    assert [wait.prefix for wait in envoy.waits] == [stat_prefix('a', 'http'), CLUSTER_UPDATES, LISTENER_UPDATES]
    assert outcome.summary() == [f'a: {REFERENCE} (sha256:{"e" * 64}) applied and confirmed by Envoy',
                                 'The bootstrap changed; Envoy reads it only when it starts']
    first = pathlib.Path(paths.ecds('a')).read_bytes()
    run.set(filters=[make_filter('a', image=REFERENCE, configuration={'header': 'x'})])
    again = run()
    assert [change.path for change in again.plan.changes] == [paths.ecds('a')]
    assert not again.restart_needed
    assert pathlib.Path(paths.ecds('a') + '.previous').read_bytes() == first


def test_a_change_envoy_did_not_confirm_leaves_no_previous_version_two_versions_back(
        run: Run, paths: Paths, envoy: t.Any, make_filter: t.Any) -> None:
    run()
    run.set(filters=[make_filter('a', image=REFERENCE, configuration={'header': 'x'})])
    run()
    assert os.path.exists(paths.ecds('a') + '.previous')
    envoy.info = None
    run.set(filters=[make_filter('a', image=REFERENCE, configuration={'header': 'y'})])
    stopped = run()
    assert stopped.unconfirmed
    assert not os.path.exists(paths.ecds('a') + '.previous')


def _written_while_stopped(run: Run, paths: Paths, envoy: t.Any) -> dict[str, str]:
    """Write the files with Envoy stopped; the version of each, as Envoy would report it once it took them."""
    stopped = envoy.info
    envoy.info = None
    run()
    envoy.info = stopped
    return {path: load_document(path)['version_info'] for path in _watches(paths)}


def test_files_written_while_envoy_was_stopped_are_confirmed_by_their_version(run: Run, paths: Paths, envoy: t.Any) -> None:
    versions = _written_while_stopped(run, paths, envoy)
    for path, watch in _watches(paths).items():
        envoy.counter_answers[watch] = UpdateCounters(1, 0, versions[path])
    # A recorded file that is gone since needs no confirmation.
    write_unconfirmed(paths.config_dir, dict(_watches(paths), **{paths.ecds('gone'): stat_prefix('gone', 'http')}))
    outcome = run()
    assert outcome.plan.changes == []
    assert outcome.unconfirmed == set()
    assert outcome.verified
    assert read_unconfirmed(paths.config_dir) == {}
    assert envoy.waits == []


@pytest.mark.parametrize('outcome', [REJECTED, None])
def test_a_file_written_while_envoy_was_stopped_that_envoy_does_not_take_is_an_error(run: Run, paths: Paths, envoy: t.Any,
                                                                                     outcome: str | None) -> None:
    _written_while_stopped(run, paths, envoy)
    watch = stat_prefix('a', 'http')
    envoy.counter_answers[watch] = UpdateCounters(1, 0, 'an older version')
    envoy.outcomes[watch] = [outcome]
    with pytest.raises(WasmOciError, match=f'^{paths.ecds("a")} was written while Envoy was stopped or busy, and Envoy now runs '
                                           'an older version from it'):
        run()
    assert read_unconfirmed(paths.config_dir) == _watches(paths)


def test_files_with_another_mode_get_the_one_asked_for(run: Run, paths: Paths, refused_address: str) -> None:
    run()
    ecds = os.path.join(paths.ecds_dir, sorted(name for name in os.listdir(paths.ecds_dir) if name.endswith('.yaml'))[0])
    os.chmod(ecds, 0o644)
    again = run()
    assert again.reset_modes == [ecds]
    assert stat.S_IMODE(os.stat(ecds).st_mode) == 0o640
    assert run().reset_modes == []


def test_an_envoy_that_has_yet_to_restart_for_a_new_admin_address_is_refused(run: Run, paths: Paths, admin: t.Any,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run()
    record = read_unconfirmed(paths.config_dir)
    record[paths.bootstrap] = RESTART_MARK + '127.0.0.1:19901'
    write_unconfirmed(paths.config_dir, record)
    admin.info = {'command_line_options': {'config_path': paths.bootstrap}, 'node': {'id': 'edge-1'}}
    asked: list[str] = []
    monkeypatch.setattr(running, 'EnvoyAdmin', lambda address: asked.append(address) or admin)
    before = _envoy_files(pathlib.Path(paths.config_dir))
    with pytest.raises(WasmOciError, match=r'Envoy still runs the bootstrap from before .* answers on 127\.0\.0\.1:19901, not '):
        run()
    assert asked == ['127.0.0.1:19901']
    assert _envoy_files(pathlib.Path(paths.config_dir)) == before
    # Once the old address is gone (Envoy restarted), the mark is dropped and the run goes on.
    admin.info = None
    run()
    assert paths.bootstrap not in read_unconfirmed(paths.config_dir)
