# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The drift verdicts between the host's ECDS files as envoy_wasm_filters writes them and what Envoy runs, and their table."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import ImageIdentity
from ansible_collections.wasm.oci.plugins.module_utils._envoy.drift import (
    CHANGED_ON_DISK,
    DIFFERENT_IMAGE,
    IN_SYNC,
    MISSING,
    UNMANAGED,
    check_expected,
    judge,
    same_config,
    same_image,
    table_lines,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.envoy_view import EnvoyView, LoadedFilter, envoy_view
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_filters import read_host
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import write_unconfirmed
from ansible_collections.wasm.oci.tests.unit.envoy_host import (
    ADDRESS,
    ECDS_COUNTERS,
    INFO,
    LAST_UPDATED,
    PLUGIN_COUNTERS,
    STOPPED,
    V1,
    V2,
    EnvoyHost,
    ecds_dump,
)


class JudgedHost(EnvoyHost):
    """A host whose filters the tests judge."""

    def judge(self, envoy: EnvoyView | None = None, expected: dict[str, str] | None = None) -> dict[str, dict[str, t.Any]]:
        """The verdicts on this host's filters, by name."""
        return {entry['name']: entry for entry in judge(read_host(self.paths.config_dir), envoy or self.envoy(), expected or {})}


@pytest.fixture
def host(paths: Paths, add_module: t.Callable[..., str]) -> JudgedHost:
    return JudgedHost(paths, add_module)


def test_a_filter_envoy_runs_as_written_is_in_sync_and_confirmed(host: JudgedHost) -> None:
    host.run(host.write('add_header'))
    entry = host.judge()['add_header']
    assert {key: entry[key] for key in ('name', 'type', 'image', 'confirmed', 'drift', 'drift_reason', 'file')} == {
        'name': 'add_header', 'type': 'http', 'image': {'reference': V1.reference, 'digest': V1.digest}, 'confirmed': True,
        'drift': IN_SYNC, 'drift_reason': None, 'file': host.paths.ecds('add_header')}
    assert entry['module_digest'] == 'sha256:' + os.path.basename(entry['module'])[:-len('.wasm')]
    document = json.loads(pathlib.Path(host.paths.ecds('add_header')).read_text(encoding='utf-8'))
    assert entry['envoy'] == {
        'loaded': True, 'same_as_file': True, 'version': document['version_info'],
        'image': {'reference': V1.reference, 'digest': V1.digest}, 'last_updated': LAST_UPDATED, 'last_file_rejected': False,
        'update_success': 2, 'update_rejected': 1, 'ecds_stats': ECDS_COUNTERS, 'plugin_stats': PLUGIN_COUNTERS,
    }
    assert 's3cr3t' not in json.dumps(entry), 'configuration values are never reported'


def test_a_network_filter_and_a_filter_from_a_module_file(host: JudgedHost) -> None:
    host.run(host.write('tcp', filter_type='network'), filter_type='network')
    host.run(host.write('by_hand', identity=None))
    judged = host.judge()
    assert (judged['tcp']['type'], judged['tcp']['drift'], judged['tcp']['envoy']['update_success']) == ('network', IN_SYNC, 2)
    assert judged['by_hand']['image'] == {'reference': None, 'digest': None}
    assert judged['by_hand']['drift'] == IN_SYNC


def test_a_file_edited_in_place_is_changed_on_disk_not_loaded(host: JudgedHost) -> None:
    document = host.write('add_header')
    host.run(document)
    host.write('add_header', configuration={'secret': 'edited'})
    path = pathlib.Path(host.paths.ecds('add_header'))
    # An edit by hand keeps the version_info, whose fingerprint no longer matches.
    edited = json.loads(path.read_text(encoding='utf-8'))
    path.write_text(json.dumps(dict(edited, version_info=document['version_info'])), encoding='utf-8')
    entry = host.judge()['add_header']
    assert (entry['drift'], entry['confirmed'], entry['envoy']['same_as_file']) == (CHANGED_ON_DISK, False, False)
    assert entry['drift_reason'] == f'{path} was changed by hand after envoy_wasm_filters wrote it; Envoy has not loaded it'


def test_an_edit_envoy_loaded_is_changed_on_disk_and_unconfirmed(host: JudgedHost) -> None:
    document = host.write('add_header')
    document['resources'][0]['typed_config']['config']['root_id'] = 'other'
    pathlib.Path(host.paths.ecds('add_header')).write_text(json.dumps(document), encoding='utf-8')
    host.run(document)
    entry = host.judge()['add_header']
    assert (entry['drift'], entry['confirmed'], entry['envoy']['same_as_file']) == (CHANGED_ON_DISK, False, True)
    assert entry['drift_reason'].endswith('Envoy runs the edit, which no rollout confirmed')


def test_a_rewritten_file_envoy_rejected_is_changed_on_disk(host: JudgedHost) -> None:
    host.run(host.write('add_header', V1))
    host.write('add_header', V2, marker='v2')
    entry = host.judge()['add_header']
    assert (entry['drift'], entry['confirmed'], entry['image']['reference'], entry['envoy']['image']['reference']) == (
        CHANGED_ON_DISK, False, V2.reference, V1.reference)
    assert entry['drift_reason'].startswith('Envoy runs version ' + host.loaded['add_header'].version)
    assert entry['drift_reason'].endswith('it rejected the file, or has yet to read it')


def test_the_same_version_with_another_config_was_changed_in_place(host: JudgedHost) -> None:
    document = host.write('add_header')
    host.run(document)
    changed = json.loads(json.dumps(document['resources'][0]))
    changed['typed_config']['config']['root_id'] = 'other'
    host.loaded['add_header'] = LoadedFilter('add_header', changed, document['version_info'], LAST_UPDATED)
    entry = host.judge()['add_header']
    assert entry['drift'] == CHANGED_ON_DISK
    assert 'was changed in place: Envoy still runs the config from before' in entry['drift_reason']


def test_a_file_no_listener_takes_and_a_file_envoy_rejected_at_start(host: JudgedHost) -> None:
    host.write('unused')
    host.write('rejected')
    judged = host.judge(host.envoy(referenced=[host.paths.ecds('rejected')]))
    assert judged['unused']['drift'] == CHANGED_ON_DISK
    assert judged['unused']['envoy']['loaded'] is False
    assert judged['unused']['drift_reason'] == f'Envoy does not load {host.paths.ecds("unused")}: no listener of it takes filter unused from that file'
    assert judged['rejected']['drift_reason'].endswith('runs no config of it: it rejected the file (see update_rejected)')


def test_a_missing_or_changed_module_is_changed_on_disk(host: JudgedHost) -> None:
    for name in ('gone', 'damaged'):
        host.run(host.write(name, marker=name))
    gone, damaged = (host.judge()[name]['module'] for name in ('gone', 'damaged'))
    os.unlink(gone)
    pathlib.Path(damaged).write_bytes(b'\0asm\x01\0\0\0')
    judged = host.judge()
    assert judged['gone']['module_digest'] is None
    assert judged['gone']['drift'] == CHANGED_ON_DISK
    assert f'the module {gone} is missing or unreadable' in judged['gone']['drift_reason']
    assert judged['damaged']['drift'] == CHANGED_ON_DISK
    assert 'was changed on disk: its sha256 is sha256:' in judged['damaged']['drift_reason']


def test_files_of_others_are_unmanaged(host: JudgedHost) -> None:
    document = host.write('theirs', identity=None)
    document['version_info'] = 'release-7'
    pathlib.Path(host.paths.ecds('theirs')).write_text(json.dumps(document), encoding='utf-8')
    host.run(document)
    pathlib.Path(host.paths.ecds('notes')).write_text('just: notes\n', encoding='utf-8')
    judged = host.judge()
    assert (judged['theirs']['drift'], judged['theirs']['confirmed'], judged['theirs']['envoy']['same_as_file']) == (UNMANAGED, False, True)
    assert judged['theirs']['drift_reason'].endswith('names no fingerprint of its content); Envoy runs it')
    assert judged['notes']['drift'] == UNMANAGED
    assert judged['notes']['type'] is None
    assert judged['notes']['drift_reason'] == f'{host.paths.ecds("notes")} holds no ECDS resource named notes'


def test_an_unreadable_file_is_changed_on_disk(host: JudgedHost) -> None:
    host.write('broken')
    pathlib.Path(host.paths.ecds('broken')).write_bytes(b'\xff\xfe')
    entry = host.judge()['broken']
    assert entry['drift'] == CHANGED_ON_DISK
    assert entry['drift_reason'].startswith(f'Cannot read {host.paths.ecds("broken")}')


def test_filters_envoy_runs_from_elsewhere_are_unmanaged(host: JudgedHost) -> None:
    host.run(host.write('add_header'))
    outside = json.loads(json.dumps(host.loaded['add_header'].resource))
    outside['name'] = outside['typed_config']['config']['name'] = 'outside'
    host.loaded['outside'] = LoadedFilter('outside', outside, f'{V2.reference} {V2.digest} 0123456789abcdef', LAST_UPDATED)
    host.loaded['rbac'] = LoadedFilter('rbac', {'name': 'rbac', 'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC'}})
    inline_config = dict(outside['typed_config'], config=dict(outside['typed_config']['config'], name='inline_plugin'))
    inline = LoadedFilter('envoy.filters.http.wasm', {'name': 'envoy.filters.http.wasm', 'typed_config': inline_config}, from_ecds=False)
    judged = host.judge(host.envoy(inline=[inline], referenced=[host.paths.ecds('add_header')]))
    assert list(judged) == ['add_header', 'outside', 'envoy.filters.http.wasm'], 'a filter that is no Wasm filter is left out'
    assert (judged['outside']['drift'], judged['outside']['file'], judged['outside']['image']) == (
        UNMANAGED, None, {'reference': V2.reference, 'digest': V2.digest})
    assert judged['outside']['drift_reason'] == ('Envoy runs Wasm filter outside from an ECDS file outside this config_dir, not from a file '
                                                 'envoy_wasm_filters wrote')
    assert judged['envoy.filters.http.wasm']['drift_reason'].startswith('Envoy runs Wasm filter envoy.filters.http.wasm from inline in a listener')
    assert judged['envoy.filters.http.wasm']['envoy']['version'] is None
    assert judged['envoy.filters.http.wasm']['envoy']['ecds_stats'] == {}


def test_a_removed_file_envoy_still_runs_and_an_expected_filter_from_elsewhere(host: JudgedHost) -> None:
    host.run(host.write('removed'))
    os.unlink(host.paths.ecds('removed'))
    outside = json.loads(json.dumps(host.loaded['removed'].resource))
    outside['name'] = 'outside'
    host.loaded['outside'] = LoadedFilter('outside', outside, 'v7', LAST_UPDATED)
    judged = judge(read_host(host.paths.config_dir), host.envoy(referenced=[host.paths.ecds('removed')]), {'outside': V1.reference})
    assert [(entry['name'], entry['drift']) for entry in judged] == [('outside', UNMANAGED), ('removed', CHANGED_ON_DISK)]
    assert judged[1]['drift_reason'] == (f'{host.paths.ecds("removed")} was removed; Envoy still runs the config it read from it, '
                                         'and cannot restart without it')
    assert judged[0]['drift_reason'].endswith(f'; expected {V1.reference} here')
    assert judged[0]['expected_image'] == V1.reference


def test_expected_images(host: JudgedHost) -> None:
    for name in ('same', 'pinned', 'other_tag', 'other_repository'):
        host.run(host.write(name))
    expected = {'same': V1.reference, 'pinned': f'registry.example.com/filters/add_header@{V1.digest}',
                'other_tag': V2.reference, 'other_repository': 'registry.example.com/filters/other:1.0',
                'absent': V1.reference}
    judged = host.judge(expected=expected)
    assert {name: entry['drift'] for name, entry in judged.items()} == {
        'other_repository': DIFFERENT_IMAGE, 'other_tag': DIFFERENT_IMAGE, 'pinned': IN_SYNC, 'same': IN_SYNC, 'absent': MISSING}
    assert judged['other_tag']['confirmed'] is True, 'Envoy runs the file as written, only not the image expected'
    assert judged['other_tag']['drift_reason'] == f'expected {V2.reference}; the host has {V1}'
    assert judged['absent'] == {'name': 'absent', 'type': None, 'image': {'reference': None, 'digest': None}, 'module_digest': None,
                                'confirmed': False, 'drift': MISSING, 'expected_image': V1.reference, 'file': None, 'module': None,
                                'envoy': None, 'drift_reason': f'expected {V1.reference}; the host has no ECDS file of filter absent'}
    assert all(entry['expected_image'] == expected[name] for name, entry in judged.items())


@pytest.mark.parametrize(('expected', 'identity', 'same'), [
    pytest.param('registry.example.com/filters/add_header:1.0', V1, True, id='same-tag'),
    pytest.param(f'registry.example.com/filters/add_header:1.0@{V1.digest}', V1, True, id='same-tag-and-digest'),
    pytest.param(f'registry.example.com/filters/add_header:1.0@{V2.digest}', V1, False, id='same-tag-other-digest'),
    pytest.param('registry.example.com/filters/add_header', V1, False, id='latest-is-another-tag'),
    pytest.param('mirror.example.com/filters/add_header:1.0', V1, False, id='another-registry'),
    pytest.param('docker.io/library/add_header:1.0', ImageIdentity('add_header:1.0', V1.digest), True, id='docker-hub-spellings'),
    pytest.param('registry.example.com/filters/add_header:1.0', ImageIdentity('oci:/srv/layout:1.0', V1.digest), False, id='layout'),
    pytest.param('registry.example.com/filters/add_header:1.0', None, False, id='no-image'),
])
def test_same_image(expected: str, identity: ImageIdentity | None, same: bool) -> None:
    assert same_image(expected, identity) is same


def test_check_expected() -> None:
    assert check_expected(None) == {}
    assert check_expected([{'name': 'a', 'image': V1.reference}]) == {'a': V1.reference}
    with pytest.raises(WasmOciError, match='expected names filter a twice'):
        check_expected([{'name': 'a', 'image': V1.reference}, {'name': 'a', 'image': V2.reference}])
    with pytest.raises(WasmOciError, match=r'^expected: filter a: Image reference .* must not contain a URL scheme'):
        check_expected([{'name': 'a', 'image': 'https://registry.example.com/a:1'}])


def test_envoy_stopped_filters_are_judged_from_the_files_and_the_record(host: JudgedHost) -> None:
    host.write('confirmed_before')
    host.write('written_while_stopped')
    write_unconfirmed(host.paths.config_dir, {host.paths.ecds('written_while_stopped'): 'extension_config_discovery.http_filter.x.'})
    judged = host.judge(STOPPED, expected={'confirmed_before': V2.reference})
    assert all(entry['envoy'] is None and entry['confirmed'] is False for entry in judged.values())
    assert judged['written_while_stopped']['drift'] == CHANGED_ON_DISK
    assert judged['written_while_stopped']['drift_reason'].endswith(f'Envoy does not answer now (nothing listens on {ADDRESS})')
    assert judged['confirmed_before']['drift'] == DIFFERENT_IMAGE
    assert host.judge(STOPPED)['confirmed_before']['drift_reason'] == f'judged from the files alone: nothing listens on {ADDRESS}'
    assert table_lines(list(judged.values()), STOPPED)[0].endswith(', Envoy not answering')


def test_files_envoy_confirmed_since_the_record_are_confirmed(host: JudgedHost) -> None:
    host.run(host.write('add_header'))
    write_unconfirmed(host.paths.config_dir, {host.paths.ecds('add_header'): 'extension_config_discovery.http_filter.add_header.'})
    entry = host.judge()['add_header']
    assert (entry['drift'], entry['confirmed']) == (IN_SYNC, True)


def test_same_config_ignores_the_fields_envoy_leaves_out_at_their_default() -> None:
    written = {'typed_config': {'config': {'name': 'a', 'vm_config': {'allow_precompiled': False, 'environment_variables': {}}, 'root_id': ''}}}
    printed = {'typed_config': {'config': {'name': 'a', 'vm_config': {}}}}
    assert same_config(written, printed)
    assert not same_config(written, {'typed_config': {'config': {'name': 'b'}}})
    assert not same_config(written, None)
    assert not same_config(None, printed)


def test_a_file_envoy_rejected_leaves_the_config_from_before_running(host: JudgedHost) -> None:
    running = host.write('add_header', V1)
    host.run(running)
    rejected = host.write('add_header', V2, marker='v2')
    view = envoy_view(ADDRESS, INFO, host.stats, ecds_dump(rejected, '2026-05-01T10:05:00Z'), [])
    entry = judge(read_host(host.paths.config_dir), dataclasses.replace(view, referenced=host.envoy().referenced), {})[0]
    assert (entry['drift'], entry['confirmed'], entry['envoy']['same_as_file'], entry['envoy']['last_file_rejected']) == (
        CHANGED_ON_DISK, False, False, True)
    assert entry['envoy']['image'] == {'reference': V1.reference, 'digest': V1.digest}
    assert entry['drift_reason'] == (f'Envoy rejected {host.paths.ecds("add_header")} (see update_rejected) and runs version '
                                     f'{running["version_info"]} of filter add_header, from before; Envoy logs why')


def test_plugin_stats_are_the_plugins_own(host: JudgedHost) -> None:
    host.run(host.write('envoy'))
    entry = host.judge()['envoy']
    assert entry['envoy']['plugin_stats'] == PLUGIN_COUNTERS, 'not the runtime stats under wasm.envoy.wasm.runtime.'


def test_table_lines_line_up() -> None:
    filters = [
        {'name': 'add_header', 'image': {'reference': V1.reference, 'digest': V1.digest}, 'drift': IN_SYNC, 'confirmed': True},
        {'name': 'auth', 'image': {'reference': V1.reference, 'digest': V1.digest}, 'drift': DIFFERENT_IMAGE, 'expected_image': V2.reference},
        {'name': 'gone', 'image': {'reference': None, 'digest': None}, 'drift': MISSING, 'expected_image': V2.reference},
    ]
    running = EnvoyView(ADDRESS)
    assert table_lines(filters, running) == [
        f'{"add_header":<20} {V1.reference:<50} sha256:111111111111 in_sync',
        f'{"auth":<20} {V1.reference:<50} sha256:111111111111 different_image (expected {V2.reference})',
        f'{"gone":<20} {"-":<50} {"-":<19} missing (expected {V2.reference})',
    ]
    assert table_lines([], running) == [f'{"-":<20} {"-":<50} {"-":<19} no Wasm filters']
    assert table_lines([], STOPPED) == [f'{"-":<20} {"-":<50} {"-":<19} no Wasm filters, Envoy not answering']
