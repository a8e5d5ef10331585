# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import os
import pathlib
import typing as t
import urllib.parse

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy import admin as admin_module
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import REJECTED, SUCCESS, AdminError, EnvoyAdmin, UpdateCounters, same_envoy, stat_prefix

PREFIX = 'extension_config_discovery.http_filter.add_header.'
BEFORE = UpdateCounters(1, 0, 'v1')
INFO = {'command_line_options': {'config_path': '/etc/envoy/envoy.yaml'}, 'node': {'id': 'edge-1'}}


class ScriptedCounters(EnvoyAdmin):
    """Answers counters from a script instead of an Envoy, on the fake clock."""

    def __init__(self, answers: list[UpdateCounters | None], clock: t.Any) -> None:
        super().__init__('127.0.0.1:9901', clock=clock, sleep=clock.sleep)
        self.answers = list(answers)
        self.asked = 0

    def counters(self, prefix: str) -> UpdateCounters | None:
        self.asked += 1
        return self.answers.pop(0) if self.answers else BEFORE


def _stats(*items: tuple[str, t.Any]) -> dict[str, t.Any]:
    return {'stats': [{'name': name, 'value': value} for name, value in items]}


def test_stat_prefix_names_the_filter_type() -> None:
    assert stat_prefix('add_header', 'http') == PREFIX
    assert stat_prefix('tcp_guard', 'network') == 'extension_config_discovery.network_filter.tcp_guard.'


@pytest.mark.parametrize(('answers', 'version', 'outcome'), [
    pytest.param([BEFORE, None, UpdateCounters(2, 0, 'v2')], None, SUCCESS, id='success-after-no-stats'),
    pytest.param([UpdateCounters(2, 0, 'v2')], 'v2', SUCCESS, id='success-of-the-version'),
    pytest.param([UpdateCounters(2, 0, 'v1'), UpdateCounters(3, 0, 'v2')], 'v2', SUCCESS, id='waits-for-the-version'),
    pytest.param([UpdateCounters(1, 1, 'v1')], None, REJECTED, id='rejected'),
    pytest.param([UpdateCounters(2, 1, 'v2')], 'v2', REJECTED, id='rejection-wins'),
    pytest.param([UpdateCounters(2, 0, 'other')] * 100, 'v2', None, id='other-version-until-the-deadline'),
    pytest.param([BEFORE] * 100, None, None, id='nothing-moves'),
])
def test_wait_for_update_reports_what_moved(clock: t.Any, answers: list[UpdateCounters | None], version: str | None,
                                            outcome: str | None) -> None:
    admin = ScriptedCounters(answers, clock)
    assert admin.wait_for_update(PREFIX, BEFORE, timeout=5, version=version) == outcome
    if outcome is None:
        # Gave up at the deadline of the fake clock: one reading per tick, a poll interval's sleep in between.
        assert admin.asked <= 6
        assert clock.sleeps == [admin_module._POLL_INTERVAL] * (admin.asked - 1)


def test_server_info_is_none_when_the_port_refuses_connections(refused_address: str) -> None:
    assert EnvoyAdmin(refused_address, timeout=1).server_info() is None


def test_counters_of_a_stopped_envoy_are_an_error(refused_address: str) -> None:
    with pytest.raises(AdminError, match=r'stopped answering \(connection refused\): did Envoy exit\?'):
        EnvoyAdmin(refused_address, timeout=1).counters(PREFIX)


def test_server_info_of_envoy(service: t.Any) -> None:
    service.answer('/server_info', document=INFO)
    assert EnvoyAdmin(service.address).server_info() == INFO


@pytest.mark.parametrize('document', [[], {'version': '1.40'}, {'command_line_options': 'x'}])
def test_server_info_without_command_line_options_is_no_envoy(service: t.Any, document: t.Any) -> None:
    service.answer('/server_info', document=document)
    with pytest.raises(AdminError, match='answered /server_info without command_line_options: it is not an Envoy admin'):
        EnvoyAdmin(service.address).server_info()


@pytest.mark.parametrize(('answer', 'message'), [
    pytest.param({'status': 404}, r'answered HTTP 404 for /server_info: is it the admin address of Envoy\?', id='http-404'),
    pytest.param({'body': b'<html>hello</html>'}, r'sent /server_info that is not JSON: .*is it the admin address of Envoy\?',
                 id='not-json'),
    pytest.param({'body': b'\xff\xfe'}, 'sent /server_info that is not JSON', id='not-utf-8'),
    pytest.param({'raw': b'garbage\r\n\r\n'}, 'cannot be asked: ', id='not-http'),
    pytest.param({'delay': 1.0, 'document': INFO}, 'did not answer in time; Envoy may be running, so nothing was changed',
                 id='timeout'),
])
def test_an_answer_that_proves_nothing_is_an_error_not_a_stopped_envoy(service: t.Any, answer: dict[str, t.Any],
                                                                       message: str) -> None:
    service.answer('/server_info', **answer)
    with pytest.raises(AdminError, match=f'^Envoy admin at {service.address} {message}') as caught:
        EnvoyAdmin(service.address, timeout=0.3).server_info()
    assert isinstance(caught.value, WasmOciError)


def test_an_answer_bigger_than_the_limit_is_an_error(service: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_module, 'MAX_ANSWER_BYTES', 16)
    service.answer('/server_info', document=INFO)
    with pytest.raises(AdminError, match='sent more than 16 bytes for /server_info'):
        EnvoyAdmin(service.address).server_info()
    service.answer('/server_info', body=b'{"a": 1234567}\n\n')
    assert len(b'{"a": 1234567}\n\n') == 16
    with pytest.raises(AdminError, match='without command_line_options'):
        EnvoyAdmin(service.address).server_info()


def test_counters_ask_for_the_stats_under_the_prefix_and_parse_them(service: t.Any) -> None:
    service.answer('/stats', document=_stats((PREFIX + 'update_success', 7), (PREFIX + 'update_rejected', 2),
                                             (PREFIX + 'version_text', 'ref sha256:1 0123456789abcdef'),
                                             (PREFIX + 'update_attempt', 9), ('other.update_success', 5)))
    assert EnvoyAdmin(service.address).counters(PREFIX) == UpdateCounters(7, 2, 'ref sha256:1 0123456789abcdef')
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(service.requests[-1]).query)
    assert query == {'format': ['json'], 'filter': [r'^extension_config_discovery\.http_filter\.add_header\.']}


@pytest.mark.parametrize(('items', 'expected'), [
    pytest.param([(PREFIX + 'update_success', 1)], UpdateCounters(1, 0, ''), id='missing-values-are-zero'),
    pytest.param([(PREFIX + 'update_success', True), (PREFIX + 'update_rejected', '3'), (PREFIX + 'version_text', None)],
                 UpdateCounters(0, 0, ''), id='values-of-other-types-are-zero'),
    pytest.param([], None, id='no-stats'),
    pytest.param([('extension_config_discovery.http_filter.add_header_2.update_success', 1)], None, id='only-other-prefixes'),
])
def test_counters_values(service: t.Any, items: list[tuple[str, t.Any]], expected: UpdateCounters | None) -> None:
    document = _stats(*items)
    document['stats'].append({'histograms': {}})
    service.answer('/stats', document=document)
    assert EnvoyAdmin(service.address).counters(PREFIX) == expected


@pytest.mark.parametrize('document', [[], {'stats': {}}, {'other': []}])
def test_stats_that_are_no_stats_list_are_an_error(service: t.Any, document: t.Any) -> None:
    service.answer('/stats', document=document)
    with pytest.raises(AdminError, match='sent stats that are not a JSON object with a stats list'):
        EnvoyAdmin(service.address).counters(PREFIX)


def _info(config_path: t.Any, node_id: t.Any = 'edge-1') -> dict[str, t.Any]:
    return {'command_line_options': {'config_path': config_path}, 'node': {'id': node_id}}


def test_same_envoy_by_absolute_path_compares_real_paths(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    bootstrap = str(tmp_path / 'real' / 'envoy.yaml')
    assert same_envoy(_info(str(tmp_path / 'link' / 'envoy.yaml')), bootstrap, None)
    assert same_envoy(_info(f'{tmp_path}/real/../real/envoy.yaml', 'another node'), bootstrap, 'edge-1')
    assert not same_envoy(_info(str(tmp_path / 'other' / 'envoy.yaml')), bootstrap, 'edge-1')


@pytest.mark.parametrize(('info', 'node_id', 'expected'), [
    pytest.param(_info('envoy.yaml'), 'edge-1', True, id='relative-same-name-and-node'),
    pytest.param(_info('./conf/envoy.yaml'), 'edge-1', True, id='relative-in-a-directory'),
    pytest.param(_info('envoy.yaml', 'edge-2'), 'edge-1', False, id='relative-other-node'),
    pytest.param(_info('envoy.yaml'), None, False, id='relative-bootstrap-without-node'),
    pytest.param(_info('front.yaml'), 'edge-1', False, id='relative-other-name'),
    pytest.param({'command_line_options': {'config_path': 'envoy.yaml'}}, 'edge-1', False, id='relative-no-node'),
    pytest.param({'command_line_options': {'config_path': 'envoy.yaml'}, 'node': 'edge-1'}, 'edge-1', False, id='node-not-dict'),
    pytest.param(_info(''), 'edge-1', False, id='no-file'),
    pytest.param({'command_line_options': {}}, 'edge-1', False, id='no-config-path'),
    pytest.param(_info(['envoy.yaml']), 'edge-1', False, id='config-path-not-a-string'),
])
def test_same_envoy_by_relative_path_needs_the_node_id(info: dict[str, t.Any], node_id: str | None, expected: bool) -> None:
    assert same_envoy(info, os.path.join('/etc/envoy', 'envoy.yaml'), node_id) is expected
