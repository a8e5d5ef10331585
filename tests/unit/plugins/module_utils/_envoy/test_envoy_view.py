# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Envoy's view of its Wasm filters, read from answers shaped as a real Envoy 1.40 gives them."""

from __future__ import annotations

import os
import typing as t
import urllib.parse

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import AdminError, EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import ecds_filter_entry, filter_reference
from ansible_collections.wasm.oci.plugins.module_utils._envoy.envoy_view import accepted_version, ask_envoy, ecds_stats, envoy_view, plugin_stats
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
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


@pytest.fixture
def host(paths: Paths, add_module: t.Callable[..., str]) -> EnvoyHost:
    return EnvoyHost(paths, add_module)


def test_envoy_view_reads_config_dump_and_listeners(host: EnvoyHost) -> None:
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
    assert list(view.ecds) == ['add_header']
    assert view.ecds['add_header'].version == document['version_info']
    assert view.ecds['add_header'].last_updated == LAST_UPDATED
    assert [(found.name, found.plugin, found.from_ecds) for found in view.inline] == [('inline', 'add_header', False)]
    assert view.referenced == {os.path.realpath(host.paths.ecds('add_header'))}
    assert view.result() == {'address': ADDRESS, 'available': True, 'error': None, 'version': INFO['version'],
                             'config_path': '/etc/envoy/envoy.yaml', 'node_id': 'edge-1', 'wasm_runtime_stats': {'v8.active': 1}}


def test_a_config_envoy_rejected_shows_in_config_dump_but_not_in_what_it_runs(host: EnvoyHost) -> None:
    """Envoy 1.40 puts the last ECDS config it read in /config_dump even when it rejects it; its stats tell the truth."""
    running = host.write('add_header', V1)
    host.run(running)
    rejected = host.write('add_header', V2, marker='v2')
    loaded = envoy_view(ADDRESS, INFO, host.stats, ecds_dump(rejected, '2026-05-01T10:05:00Z'), []).ecds['add_header']
    assert (loaded.rejected, loaded.version, loaded.last_updated) == (True, running['version_info'], '2026-05-01T10:00:00.151Z')
    # A dump Envoy stamped before it applied the config is the config it runs.
    accepted = envoy_view(ADDRESS, INFO, host.stats, ecds_dump(running, LAST_UPDATED), []).ecds['add_header']
    assert (accepted.rejected, accepted.last_updated) == (False, LAST_UPDATED)


def test_the_stats_of_one_filter(host: EnvoyHost) -> None:
    document = host.write('envoy')
    host.run(document)
    assert ecds_stats(host.stats, 'envoy', 'http') == ECDS_COUNTERS
    assert ecds_stats(host.stats, 'envoy', None) == {}
    assert accepted_version(host.stats, 'envoy', 'http') == document['version_info']
    assert accepted_version(host.stats, 'envoy', 'network') is None
    assert accepted_version(host.stats, 'envoy', None) is None
    assert plugin_stats(host.stats, 'envoy') == PLUGIN_COUNTERS, 'not the runtime stats under wasm.envoy.wasm.runtime.'


def test_a_stopped_envoy_reports_only_why() -> None:
    assert STOPPED.result() == {'address': ADDRESS, 'available': False, 'error': f'nothing listens on {ADDRESS}', 'version': None,
                                'config_path': None, 'node_id': None, 'wasm_runtime_stats': {}}


def _query(path: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)


def test_ask_envoy_reads_its_admin_interface(service: t.Any) -> None:
    service.answer('/server_info', document=INFO)
    service.answer('/stats', document={'stats': [{'name': 'wasm.envoy.wasm.runtime.v8.active', 'value': 3}, {'histograms': {}}]})
    # Envoy answers 400 for a mask no config has: an Envoy without ECDS filters (nor, here, listeners).
    service.answer('/config_dump', status=400, body=b'FieldMask ecds_filters could not be successfully applied to any configs.')
    view = ask_envoy(EnvoyAdmin(service.address))
    assert view.available
    assert view.ecds == {}
    assert view.inline == []
    assert view.stats == {'wasm.envoy.wasm.runtime.v8.active': 3}
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
