# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The metric gate of a staged rollout: watch one Envoy's own counters over a window and judge them.

What counts, on Envoy 1.40:

* requests and their 5xx answers: ``http.<stat_prefix>.downstream_rq_total`` and ``downstream_rq_5xx`` of the HTTP
  connection managers that run the gated filters (found in ``/config_dump``, or named by their stat prefixes);
* Wasm failures: per plugin, ``wasm.<plugin>.vm_reload_backoff``, ``vm_reload_success`` and ``vm_reload_failure``,
  which Envoy counts for each request that finds the plugin's VM failed (only with ``failure_policy: FAIL_RELOAD``;
  with FAIL_CLOSED a failed VM shows as 503 answers, with FAIL_OPEN in Envoy's log only), and, for the whole Wasm
  runtime, ``wasm.remote_load_fetch_failures``. Envoy keeps no other Wasm failure counter.

Counters are sampled at the start of the window, every second or so (a quarter of a shorter window) and at its end,
and what each gained is judged (see :class:`Tally`). Wasm failures only grow, so too many of them end the window early. The 5xx ratio is judged
over the whole window, since later requests can still bring it under the limit. :func:`judge` and :func:`scope_of` are
pure; :func:`watch` takes the admin client, a clock and a sleep, so tests need neither Envoy nor time.
"""

from __future__ import annotations

import dataclasses
import re
import time
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import HCM_TYPE_URL, WASM_TYPE_URLS, every_mapping
from ansible_collections.wasm.oci.plugins.module_utils._envoy.filter_resource import plugin_name, wasm_filter_type

INSUFFICIENT_TRAFFIC_CHOICES = ('fail', 'pass')
PLUGIN_FAILURE_COUNTERS = ('vm_reload_backoff', 'vm_reload_failure', 'vm_reload_success')
RUNTIME_FAILURE_COUNTERS = ('wasm.remote_load_fetch_failures',)
REQUESTS = 'downstream_rq_total'
RESPONSES_5XX = 'downstream_rq_5xx'
# Samples in between: often enough to end early within a second, rare enough to cost Envoy nothing.
MAX_INTERVAL = 1.0
MIN_INTERVAL = 0.1
_WASM_TYPES = frozenset(WASM_TYPE_URLS.values())


class GateError(WasmOciError):
    """The gate cannot judge: bad conditions, nothing to measure, or an Envoy that restarted."""


@dataclasses.dataclass(frozen=True)
class Conditions:
    """The named conditions of a gate. A max_5xx_ratio of 1 never breaks, nor does a min_requests of 0."""

    max_wasm_failures: int = 0
    max_5xx_ratio: float = 0.01
    min_requests: int = 10
    insufficient_traffic: str = 'fail'

    def __post_init__(self) -> None:
        if self.max_wasm_failures < 0:
            raise GateError(f'max_wasm_failures must be 0 or more, not {self.max_wasm_failures}')
        if not 0 <= self.max_5xx_ratio <= 1:
            raise GateError(f'max_5xx_ratio must be between 0 and 1 (0.01 is 1 %), not {self.max_5xx_ratio}')
        if self.min_requests < 0:
            raise GateError(f'min_requests must be 0 or more, not {self.min_requests}')
        if self.insufficient_traffic not in INSUFFICIENT_TRAFFIC_CHOICES:
            raise GateError(f'insufficient_traffic must be one of {", ".join(INSUFFICIENT_TRAFFIC_CHOICES)}, not {self.insufficient_traffic}')

    @property
    def counts_requests(self) -> bool:
        return self.max_5xx_ratio < 1 or self.min_requests > 0


@dataclasses.dataclass(frozen=True)
class Sample:
    """The counters that matter at one moment; a counter Envoy does not have (yet) is absent."""

    counters: dict[str, int]


@dataclasses.dataclass(frozen=True)
class Scope:
    """Which stats count: the connection managers' stat prefixes and the Wasm plugins (None: every plugin)."""

    stat_prefixes: tuple[str, ...]
    plugins: tuple[str, ...] | None = None

    def _plugin_failure(self) -> str:
        plugins = '.+' if self.plugins is None else '(?:' + '|'.join(re.escape(plugin) for plugin in self.plugins) + ')'
        return rf'wasm\.{plugins}\.(?:{"|".join(PLUGIN_FAILURE_COUNTERS)})'

    def _requests(self) -> str:
        return r'http\.(?:' + '|'.join(re.escape(prefix) for prefix in self.stat_prefixes) + rf')\.(?:{REQUESTS}|{RESPONSES_5XX})'

    @property
    def pattern(self) -> str:
        """The /stats filter that brings every counter of the gate, and nothing else, in one request."""
        # An empty tuple of plugins: the gated filters have none that Envoy runs, so only the runtime's counters count.
        parts = [] if self.plugins == () else [self._plugin_failure()]
        parts += [re.escape(name) for name in RUNTIME_FAILURE_COUNTERS]
        if self.stat_prefixes:
            parts.append(self._requests())
        return '^(?:' + '|'.join(parts) + ')$'

    def sample(self, stats: dict[str, t.Any]) -> Sample:
        matching = re.compile(self.pattern)
        return Sample({name: value for name, value in stats.items()
                       if matching.match(name) and isinstance(value, int) and not isinstance(value, bool)})


@dataclasses.dataclass(frozen=True)
class Measured:
    """The deltas of one window."""

    seconds: float
    requests: int
    responses_5xx: int
    wasm_failure_counters: dict[str, int]

    @property
    def wasm_failures(self) -> int:
        return sum(self.wasm_failure_counters.values())

    @property
    def ratio_5xx(self) -> float | None:
        return self.responses_5xx / self.requests if self.requests else None

    def result(self) -> dict[str, t.Any]:
        ratio = self.ratio_5xx
        return {
            'seconds': round(self.seconds, 3),
            'requests': self.requests,
            'responses_5xx': self.responses_5xx,
            'ratio_5xx': None if ratio is None else round(ratio, 6),
            'wasm_failures': self.wasm_failures,
            'wasm_failure_counters': dict(sorted(self.wasm_failure_counters.items())),
        }


@dataclasses.dataclass(frozen=True)
class Verdict:
    broken: tuple[str, ...] = ()
    insufficient_traffic: bool = False

    @property
    def passed(self) -> bool:
        return not self.broken


class Tally:
    """What each counter gained over a window, added up sample by sample.

    A counter can vanish and come back within one Envoy: a Wasm plugin's stats, or the runtime's, go with the config
    that made them, and an update of the filter can drop them. A counter that appears (made during the window, or made
    again) counts from 0, and one that vanishes keeps what it gained. Only the requests of a connection manager going
    back mean that Envoy restarted: then nothing of the window can be judged.
    """

    def __init__(self, scope: Scope, first: Sample) -> None:
        self.scope = scope
        self.first = first
        self.last = first
        self.gained: dict[str, int] = dict.fromkeys(first.counters, 0)

    def add(self, sample: Sample) -> None:
        went_back = sorted(name for name, value in sample.counters.items()
                           if name.startswith('http.') and value < self.last.counters.get(name, 0))
        if went_back:
            changes = ', '.join(f'{name} {self.last.counters[name]} -> {sample.counters[name]}' for name in went_back)
            raise GateError(f'Envoy\'s request counters went back during the gate window ({changes}): Envoy restarted; the gate '
                            'cannot judge this window')
        for name, value in sample.counters.items():
            before = self.last.counters.get(name)
            self.gained[name] = self.gained.get(name, 0) + (value - before if before is not None and value >= before else value)
        self.last = sample

    def measured(self, seconds: float) -> Measured:
        requests = sum(self.gained.get(f'http.{prefix}.{REQUESTS}', 0) for prefix in self.scope.stat_prefixes)
        failed = sum(self.gained.get(f'http.{prefix}.{RESPONSES_5XX}', 0) for prefix in self.scope.stat_prefixes)
        return Measured(seconds, requests, failed, {name: gained for name, gained in self.gained.items() if not name.startswith('http.')})


def _number(value: float) -> str:
    return f'{value:g}'


def judge(measured: Measured, conditions: Conditions, final: bool = True) -> Verdict:
    """The broken conditions, each named with what was measured. Before the end of the window (``final=False``) only
    what no later sample can mend counts: Wasm failures, which only grow."""
    broken = []
    if measured.wasm_failures > conditions.max_wasm_failures:
        counters = ', '.join(f'{name} +{delta}' for name, delta in sorted(measured.wasm_failure_counters.items()) if delta)
        broken.append(f'max_wasm_failures: {measured.wasm_failures} Wasm failures ({counters}), more than {conditions.max_wasm_failures}')
    if not final:
        return Verdict(tuple(broken))
    insufficient = measured.requests < conditions.min_requests
    if insufficient and conditions.insufficient_traffic == 'fail':
        broken.append(f'min_requests: {measured.requests} requests in {measured.seconds:.1f} s, fewer than {conditions.min_requests}: '
                      'too little traffic to judge (insufficient_traffic=fail)')
    ratio = measured.ratio_5xx
    if not insufficient and ratio is not None and ratio > conditions.max_5xx_ratio:
        broken.append(f'max_5xx_ratio: {measured.responses_5xx} of {measured.requests} requests answered 5xx (ratio {ratio:.4g}), '
                      f'more than {_number(conditions.max_5xx_ratio)}')
    return Verdict(tuple(broken), insufficient)


def _entries(value: t.Any) -> list[dict[str, t.Any]]:
    return [entry for entry in value if isinstance(entry, dict) and isinstance(entry.get('name'), str)] if isinstance(value, list) else []


def _typed_config(entry: dict[str, t.Any]) -> dict[str, t.Any]:
    typed_config = entry.get('typed_config')
    return typed_config if isinstance(typed_config, dict) else {}


def _is_wasm(entry: dict[str, t.Any]) -> bool:
    """A Wasm filter inline, or one whose config comes by discovery (ECDS) as a Wasm filter."""
    discovery = entry.get('config_discovery')
    type_urls = discovery.get('type_urls') if isinstance(discovery, dict) else None
    return wasm_filter_type(entry) is not None or (isinstance(type_urls, list) and bool(_WASM_TYPES.intersection(type_urls)))


def scope_of(listeners: list[dict[str, t.Any]], ecds: list[dict[str, t.Any]], filters: t.Sequence[str] | None) -> Scope:
    """The connection managers and Wasm plugins that run ``filters`` (every Wasm filter when None), from Envoy's
    /config_dump of its listeners and of its ECDS filters.

    An HTTP filter counts the requests of its own connection manager; a network filter those of every connection
    manager of its filter chain. A filter of ``filters`` that no listener runs is an error: its gate would judge nothing.
    """
    wanted = None if filters is None else frozenset(filters)

    def selected(entry: dict[str, t.Any]) -> bool:
        return entry['name'] in wanted if wanted is not None else _is_wasm(entry)

    prefixes: set[str] = set()
    found: set[str] = set()
    plugins: set[str] = set()
    for chain in (item['filters'] for item in every_mapping(listeners) if isinstance(item.get('filters'), list)):
        network = _entries(chain)
        managers = [_typed_config(entry) for entry in network if _typed_config(entry).get('@type') == HCM_TYPE_URL]
        chain_selected = [entry for entry in network if selected(entry)]
        for manager in managers:
            http = [entry for entry in _entries(manager.get('http_filters')) if selected(entry)]
            if (http or chain_selected) and isinstance(manager.get('stat_prefix'), str):
                prefixes.add(manager['stat_prefix'])
            chain_selected += http
        found.update(entry['name'] for entry in chain_selected)
        plugins.update(plugin for plugin in map(plugin_name, chain_selected) if plugin is not None)
    missing = sorted(wanted - found) if wanted is not None else []
    if missing:
        raise GateError(f'no listener of this Envoy runs filter {", ".join(missing)}: the gate would judge nothing for it')
    for item in every_mapping(ecds):
        resource = item.get('ecds_filter')
        if isinstance(resource, dict) and resource.get('name') in found and _is_wasm(resource):
            plugin = plugin_name(resource)
            plugins.update([plugin] if plugin is not None else [])
    return Scope(tuple(sorted(prefixes)), None if wanted is None else tuple(sorted(plugins)))


class StatsSource(t.Protocol):
    def stats(self, pattern: str) -> dict[str, t.Any]:
        """Every stat whose name matches ``pattern``, by name (as EnvoyAdmin.stats)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    measured: Measured
    verdict: Verdict
    ended_early: bool


def watch(admin: StatsSource, scope: Scope, conditions: Conditions, seconds: float,
          clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> Outcome:
    """Sample at the start, every interval (ending early when a condition broke for good) and at the end."""
    if seconds <= 0:
        raise GateError(f'seconds must be more than 0, not {seconds}')
    interval = max(MIN_INTERVAL, min(MAX_INTERVAL, seconds / 4))
    started = clock()
    deadline = started + seconds
    tally = Tally(scope, scope.sample(admin.stats(scope.pattern)))
    while True:
        sleep(max(0.0, min(interval, deadline - clock())))
        tally.add(scope.sample(admin.stats(scope.pattern)))
        now = clock()
        measured = tally.measured(now - started)
        if now >= deadline:
            return Outcome(measured, judge(measured, conditions), ended_early=False)
        early = judge(measured, conditions, final=False)
        if not early.passed:
            return Outcome(measured, early, ended_early=True)
