# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Rollbacks of one Envoy in a temporary directory, from states a real rollout (Deployment) left: v1 of filters a
and b rolled out, then v2, each confirmed by a scripted admin standing in for Envoy (or Envoy stopped)."""

from __future__ import annotations

import os
import pathlib
import stat
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy import health, running
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import UpdateCounters, stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.deployment import Deployment, Settings
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import load_document
from ansible_collections.wasm.oci.plugins.module_utils._envoy.lock import LOCK_FILE
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import module_store_path
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import ManagedBootstrap, Paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import read_unconfirmed, write_unconfirmed
from ansible_collections.wasm.oci.plugins.module_utils._envoy.rollback import NOTHING_TO_ROLL_BACK, Rollback, RollbackError, RollbackOutcome, RollbackSettings
from ansible_collections.wasm.oci.plugins.module_utils._envoy.transaction import RolledBack
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import build_module

REFERENCES = {'v1': 'ghcr.io/example/add_header:1.0.0', 'v2': 'ghcr.io/example/add_header:2.0.0'}
MANIFESTS = {'v1': 'sha256:' + '1' * 64, 'v2': 'sha256:' + '2' * 64}


def _tree(root: pathlib.Path) -> dict[str, tuple[bytes, int] | None]:
    """Every file (its bytes and mode) and directory (None) below ``root``, the lock file aside."""
    return {str(path.relative_to(root)): None if path.is_dir() else (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
            for path in sorted(root.rglob('*')) if path.name != LOCK_FILE}


class Host:
    """One Envoy's files, changed by rollouts and rollbacks."""

    def __init__(self, paths: Paths, address: str, add_module: t.Any, make_image: t.Any, make_filter: t.Any) -> None:
        self.paths = paths
        self.address = address
        self.make_filter = make_filter
        self.modules = {version: add_module(version) for version in REFERENCES}
        self.images = {version: make_image(REFERENCES[version], self.modules[version], ['add_header'], MANIFESTS[version])
                       for version in REFERENCES}

    def roll_out(self, configuration: t.Any = None, **versions: str) -> None:
        """Filters by name and version, such as a='v1'."""
        filters = [self.make_filter(name, image=REFERENCES[version], configuration=configuration) for name, version in versions.items()]
        settings = Settings(
            paths=self.paths, filters=filters,
            host_pulls=[{'image': image, 'dest': None} for image in self.images.values()], controller_pulls=[], uploads={},
            managed=ManagedBootstrap('edge-1', 'edge', self.address, '127.0.0.1:10000'), admin_address=self.address,
            envoy_binary=None, verify_timeout=1.0, health_check=None, prune=False, purge=False, mode=0o640, group=None)
        Deployment(settings, _no_command, check_mode=False).run()

    def roll_back(self, names: list[str] | None = None, check_mode: bool = False) -> RollbackOutcome:
        settings = RollbackSettings(self.paths, names, self.address, verify_timeout=1.0, health_check=None)
        return Rollback(settings, check_mode).run()

    def ecds(self, name: str) -> pathlib.Path:
        return pathlib.Path(self.paths.ecds(name))

    def previous(self, name: str) -> pathlib.Path:
        return pathlib.Path(self.paths.ecds(name) + '.previous')

    def version(self, name: str) -> str:
        return load_document(str(self.ecds(name)))['version_info']

    def module(self, version: str) -> str:
        return module_store_path(self.paths.wasm_dir, self.modules[version])


def _no_command(command: list[str]) -> tuple[int, str, str]:
    raise AssertionError(f'ran {command}')


@pytest.fixture
def envoy(admin: t.Any, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> t.Any:
    """A running Envoy, started with the bootstrap at ``paths.bootstrap``, behind the scripted admin."""
    admin.info = {'command_line_options': {'config_path': paths.bootstrap}, 'node': {'id': 'edge-1'}}
    monkeypatch.setattr(running, 'EnvoyAdmin', lambda address: admin)
    return admin


@pytest.fixture
def host(paths: Paths, refused_address: str, add_module: t.Any, make_image: t.Any, make_filter: t.Any, envoy: t.Any) -> Host:
    """Filters a and b rolled out at v1, then at v2, both swaps confirmed: each ECDS file has v1 as its .previous."""
    serving = Host(paths, refused_address, add_module, make_image, make_filter)
    serving.roll_out(a='v1', b='v1')
    serving.roll_out(a='v2', b='v2')
    envoy.waits.clear()
    return serving


def _image(version: str) -> dict[str, str]:
    return {'reference': REFERENCES[version], 'digest': MANIFESTS[version]}


def test_every_filter_goes_back_to_its_previous_version_confirmed_by_envoy(host: Host, envoy: t.Any) -> None:
    previous = {name: host.previous(name).read_bytes() for name in 'ab'}
    versions = {name: load_document(str(host.previous(name)))['version_info'] for name in 'ab'}
    outcome = host.roll_back()
    assert {name: host.ecds(name).read_bytes() for name in 'ab'} == previous
    assert not host.previous('a').exists()
    assert not host.previous('b').exists()
    # Each file confirmed by its counters and the version it names, before the next was replaced.
    assert [(wait.prefix, wait.version) for wait in envoy.waits] == [(stat_prefix(name, 'http'), versions[name]) for name in 'ab']
    assert outcome.verified
    assert read_unconfirmed(host.paths.config_dir) == {}
    result = outcome.result()
    assert result['changed']
    assert result['verified']
    assert result['msg'] == 'Rolled back: a, b'
    assert result['files'] == [str(host.ecds('a')), str(host.ecds('b')), str(host.previous('a')), str(host.previous('b'))]
    assert result['filters'][0] == {
        'name': 'a', 'type': 'http', 'changed': True, 'rolled_back_from': _image('v2'), 'rolled_back_to': _image('v1'),
        'image': _image('v1'), 'module': host.module('v1'), 'confirmed': True,
        'message': f'rolled back from {REFERENCES["v2"]} ({MANIFESTS["v2"]}) to {REFERENCES["v1"]} ({MANIFESTS["v1"]}), confirmed by Envoy'}
    assert result['summary'][1] == 'b: ' + result['filters'][1]['message']


def test_a_second_rollback_finds_nothing_to_roll_back_instead_of_flipping_back(host: Host, envoy: t.Any, tmp_path: pathlib.Path) -> None:
    host.roll_back()
    after_first = _tree(tmp_path)
    envoy.waits.clear()
    again = host.roll_back().result()
    assert _tree(tmp_path) == after_first
    assert envoy.waits == []
    assert not again['changed']
    assert again['verified']
    assert again['files'] == []
    assert again['filters'] == []
    assert again['msg'] == 'Nothing to roll back: no filter has a previous version'
    named = host.roll_back(['a']).result()
    assert not named['changed']
    assert named['verified']
    assert named['msg'] == 'Nothing to roll back: no filter named has a previous version'
    assert named['filters'] == [{'name': 'a', 'type': 'http', 'changed': False, 'rolled_back_from': None, 'rolled_back_to': None,
                                 'image': _image('v1'), 'module': host.module('v1'), 'confirmed': True, 'message': NOTHING_TO_ROLL_BACK}]


def test_a_rollout_after_a_rollback_keeps_the_rolled_back_version_as_previous_again(host: Host, envoy: t.Any) -> None:
    v1 = host.previous('a').read_bytes()
    host.roll_back()
    host.roll_out(a='v2', b='v1')
    assert host.previous('a').read_bytes() == v1
    assert not host.previous('b').exists()
    assert host.roll_back().result()['msg'] == 'Rolled back: a'


def test_only_the_named_filters_go_back_and_one_without_a_previous_version_is_skipped(host: Host, envoy: t.Any) -> None:
    host.roll_back(['b'])
    b_version = host.version('b')
    result = host.roll_back(['a', 'b', 'a']).result()
    assert [item['name'] for item in result['filters']] == ['a', 'b']
    assert [item['changed'] for item in result['filters']] == [True, False]
    assert result['filters'][1]['message'] == NOTHING_TO_ROLL_BACK
    assert result['summary'][1] == f'b: {NOTHING_TO_ROLL_BACK}'
    assert host.version('b') == b_version
    assert result['msg'] == 'Rolled back: a'
    assert result['verified']


def test_check_mode_writes_nothing_and_says_what_would_be_rolled_back(host: Host, envoy: t.Any, tmp_path: pathlib.Path) -> None:
    before = _tree(tmp_path)
    outcome = host.roll_back(check_mode=True)
    assert _tree(tmp_path) == before
    assert envoy.waits == []
    result = outcome.result()
    assert result['changed']
    assert not result['verified']
    assert result['msg'] == 'Would roll back: a, b'
    assert result['filters'][0]['confirmed'] is False
    assert result['filters'][0]['rolled_back_to'] == _image('v1')
    assert result['filters'][0]['message'].startswith('would be rolled back from')
    assert result['filters'][0]['message'].endswith('(check mode)')


def test_a_rollback_envoy_rejects_puts_every_file_back_byte_for_byte_with_its_mode(host: Host, envoy: t.Any, tmp_path: pathlib.Path) -> None:
    before = _tree(tmp_path)
    # a goes back first and is confirmed; b is rejected, so a is put back too: one transaction.
    envoy.reject(stat_prefix('b', 'http'))
    with pytest.raises(RolledBack, match=r'^Envoy rejected the new config of filter b, rolled back to .*Unable to create Wasm plugin b.*'
                                         r'; every file was put back as it was and Envoy serves the previous config$'):
        host.roll_back()
    assert _tree(tmp_path) == before
    assert read_unconfirmed(host.paths.config_dir) == {}


def test_a_health_check_that_fails_after_the_rollback_puts_every_file_back(host: Host, envoy: t.Any, tmp_path: pathlib.Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, 'probe', lambda check: 'http://127.0.0.1:10000/ answered 503, not 200')
    # The .previous files are removed by then, and put back with their own modes.
    os.chmod(host.previous('a'), 0o600)
    before = _tree(tmp_path)
    settings = RollbackSettings(host.paths, None, host.address, verify_timeout=1.0, health_check=health.HealthCheck('http://127.0.0.1:10000/', timeout=0))
    with pytest.raises(RolledBack, match=r'but the health check failed: http://127\.0\.0\.1:10000/ answered 503'):
        Rollback(settings, check_mode=False).run()
    assert _tree(tmp_path) == before


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_missing_module_of_the_previous_version_is_refused_before_anything_changes(
        host: Host, envoy: t.Any, tmp_path: pathlib.Path, check_mode: bool) -> None:
    os.unlink(host.module('v1'))
    before = _tree(tmp_path)
    with pytest.raises(RollbackError) as caught:
        host.roll_back(check_mode=check_mode)
    assert str(caught.value) == (f'Cannot roll back filter a to {REFERENCES["v1"]} ({MANIFESTS["v1"]}): the module {host.module("v1")} '
                                 'that version loads is missing (removed by hand, or pruned), so Envoy could not load it; nothing was '
                                 'changed. Roll that image out again instead (which needs its registry)')
    assert _tree(tmp_path) == before
    assert envoy.waits == []


def test_a_damaged_module_of_the_previous_version_is_refused(host: Host, envoy: t.Any, tmp_path: pathlib.Path) -> None:
    pathlib.Path(host.module('v1')).write_bytes(build_module(function_exports=('_start',)))
    before = _tree(tmp_path)
    with pytest.raises(RollbackError, match=f'^Cannot roll back filter a to {REFERENCES["v1"]} .*is damaged'):
        host.roll_back()
    assert _tree(tmp_path) == before


def test_a_name_without_an_ecds_file_is_refused_naming_it(host: Host, envoy: t.Any, tmp_path: pathlib.Path) -> None:
    before = _tree(tmp_path)
    with pytest.raises(RollbackError) as caught:
        host.roll_back(['a', 'typo'])
    assert str(caught.value) == (f'Filter typo has no ECDS file {host.paths.ecds("typo")} on this host, so it has no version to roll '
                                 'back from; the filters here are: a, b; nothing was changed')
    assert _tree(tmp_path) == before
    with pytest.raises(WasmOciError, match=r'^Invalid filter name'):
        host.roll_back(['../a'])


@pytest.mark.parametrize(('previous', 'message'), [
    pytest.param(b'{"resources": [', '.* is neither JSON nor YAML', id='unreadable'),
    pytest.param(b'{"resources": [{"name": "a", "typed_config": {"@type": "type.googleapis.com/other"}}]}',
                 r'it holds no Wasm filter config \(http or network\)', id='not-wasm'),
])
def test_a_previous_file_envoy_could_not_load_is_refused(host: Host, envoy: t.Any, tmp_path: pathlib.Path, previous: bytes,
                                                         message: str) -> None:
    host.previous('b').write_bytes(previous)
    before = _tree(tmp_path)
    with pytest.raises(RollbackError, match=f'^{host.previous("b")} is no previous version of filter b that Envoy could load: {message}'):
        host.roll_back()
    assert _tree(tmp_path) == before


def test_a_previous_version_of_another_filter_type_is_refused(host: Host, envoy: t.Any) -> None:
    text = host.previous('a').read_text().replace('filters.http.wasm', 'filters.network.wasm')
    host.previous('a').write_text(text)
    with pytest.raises(RollbackError, match=r'^The previous version of filter a is a network filter, the current one a http filter'):
        host.roll_back(['a'])


def test_with_envoy_stopped_the_files_are_written_unconfirmed_and_kept_private(host: Host, envoy: t.Any) -> None:
    envoy.info = None
    os.chmod(host.previous('a'), 0o600)
    outcome = host.roll_back()
    assert not outcome.running
    assert not outcome.verified
    assert read_unconfirmed(host.paths.config_dir) == {host.paths.ecds(name): stat_prefix(name, 'http') for name in 'ab'}
    assert outcome.warnings == [(f'Envoy is not running (nothing listens on {host.address}, the admin address of its bootstrap): the files '
                                 'were written unconfirmed; the next run with Envoy running checks them')]
    assert outcome.result()['filters'][0]['message'].endswith(', written, not confirmed by Envoy yet')
    # The rollout's mode, not the mode of the .previous file.
    assert stat.S_IMODE(host.ecds('a').stat().st_mode) == 0o640


def test_files_written_earlier_are_confirmed_first_and_those_no_listener_uses_yet_wait(host: Host, envoy: t.Any) -> None:
    # b's v2 was written while Envoy was stopped, and Envoy has taken it since; c waits for its entry in the bootstrap.
    waiting = host.paths.ecds('c')
    host.ecds('c').write_bytes(host.ecds('b').read_bytes())
    write_unconfirmed(host.paths.config_dir, {host.paths.ecds('b'): stat_prefix('b', 'http'), waiting: stat_prefix('c', 'http')})
    envoy.counter_answers[stat_prefix('b', 'http')] = UpdateCounters(3, 0, host.version('b'))
    envoy.counter_answers[stat_prefix('c', 'http')] = None
    outcome = host.roll_back(['a'])
    assert outcome.verified
    assert read_unconfirmed(host.paths.config_dir) == {waiting: stat_prefix('c', 'http')}
    assert [wait.prefix for wait in envoy.waits] == [stat_prefix('a', 'http')]


def test_a_missing_configuration_directory_is_refused(paths: Paths, refused_address: str) -> None:
    settings = RollbackSettings(paths, None, refused_address, verify_timeout=1.0, health_check=None)
    with pytest.raises(RollbackError, match=f'^{paths.config_dir} does not exist, so no filter was rolled out with this config_dir'):
        Rollback(settings, check_mode=False).run()
    assert not os.path.exists(paths.config_dir)


def test_a_previous_copy_equal_to_the_file_is_only_removed(host: Host, envoy: t.Any) -> None:
    host.previous('a').write_bytes(host.ecds('a').read_bytes())
    result = host.roll_back(['a']).result()
    assert envoy.waits == []
    assert not host.previous('a').exists()
    assert result['changed']
    assert result['filters'][0]['rolled_back_to'] == result['filters'][0]['rolled_back_from'] == _image('v2')


def test_the_diff_names_the_images_and_no_configuration(host: Host, envoy: t.Any) -> None:
    host.roll_out(configuration={'password': 'hunter2'}, a='v1')
    host.roll_out(a='v2')
    outcome = host.roll_back(['a'], check_mode=True)
    diff = outcome.diff()
    assert diff[0] == {'prepared': f'filter a: {REFERENCES["v2"]} ({MANIFESTS["v2"]}) -> {REFERENCES["v1"]} ({MANIFESTS["v1"]})\n'
                                   f'{host.previous("a")}: removed, the version it kept is in place\n'}
    assert [item['before_header'] for item in diff[1:]] == [host.paths.ecds('a')]
    assert '<redacted, changed>' in diff[1]['after']
    assert 'hunter2' not in repr(diff)
    assert 'hunter2' not in repr(outcome.result())
    # A copy equal to the file it kept is only removed.
    host.previous('b').write_bytes(host.ecds('b').read_bytes())
    assert host.roll_back(['b'], check_mode=True).diff() == [{'prepared': f'{host.previous("b")}: removed, the version it kept is in place\n'}]
