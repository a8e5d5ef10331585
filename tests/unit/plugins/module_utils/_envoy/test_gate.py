# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The metric gate's core: which of Envoy's counters count (found in /config_dump shaped as Envoy 1.40 gives it, with the
listener the managed bootstrap really has), their deltas over a window, the verdict on each named condition, and the
sampling loop on a fake clock."""

from __future__ import annotations

import re
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import filter_reference, managed_config, wasm_filter, wasm_typed_config
from ansible_collections.wasm.oci.plugins.module_utils._envoy.gate import Conditions, GateError, Measured, Sample, Scope, Tally, judge, scope_of, watch

LISTENERS_DUMP = 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump'
ECDS_DUMP = 'type.googleapis.com/envoy.admin.v3.EcdsConfigDump'
HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'
# Stats as a real Envoy 1.40 names them, with a FAIL_RELOAD plugin that failed, and some that must not count.
ENVOY_STATS: dict[str, t.Any] = {
    'http.wasm_oci.downstream_rq_total': 120,
    'http.wasm_oci.downstream_rq_5xx': 7,
    'http.wasm_oci.downstream_rq_completed': 120,
    'http.admin.downstream_rq_total': 40,
    'http.admin.downstream_rq_5xx': 1,
    'listener.127.0.0.1_10000.http.wasm_oci.downstream_rq_5xx': 7,
    'wasm.add_header.vm_reload': 0,
    'wasm.add_header.vm_reload_backoff': 10,
    'wasm.add_header.vm_reload_failure': 0,
    'wasm.add_header.vm_reload_success': 2,
    'wasm.other.vm_reload_backoff': 5,
    'wasm.envoy.wasm.runtime.v8.active': 3,
    'wasm.envoy.wasm.runtime.v8.created': 6,
    'wasm.remote_load_fetch_failures': 0,
    'wasm.remote_load_fetch_successes': 4,
    'wasm.wasm_vm_count': 3,
    'extension_config_discovery.http_filter.add_header.update_rejected': 1,
    'server.uptime': 12,
}


def _listeners(*listeners: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """/config_dump?mask=dynamic_listeners,static_listeners: a listener being replaced shows in two states."""
    return [{'@type': LISTENERS_DUMP, 'dynamic_listeners': [
        {'name': listener['name'], 'active_state': {'version_info': 'v', 'listener': listener}, 'warming_state': {'listener': listener}}
        for listener in listeners]}]


def _ecds(*resources: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return [{'@type': ECDS_DUMP, 'ecds_filters': [{'version_info': 'v', 'ecds_filter': resource} for resource in resources]}]


def _resource(name: str, plugin: str | None = None, filter_type: str = 'http') -> dict[str, t.Any]:
    typed_config = wasm_typed_config(wasm_filter(name, '/var/lib/envoy/wasm/m.wasm', root_id='r', filter_type=filter_type))
    typed_config['config']['name'] = plugin or name
    return {'@type': 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig', 'name': name, 'typed_config': typed_config}


def _managed_listener(*filters: tuple[str, str]) -> dict[str, t.Any]:
    """The listener of the role's managed bootstrap, with ECDS filters (name, type)."""
    references = [filter_reference(name, f'/etc/envoy/ecds/{name}.yaml', filter_type) for name, filter_type in filters]
    config = managed_config('edge-1', 'envoy', '127.0.0.1:9901', '127.0.0.1:10000', references, '/etc/envoy/lds.yaml', '/etc/envoy/cds.yaml')
    return config.listeners['resources'][0]


def _other_listener(name: str, stat_prefix: str, http_filters: list[dict[str, t.Any]], network: list[dict[str, t.Any]] | None = None) -> dict[str, t.Any]:
    manager = {'name': 'envoy.filters.network.http_connection_manager', 'typed_config': {
        '@type': HCM, 'stat_prefix': stat_prefix, 'http_filters': [*http_filters, {'name': 'envoy.filters.http.router'}]}}
    return {'name': name, 'filter_chains': [{'filters': (network or []) + [manager]}]}


# -- which counters count


def test_the_managed_listener_counts_its_connection_manager_and_the_plugins_envoy_runs() -> None:
    listeners = _listeners(_managed_listener(('add_header', 'http'), ('auth', 'http')))
    scope = scope_of(listeners, _ecds(_resource('add_header'), _resource('auth', plugin='auth_plugin')), ['add_header', 'auth'])
    assert scope == Scope(('wasm_oci',), ('add_header', 'auth_plugin'))


def test_only_the_listeners_of_the_gated_filters_count() -> None:
    listeners = _listeners(_managed_listener(('add_header', 'http')),
                           _other_listener('plain', 'ingress', [{'name': 'envoy.filters.http.cors'}]),
                           _other_listener('inline', 'edge', [{'name': 'inline_wasm', 'typed_config': _resource('x', plugin='inline_plugin')['typed_config']}]))
    assert scope_of(listeners, _ecds(_resource('add_header')), ['add_header']) == Scope(('wasm_oci',), ('add_header',))
    assert scope_of(listeners, [], ['inline_wasm']) == Scope(('edge',), ('inline_plugin',))
    # Without names, every connection manager that runs a Wasm filter, from ECDS or inline, and every plugin.
    assert scope_of(listeners, [], None) == Scope(('edge', 'wasm_oci'), None)


def test_a_network_filter_counts_the_connection_managers_of_its_chain() -> None:
    listeners = _listeners(_managed_listener(('add_header', 'http'), ('tcp_guard', 'network')))
    scope = scope_of(listeners, _ecds(_resource('tcp_guard', filter_type='network')), ['tcp_guard'])
    assert scope == Scope(('wasm_oci',), ('tcp_guard',))


def test_a_filter_no_listener_runs_is_refused() -> None:
    with pytest.raises(GateError, match='no listener of this Envoy runs filter gone: the gate would judge nothing'):
        scope_of(_listeners(_managed_listener(('add_header', 'http'))), _ecds(_resource('add_header')), ['add_header', 'gone'])


def test_a_filter_envoy_runs_no_config_of_has_no_plugin() -> None:
    # Listed in the listener (from its ECDS file), but Envoy rejected every config of it: only the runtime's counters.
    scope = scope_of(_listeners(_managed_listener(('add_header', 'http'))), [], ['add_header'])
    assert scope == Scope(('wasm_oci',), ())
    assert scope.sample(ENVOY_STATS).counters == {'http.wasm_oci.downstream_rq_total': 120, 'http.wasm_oci.downstream_rq_5xx': 7,
                                                  'wasm.remote_load_fetch_failures': 0}


def test_one_stats_request_brings_exactly_the_counters_of_the_scope() -> None:
    scope = Scope(('wasm_oci',), ('add_header',))
    assert scope.sample(ENVOY_STATS).counters == {
        'http.wasm_oci.downstream_rq_total': 120, 'http.wasm_oci.downstream_rq_5xx': 7,
        'wasm.add_header.vm_reload_backoff': 10, 'wasm.add_header.vm_reload_failure': 0, 'wasm.add_header.vm_reload_success': 2,
        'wasm.remote_load_fetch_failures': 0}
    everything = Scope(('wasm_oci', 'edge'), None).sample(dict(ENVOY_STATS, **{'http.edge.downstream_rq_total': 3}))
    assert set(everything.counters) == {'http.wasm_oci.downstream_rq_total', 'http.wasm_oci.downstream_rq_5xx', 'http.edge.downstream_rq_total',
                                        'wasm.add_header.vm_reload_backoff', 'wasm.add_header.vm_reload_failure',
                                        'wasm.add_header.vm_reload_success', 'wasm.other.vm_reload_backoff', 'wasm.remote_load_fetch_failures'}
    # The pattern goes to Envoy (RE2) as it is: anchored, and special characters of names escaped.
    assert Scope(('a.b',), ('p+q',)).pattern == (r'^(?:wasm\.(?:p\+q)\.(?:vm_reload_backoff|vm_reload_failure|vm_reload_success)'
                                                 r'|wasm\.remote_load_fetch_failures|http\.(?:a\.b)\.(?:downstream_rq_total|downstream_rq_5xx))$')
    assert not re.match(Scope(('a.b',), ('p+q',)).pattern, 'http.aXb.downstream_rq_total')


# -- deltas and verdicts


def _sample(requests: int = 0, failed: int = 0, **wasm: int) -> Sample:
    counters = {'http.wasm_oci.downstream_rq_total': requests, 'http.wasm_oci.downstream_rq_5xx': failed}
    counters.update({f'wasm.add_header.{name}': value for name, value in wasm.items()})
    return Sample(counters)


SCOPE = Scope(('wasm_oci',), ('add_header',))


def _tally(*samples: Sample) -> Tally:
    tally = Tally(SCOPE, samples[0])
    for sample in samples[1:]:
        tally.add(sample)
    return tally


def test_the_window_is_judged_by_what_each_counter_gained() -> None:
    measured = _tally(_sample(1000, 50, vm_reload_backoff=4), _sample(1100, 50, vm_reload_backoff=4),
                      _sample(1200, 51, vm_reload_backoff=4, vm_reload_success=1)).measured(30.0)
    assert measured == Measured(30.0, 200, 1, {'wasm.add_header.vm_reload_backoff': 0, 'wasm.add_header.vm_reload_success': 1})
    assert measured.result() == {'seconds': 30.0, 'requests': 200, 'responses_5xx': 1, 'ratio_5xx': 0.005, 'wasm_failures': 1,
                                 'wasm_failure_counters': {'wasm.add_header.vm_reload_backoff': 0, 'wasm.add_header.vm_reload_success': 1}}


def test_wasm_counters_that_vanish_keep_what_they_gained_and_count_from_0_when_they_come_back() -> None:
    # An update of the filter can drop the stats of its plugin with its old config; they come back from 0.
    measured = _tally(_sample(10, vm_reload_backoff=7), _sample(20, vm_reload_backoff=9), _sample(30), _sample(40, vm_reload_backoff=3),
                      _sample(50, vm_reload_backoff=1)).measured(4.0)
    assert measured.requests == 40
    assert measured.wasm_failure_counters == {'wasm.add_header.vm_reload_backoff': 2 + 3 + 1}


def test_requests_that_go_back_mean_envoy_restarted() -> None:
    with pytest.raises(GateError, match=r'request counters went back during the gate window \(http.wasm_oci.downstream_rq_total 1000 -> 3\): '
                                        'Envoy restarted; the gate cannot judge this window'):
        _tally(_sample(900, 50), _sample(1000, 50), _sample(3, 50))


def test_each_condition_is_named_with_what_was_measured() -> None:
    conditions = Conditions(max_wasm_failures=0, max_5xx_ratio=0.01, min_requests=10)
    assert judge(Measured(30.0, 200, 2, {'wasm.add_header.vm_reload_backoff': 0}), conditions).passed
    counters = {'wasm.add_header.vm_reload_backoff': 3, 'wasm.add_header.vm_reload_success': 1, 'wasm.remote_load_fetch_failures': 0}
    broken = judge(Measured(30.0, 120, 120, counters), conditions)
    assert broken.broken == (
        'max_wasm_failures: 4 Wasm failures (wasm.add_header.vm_reload_backoff +3, wasm.add_header.vm_reload_success +1), more than 0',
        'max_5xx_ratio: 120 of 120 requests answered 5xx (ratio 1), more than 0.01')
    # The limits themselves pass.
    assert judge(Measured(30.0, 100, 1, {'wasm.x.vm_reload_backoff': 2}), Conditions(max_wasm_failures=2, max_5xx_ratio=0.01)).passed


def test_too_little_traffic_fails_or_passes_as_asked_and_leaves_the_ratio_unjudged() -> None:
    few = Measured(5.0, 3, 3, {})
    failing = judge(few, Conditions(min_requests=10))
    assert failing.broken == ('min_requests: 3 requests in 5.0 s, fewer than 10: too little traffic to judge (insufficient_traffic=fail)',)
    assert failing.insufficient_traffic
    passing = judge(few, Conditions(min_requests=10, insufficient_traffic='pass'))
    assert passing.passed
    assert passing.insufficient_traffic
    # Wasm failures are judged whatever the traffic.
    assert not judge(Measured(5.0, 0, 0, {'wasm.x.vm_reload_failure': 1}), Conditions(insufficient_traffic='pass')).passed
    # No requests at all, and none needed: nothing to judge the ratio with, which passes.
    assert judge(Measured(5.0, 0, 0, {}), Conditions(min_requests=0)).passed


def test_a_ratio_of_1_never_breaks() -> None:
    assert judge(Measured(5.0, 100, 100, {}), Conditions(max_5xx_ratio=1)).passed
    assert not Conditions(max_5xx_ratio=1, min_requests=0).counts_requests
    assert Conditions(max_5xx_ratio=1, min_requests=1).counts_requests
    assert Conditions(max_5xx_ratio=0.5, min_requests=0).counts_requests


def test_before_the_end_only_wasm_failures_count() -> None:
    conditions = Conditions(min_requests=10)
    assert judge(Measured(1.0, 2, 2, {}), conditions, final=False).passed
    assert not judge(Measured(1.0, 2, 2, {'wasm.x.vm_reload_backoff': 1}), conditions, final=False).passed


@pytest.mark.parametrize(('options', 'message'), [
    ({'max_wasm_failures': -1}, 'max_wasm_failures must be 0 or more, not -1'),
    ({'max_5xx_ratio': 1.5}, r'max_5xx_ratio must be between 0 and 1 \(0.01 is 1 %\), not 1.5'),
    ({'min_requests': -3}, 'min_requests must be 0 or more, not -3'),
    ({'insufficient_traffic': 'maybe'}, 'insufficient_traffic must be one of fail, pass, not maybe'),
])
def test_conditions_are_checked(options: dict[str, t.Any], message: str) -> None:
    with pytest.raises(GateError, match=message):
        Conditions(**options)


# -- the window


class FakeEnvoy:
    """Answers /stats from a script of samples, one per request, on a fake clock that sleeping advances."""

    def __init__(self, samples: list[dict[str, int]]) -> None:
        self.samples = samples
        self.now = 100.0
        self.asked_at: list[float] = []
        self.patterns: set[str] = set()

    def stats(self, pattern: str) -> dict[str, t.Any]:
        self.asked_at.append(self.now)
        self.patterns.add(pattern)
        return dict(self.samples[min(len(self.asked_at), len(self.samples)) - 1], **{'unrelated.counter': len(self.asked_at)})

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _counters(requests: int, failed: int = 0, backoff: int = 0) -> dict[str, int]:
    return {'http.wasm_oci.downstream_rq_total': requests, 'http.wasm_oci.downstream_rq_5xx': failed, 'wasm.add_header.vm_reload_backoff': backoff}


def test_a_window_samples_every_second_and_judges_at_its_end() -> None:
    envoy = FakeEnvoy([_counters(100 + 10 * second, min(second, 2)) for second in range(6)])
    outcome = watch(envoy, SCOPE, Conditions(max_5xx_ratio=0.05), 5.0, envoy.clock, envoy.sleep)
    assert envoy.asked_at == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert envoy.patterns == {SCOPE.pattern}
    assert not outcome.ended_early
    assert outcome.measured == Measured(5.0, 50, 2, {'wasm.add_header.vm_reload_backoff': 0})
    # 2 of 50 is 4 %, under 5 %, though the first second alone (1 of 10) was over: the ratio is judged over the whole window.
    assert outcome.verdict.passed


def test_short_windows_are_sampled_more_often() -> None:
    envoy = FakeEnvoy([_counters(100)])
    watch(envoy, SCOPE, Conditions(min_requests=0), 2.0, envoy.clock, envoy.sleep)
    assert envoy.asked_at == [100.0, 100.5, 101.0, 101.5, 102.0]


def test_wasm_failures_end_the_window_at_once() -> None:
    envoy = FakeEnvoy([_counters(100), _counters(110), _counters(120, backoff=1)])
    outcome = watch(envoy, SCOPE, Conditions(), 60.0, envoy.clock, envoy.sleep)
    assert outcome.ended_early
    assert envoy.now == 102.0
    assert outcome.verdict.broken == ('max_wasm_failures: 1 Wasm failures (wasm.add_header.vm_reload_backoff +1), more than 0',)


def test_a_restart_within_the_window_fails_where_it_shows() -> None:
    # A restart between two samples that leaves the counters higher at the end than at the start still shows.
    envoy = FakeEnvoy([_counters(100), _counters(500), _counters(2), _counters(600)])
    with pytest.raises(GateError, match=r'downstream_rq_total 500 -> 2\): Envoy restarted'):
        watch(envoy, SCOPE, Conditions(), 10.0, envoy.clock, envoy.sleep)
    assert len(envoy.asked_at) == 3


def test_a_window_must_have_a_length() -> None:
    envoy = FakeEnvoy([_counters(100)])
    with pytest.raises(GateError, match='seconds must be more than 0, not 0'):
        watch(envoy, SCOPE, Conditions(), 0, envoy.clock, envoy.sleep)
