# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""envoy_wasm_info's core: the host's ECDS files as envoy_wasm_filters writes them, Envoy's answers as Envoy 1.40
gives them (shapes taken from a real Envoy's /config_dump and /stats), and the drift verdicts in between."""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
import os
import pathlib
import typing as t
import urllib.parse

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import AdminError, EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import (
    ImageIdentity,
    dump_document,
    ecds_document,
    ecds_filter_entry,
    filter_reference,
    wasm_filter,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.inventory import (
    CHANGED_ON_DISK,
    DIFFERENT_IMAGE,
    IN_SYNC,
    MISSING,
    UNMANAGED,
    EnvoyView,
    HostFiles,
    LoadedFilter,
    ask_envoy,
    check_expected,
    envoy_view,
    judge,
    module_digest,
    read_filter_file,
    read_host,
    same_config,
    same_image,
    table_lines,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import write_unconfirmed
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError

V1 = ImageIdentity('registry.example.com/filters/add_header:1.0', 'sha256:' + '1' * 64)
V2 = ImageIdentity('registry.example.com/filters/add_header:2.0', 'sha256:' + '2' * 64)
LAST_UPDATED = '2026-05-01T10:00:00.123Z'
# Envoy's update_time gauge, in milliseconds since the epoch, a few milliseconds after it stamped LAST_UPDATED.
APPLIED_AT = calendar.timegm((2026, 5, 1, 10, 0, 0)) * 1000 + 151
ADDRESS = '127.0.0.1:9901'
INFO = {'version': 'abc/1.40.0/Clean/RELEASE/BoringSSL', 'command_line_options': {'config_path': '/etc/envoy/envoy.yaml'},
        'node': {'id': 'edge-1'}}
ECDS_COUNTERS = {'update_success': 2, 'update_rejected': 1, 'update_attempt': 3, 'config_reload': 2, 'config_fail': 0,
                 'update_time': APPLIED_AT, 'version': 11811695036435292433}
PLUGIN_COUNTERS = {'vm_reload': 0, 'vm_reload_backoff': 1, 'vm_reload_failure': 0, 'vm_reload_success': 1}


class Host:
    """One Envoy's files as envoy_wasm_filters writes them, and Envoy's answers about them."""

    def __init__(self, paths: Paths, add_module: t.Callable[..., str]) -> None:
        self.paths = paths
        self.add_module = add_module
        self.loaded: dict[str, LoadedFilter] = {}
        self.stats: dict[str, t.Any] = {'wasm.envoy.wasm.runtime.v8.active': 2, 'wasm.envoy.wasm.runtime.v8.created': 4}

    def module(self, marker: str) -> str:
        return os.path.join(self.paths.wasm_dir, self.add_module(marker).split(':')[1] + '.wasm')

    def write(self, name: str, identity: ImageIdentity | None = V1, filter_type: str = 'http', marker: str = 'v1',
              configuration: t.Any = None) -> dict[str, t.Any]:
        """The ECDS file of ``name`` as envoy_wasm_filters writes it; its document."""
        wasm = wasm_filter(name=name, module=self.module(marker), root_id='add_header', filter_type=filter_type,
                           configuration=configuration if configuration is not None else {'secret': 's3cr3t'})
        document = ecds_document(wasm, identity)
        os.makedirs(self.paths.ecds_dir, exist_ok=True)
        pathlib.Path(self.paths.ecds(name)).write_text(dump_document(document), encoding='utf-8')
        return document

    def run(self, document: dict[str, t.Any], filter_type: str = 'http') -> None:
        """Envoy runs ``document``, counting its updates as it does."""
        name = document['resources'][0]['name']
        self.loaded[name] = LoadedFilter(name, document['resources'][0], document['version_info'], LAST_UPDATED)
        prefix = f'extension_config_discovery.{filter_type}_filter.{name}.'
        self.stats.update({prefix + key: value for key, value in ECDS_COUNTERS.items()})
        self.stats[prefix + 'version_text'] = document['version_info']
        self.stats.update({f'wasm.{name}.{key}': value for key, value in PLUGIN_COUNTERS.items()})

    def envoy(self, inline: list[LoadedFilter] | None = None, referenced: t.Iterable[str] | None = None) -> EnvoyView:
        paths = referenced if referenced is not None else (self.paths.ecds(name) for name in self.loaded)
        return EnvoyView(ADDRESS, None, INFO, dict(self.loaded), inline or [], frozenset(os.path.realpath(path) for path in paths),
                         dict(self.stats))

    def judge(self, envoy: EnvoyView | None = None, expected: dict[str, str] | None = None) -> dict[str, dict[str, t.Any]]:
        return {entry['name']: entry for entry in judge(read_host(self.paths.config_dir), envoy or self.envoy(), expected or {})}


@pytest.fixture
def host(paths: Paths, add_module: t.Callable[..., str]) -> Host:
    return Host(paths, add_module)


STOPPED = EnvoyView(ADDRESS, error=f'nothing listens on {ADDRESS}')


def test_a_filter_envoy_runs_as_written_is_in_sync_and_confirmed(host: Host) -> None:
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


def test_a_network_filter_and_a_filter_from_a_module_file(host: Host) -> None:
    host.run(host.write('tcp', filter_type='network'), filter_type='network')
    host.run(host.write('by_hand', identity=None))
    judged = host.judge()
    assert (judged['tcp']['type'], judged['tcp']['drift'], judged['tcp']['envoy']['update_success']) == ('network', IN_SYNC, 2)
    assert judged['by_hand']['image'] == {'reference': None, 'digest': None} and judged['by_hand']['drift'] == IN_SYNC


def test_a_file_edited_in_place_is_changed_on_disk_not_loaded(host: Host) -> None:
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


def test_an_edit_envoy_loaded_is_changed_on_disk_and_unconfirmed(host: Host) -> None:
    document = host.write('add_header')
    document['resources'][0]['typed_config']['config']['root_id'] = 'other'
    pathlib.Path(host.paths.ecds('add_header')).write_text(json.dumps(document), encoding='utf-8')
    host.run(document)
    entry = host.judge()['add_header']
    assert (entry['drift'], entry['confirmed'], entry['envoy']['same_as_file']) == (CHANGED_ON_DISK, False, True)
    assert entry['drift_reason'].endswith('Envoy runs the edit, which no rollout confirmed')


def test_a_rewritten_file_envoy_rejected_is_changed_on_disk(host: Host) -> None:
    host.run(host.write('add_header', V1))
    host.write('add_header', V2, marker='v2')
    entry = host.judge()['add_header']
    assert (entry['drift'], entry['confirmed'], entry['image']['reference'], entry['envoy']['image']['reference']) == (
        CHANGED_ON_DISK, False, V2.reference, V1.reference)
    assert entry['drift_reason'].startswith('Envoy runs version ' + host.loaded['add_header'].version)
    assert entry['drift_reason'].endswith('it rejected the file, or has yet to read it')


def test_the_same_version_with_another_config_was_changed_in_place(host: Host) -> None:
    document = host.write('add_header')
    host.run(document)
    changed = json.loads(json.dumps(document['resources'][0]))
    changed['typed_config']['config']['root_id'] = 'other'
    host.loaded['add_header'] = LoadedFilter('add_header', changed, document['version_info'], LAST_UPDATED)
    entry = host.judge()['add_header']
    assert entry['drift'] == CHANGED_ON_DISK and 'was changed in place: Envoy still runs the config from before' in entry['drift_reason']


def test_a_file_no_listener_takes_and_a_file_envoy_rejected_at_start(host: Host) -> None:
    host.write('unused')
    host.write('rejected')
    judged = host.judge(host.envoy(referenced=[host.paths.ecds('rejected')]))
    assert judged['unused']['drift'] == CHANGED_ON_DISK and judged['unused']['envoy']['loaded'] is False
    assert judged['unused']['drift_reason'] == f'Envoy does not load {host.paths.ecds("unused")}: no listener of it takes filter unused from that file'
    assert judged['rejected']['drift_reason'].endswith('runs no config of it: it rejected the file (see update_rejected)')


def test_a_missing_or_changed_module_is_changed_on_disk(host: Host) -> None:
    for name in ('gone', 'damaged'):
        host.run(host.write(name, marker=name))
    gone, damaged = (host.judge()[name]['module'] for name in ('gone', 'damaged'))
    os.unlink(gone)
    pathlib.Path(damaged).write_bytes(b'\0asm\x01\0\0\0')
    judged = host.judge()
    assert judged['gone']['module_digest'] is None and judged['gone']['drift'] == CHANGED_ON_DISK
    assert f'the module {gone} is missing or unreadable' in judged['gone']['drift_reason']
    assert judged['damaged']['drift'] == CHANGED_ON_DISK and 'was changed on disk: its sha256 is sha256:' in judged['damaged']['drift_reason']


def test_files_of_others_are_unmanaged(host: Host) -> None:
    document = host.write('theirs', identity=None)
    document['version_info'] = 'release-7'
    pathlib.Path(host.paths.ecds('theirs')).write_text(json.dumps(document), encoding='utf-8')
    host.run(document)
    pathlib.Path(host.paths.ecds('notes')).write_text('just: notes\n', encoding='utf-8')
    judged = host.judge()
    assert (judged['theirs']['drift'], judged['theirs']['confirmed'], judged['theirs']['envoy']['same_as_file']) == (UNMANAGED, False, True)
    assert judged['theirs']['drift_reason'].endswith('names no fingerprint of its content); Envoy runs it')
    assert judged['notes']['drift'] == UNMANAGED and judged['notes']['type'] is None
    assert judged['notes']['drift_reason'] == f'{host.paths.ecds("notes")} holds no ECDS resource named notes'


def test_an_unreadable_file_is_changed_on_disk(host: Host) -> None:
    host.write('broken')
    pathlib.Path(host.paths.ecds('broken')).write_bytes(b'\xff\xfe')
    entry = host.judge()['broken']
    assert entry['drift'] == CHANGED_ON_DISK and entry['drift_reason'].startswith(f'Cannot read {host.paths.ecds("broken")}')


def test_filters_envoy_runs_from_elsewhere_are_unmanaged(host: Host) -> None:
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
    assert judged['envoy.filters.http.wasm']['envoy']['version'] is None and judged['envoy.filters.http.wasm']['envoy']['ecds_stats'] == {}


def test_a_removed_file_envoy_still_runs_and_an_expected_filter_from_elsewhere(host: Host) -> None:
    host.run(host.write('removed'))
    os.unlink(host.paths.ecds('removed'))
    outside = json.loads(json.dumps(host.loaded['removed'].resource))
    outside['name'] = 'outside'
    host.loaded['outside'] = LoadedFilter('outside', outside, 'v7', LAST_UPDATED)
    judged = judge(read_host(host.paths.config_dir), host.envoy(referenced=[host.paths.ecds('removed')]), {'outside': V1.reference})
    assert [(entry['name'], entry['drift']) for entry in judged] == [('outside', UNMANAGED), ('removed', CHANGED_ON_DISK)]
    assert judged[1]['drift_reason'] == (f'{host.paths.ecds("removed")} was removed; Envoy still runs the config it read from it, '
                                         'and cannot restart without it')
    assert judged[0]['drift_reason'].endswith(f'; expected {V1.reference} here') and judged[0]['expected_image'] == V1.reference


def test_expected_images(host: Host) -> None:
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


@pytest.mark.parametrize('expected, identity, same', [
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
    with pytest.raises(WasmOciError, match='^expected: filter a: Image reference .* must not contain a URL scheme'):
        check_expected([{'name': 'a', 'image': 'https://registry.example.com/a:1'}])


def test_envoy_stopped_filters_are_judged_from_the_files_and_the_record(host: Host) -> None:
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
    assert STOPPED.result() == {'address': ADDRESS, 'available': False, 'error': f'nothing listens on {ADDRESS}', 'version': None,
                                'config_path': None, 'node_id': None, 'wasm_runtime_stats': {}}


def test_files_envoy_confirmed_since_the_record_are_confirmed(host: Host) -> None:
    host.run(host.write('add_header'))
    write_unconfirmed(host.paths.config_dir, {host.paths.ecds('add_header'): 'extension_config_discovery.http_filter.add_header.'})
    entry = host.judge()['add_header']
    assert (entry['drift'], entry['confirmed']) == (IN_SYNC, True)


def test_only_the_ecds_files_are_read(host: Host) -> None:
    assert read_host(host.paths.config_dir) == HostFiles(host.paths.config_dir, [])
    host.write('add_header')
    for name in ('add_header.yaml.previous', '.hidden.yaml', 'notes.txt'):
        pathlib.Path(host.paths.ecds_dir, name).write_text('{}', encoding='utf-8')
    assert [read.name for read in read_host(host.paths.config_dir).files] == ['add_header']


def test_a_yaml_file_written_by_a_person(host: Host, tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'by_person.yaml'
    path.write_text('version_info: "7"\nresources:\n- "@type": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig\n'
                    '  name: by_person\n  typed_config:\n    "@type": type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm\n'
                    '    config: {name: plugin, vm_config: {code: {local: {filename: /srv/by_person.wasm}}}}\n', encoding='utf-8')
    read = read_filter_file(str(path), 'by_person')
    assert (read.filter_type, read.written, read.version, read.module, read.plugin) == ('network', None, '7', '/srv/by_person.wasm', 'plugin')


def test_same_config_ignores_the_fields_envoy_leaves_out_at_their_default() -> None:
    written = {'typed_config': {'config': {'name': 'a', 'vm_config': {'allow_precompiled': False, 'environment_variables': {}}, 'root_id': ''}}}
    printed = {'typed_config': {'config': {'name': 'a', 'vm_config': {}}}}
    assert same_config(written, printed)
    assert not same_config(written, {'typed_config': {'config': {'name': 'b'}}})
    assert not same_config(written, None) and not same_config(None, printed)


def test_envoy_view_reads_config_dump_and_listeners(host: Host) -> None:
    document = host.write('add_header')
    ecds = [{'@type': 'type.googleapis.com/envoy.admin.v3.EcdsConfigDump', 'ecds_filters': [
        {'version_info': document['version_info'], 'ecds_filter': document['resources'][0], 'last_updated': LAST_UPDATED}]},
        {'@type': 'type.googleapis.com/envoy.admin.v3.EcdsConfigDump', 'ecds_filters': [{'ecds_filter': 'not a filter'}]}]
    wasm = document['resources'][0]['typed_config']
    listener = {'filter_chains': [{'filters': [{'name': 'envoy.filters.network.http_connection_manager', 'typed_config': {'http_filters': [
        ecds_filter_entry(filter_reference('add_header', host.paths.ecds('add_header'))), {'name': 'inline', 'typed_config': wasm},
        {'name': 'envoy.filters.http.router', 'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'}}]}}]}]}
    listeners = [{'@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', 'dynamic_listeners': [
        {'name': 'l', 'active_state': {'listener': listener}, 'warming_state': {'listener': listener}}]}]
    view = envoy_view(ADDRESS, INFO, {'wasm.envoy.wasm.runtime.v8.active': 1}, ecds, listeners)
    assert list(view.ecds) == ['add_header'] and view.ecds['add_header'].version == document['version_info']
    assert view.ecds['add_header'].last_updated == LAST_UPDATED
    assert [(found.name, found.plugin, found.from_ecds) for found in view.inline] == [('inline', 'add_header', False)]
    assert view.referenced == {os.path.realpath(host.paths.ecds('add_header'))}
    assert view.result() == {'address': ADDRESS, 'available': True, 'error': None, 'version': INFO['version'],
                             'config_path': '/etc/envoy/envoy.yaml', 'node_id': 'edge-1', 'wasm_runtime_stats': {'v8.active': 1}}


def _ecds_dump(document: dict[str, t.Any], last_updated: str) -> list[dict[str, t.Any]]:
    return [{'@type': 'type.googleapis.com/envoy.admin.v3.EcdsConfigDump', 'ecds_filters': [
        {'version_info': document['version_info'], 'ecds_filter': document['resources'][0], 'last_updated': last_updated}]}]


def test_a_config_envoy_rejected_shows_in_config_dump_but_not_in_what_it_runs(host: Host) -> None:
    """Envoy 1.40 puts the last ECDS config it read in /config_dump even when it rejects it; its stats tell the truth."""
    running = host.write('add_header', V1)
    host.run(running)
    rejected = host.write('add_header', V2, marker='v2')
    view = envoy_view(ADDRESS, INFO, host.stats, _ecds_dump(rejected, '2026-05-01T10:05:00Z'), [])
    loaded = view.ecds['add_header']
    assert (loaded.rejected, loaded.version, loaded.last_updated) == (True, running['version_info'], '2026-05-01T10:00:00.151Z')
    entry = judge(read_host(host.paths.config_dir), dataclasses.replace(view, referenced=host.envoy().referenced), {})[0]
    assert (entry['drift'], entry['confirmed'], entry['envoy']['same_as_file'], entry['envoy']['last_file_rejected']) == (
        CHANGED_ON_DISK, False, False, True)
    assert entry['envoy']['image'] == {'reference': V1.reference, 'digest': V1.digest}
    assert entry['drift_reason'] == (f'Envoy rejected {host.paths.ecds("add_header")} (see update_rejected) and runs version '
                                     f'{running["version_info"]} of filter add_header, from before; Envoy logs why')
    # A dump Envoy stamped before it applied the config is the config it runs.
    accepted = envoy_view(ADDRESS, INFO, host.stats, _ecds_dump(running, LAST_UPDATED), []).ecds['add_header']
    assert (accepted.rejected, accepted.last_updated) == (False, LAST_UPDATED)


def test_plugin_stats_are_the_plugins_own(host: Host) -> None:
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


def test_module_digest(tmp_path: pathlib.Path) -> None:
    module = tmp_path / 'm.wasm'
    module.write_bytes(b'module')
    assert module_digest(str(module)) == 'sha256:' + hashlib.sha256(b'module').hexdigest()
    assert module_digest(str(tmp_path / 'none.wasm')) is None and module_digest(None) is None


def _query(path: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)


def test_ask_envoy_reads_its_admin_interface(service: t.Any) -> None:
    service.answer('/server_info', document=INFO)
    service.answer('/stats', document={'stats': [{'name': 'wasm.envoy.wasm.runtime.v8.active', 'value': 3}, {'histograms': {}}]})
    # Envoy answers 400 for a mask no config has: an Envoy without ECDS filters (nor, here, listeners).
    service.answer('/config_dump', status=400, body=b'FieldMask ecds_filters could not be successfully applied to any configs.')
    view = ask_envoy(EnvoyAdmin(service.address))
    assert view.available and view.ecds == {} and view.inline == [] and view.stats == {'wasm.envoy.wasm.runtime.v8.active': 3}
    assert [_query(path) for path in service.requests[1:]] == [
        {'format': ['json'], 'filter': [r'^(extension_config_discovery\.|wasm\.)']},
        {'mask': ['ecds_filters']}, {'mask': ['dynamic_listeners,static_listeners']}]


def test_ask_envoy_reports_why_it_has_no_view(service: t.Any, refused_address: str) -> None:
    assert ask_envoy(EnvoyAdmin(refused_address)).error == (
        f'nothing listens on {refused_address}: Envoy is stopped, or its admin interface answers on another address (admin_address)')
    service.answer('/server_info', status=404)
    assert 'answered HTTP 404 for /server_info' in ask_envoy(EnvoyAdmin(service.address)).error
    service.answer('/server_info', document=INFO)
    service.answer('/stats', document={'stats': []})
    service.answer('/config_dump', document=['not', 'a', 'dump'])
    assert ask_envoy(EnvoyAdmin(service.address)).error.endswith('sent a config dump that is not a JSON object with a configs list')


def test_admin_stats_and_config_dump(service: t.Any, refused_address: str) -> None:
    service.answer('/stats', document={'stats': [{'name': 'a.b', 'value': 1}, {'name': 7, 'value': 2}, {'histograms': {}}]})
    service.answer('/config_dump', document={'configs': [{'@type': 'x'}, 'junk']})
    admin = EnvoyAdmin(service.address)
    assert admin.stats('^a') == {'a.b': 1}
    assert admin.config_dump('ecds_filters') == [{'@type': 'x'}]
    service.answer('/config_dump', status=500)
    with pytest.raises(AdminError, match='answered HTTP 500 for /config_dump'):
        admin.config_dump('ecds_filters')
    for ask in (lambda: EnvoyAdmin(refused_address).stats('^a'), lambda: EnvoyAdmin(refused_address).config_dump('ecds_filters')):
        with pytest.raises(AdminError, match=r'stopped answering \(connection refused\): did Envoy exit\?'):
            ask()
