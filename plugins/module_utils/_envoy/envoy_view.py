# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Envoy's own view of its Wasm filters, from its admin interface.

Envoy tells the filter configs it runs and when each came (``/config_dump``), the counters of each ECDS file, and
the Wasm stats Envoy 1.40 keeps (per plugin ``wasm.<plugin>.vm_reload*``, per runtime
``wasm.envoy.wasm.runtime.<runtime>.created`` and ``active``). :func:`ask_envoy` asks; :func:`envoy_view` and the
stats readers are pure, so Envoy's answers can be read without an Envoy. Nothing here changes Envoy.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import os
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import VERSION, AdminError, EnvoyAdmin, stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import every_mapping, referenced_ecds_paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.filter_resource import plugin_name, wasm_filter_type

# One /stats request brings every stat envoy_wasm_info reads.
WASM_STATS = r'^(extension_config_discovery\.|wasm\.)'
RUNTIME_STATS = 'wasm.envoy.wasm.runtime.'
ECDS_MASK = 'ecds_filters'
LISTENERS_MASK = 'dynamic_listeners,static_listeners'


@dataclasses.dataclass(frozen=True)
class LoadedFilter:
    """A Wasm filter config Envoy runs: from ECDS (with its version and when it came), or inline in a listener.

    /config_dump shows the last ECDS config Envoy read even when it rejected it. Then ``rejected`` is set: Envoy
    runs the config from before, of which only its stats tell the version and time.
    """

    name: str
    resource: dict[str, t.Any]
    version: str | None = None
    last_updated: str | None = None
    from_ecds: bool = True
    rejected: bool = False

    @property
    def filter_type(self) -> str | None:
        return wasm_filter_type(self.resource)

    @property
    def plugin(self) -> str:
        return plugin_name(self.resource) or self.name


@dataclasses.dataclass(frozen=True)
class EnvoyView:
    """What the Envoy at ``address`` reports; ``error`` says why it reports nothing."""

    address: str
    error: str | None = None
    server: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    ecds: dict[str, LoadedFilter] = dataclasses.field(default_factory=dict)
    inline: list[LoadedFilter] = dataclasses.field(default_factory=list)
    # The ECDS files Envoy's listeners take filters from, as real paths.
    referenced: frozenset[str] = frozenset()
    stats: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.error is None

    def result(self) -> dict[str, t.Any]:
        return {
            'address': self.address,
            'available': self.available,
            'error': self.error,
            'version': self.server.get('version'),
            'config_path': (self.server.get('command_line_options') or {}).get('config_path'),
            'node_id': (self.server.get('node') or {}).get('id') if isinstance(self.server.get('node'), dict) else None,
            'wasm_runtime_stats': _stats_under(self.stats, RUNTIME_STATS, nested=True),
        }


def ask_envoy(admin: EnvoyAdmin) -> EnvoyView:
    """What the Envoy at ``admin`` reports; a view with only an ``error`` when it does not answer as Envoy."""
    try:
        info = admin.server_info()
        if info is None:
            return EnvoyView(admin.address, error=f'nothing listens on {admin.address}: Envoy is stopped, or its admin '
                                                  'interface answers on another address (admin_address)')
        stats = admin.stats(WASM_STATS)
        ecds = admin.config_dump(ECDS_MASK)
        listeners = admin.config_dump(LISTENERS_MASK)
    except AdminError as exc:
        return EnvoyView(admin.address, error=str(exc))
    return envoy_view(admin.address, info, stats, ecds, listeners)


def envoy_view(address: str, info: dict[str, t.Any], stats: dict[str, t.Any], ecds: list[dict[str, t.Any]],
               listeners: list[dict[str, t.Any]]) -> EnvoyView:
    """Envoy's answers read into a view: the ECDS filter configs by name, the Wasm filters inline in listeners."""
    loaded: dict[str, LoadedFilter] = {}
    for config in ecds:
        for entry in config.get('ecds_filters') or []:
            resource = entry.get('ecds_filter') if isinstance(entry, dict) else None
            if isinstance(resource, dict) and isinstance(resource.get('name'), str):
                loaded.setdefault(resource['name'], _ecds_filter(resource, entry, stats))
    inline: dict[tuple[str, str], LoadedFilter] = {}
    for item in every_mapping(listeners):
        if isinstance(item.get('name'), str) and wasm_filter_type(item):
            found = LoadedFilter(item['name'], item, from_ecds=False)
            # A listener being replaced shows its filters twice (active and warming or draining).
            inline.setdefault((found.name, found.plugin), found)
    referenced = frozenset(os.path.realpath(path) for path in referenced_ecds_paths(listeners))
    return EnvoyView(address, None, info, loaded, sorted(inline.values(), key=lambda found: (found.plugin, found.name)), referenced, stats)


def _ecds_filter(resource: dict[str, t.Any], entry: dict[str, t.Any], stats: dict[str, t.Any]) -> LoadedFilter:
    name, filter_type = resource['name'], wasm_filter_type(resource)
    version, last_updated = _text(entry.get('version_info')), _text(entry.get('last_updated'))
    counters = ecds_stats(stats, name, filter_type)
    # Envoy stamps the dump just before it applies a config, and update_time once it applied one: a dump newer than the
    # last success is a config Envoy rejected.
    read_at, applied_at = _epoch_ms(last_updated), counters.get('update_time', 0)
    if counters.get('update_rejected') and read_at is not None and read_at > applied_at:
        return LoadedFilter(name, resource, accepted_version(stats, name, filter_type), _iso(applied_at) if applied_at else None, rejected=True)
    return LoadedFilter(name, resource, version, last_updated)


def ecds_stats(stats: dict[str, t.Any], filter_name: str, filter_type: str | None) -> dict[str, int]:
    """The counters of the ECDS file of a Wasm filter, by their short name; none for another filter, whose stats Envoy
    keeps under a prefix this collection does not know."""
    return _stats_under(stats, stat_prefix(filter_name, filter_type)) if filter_type else {}


def accepted_version(stats: dict[str, t.Any], filter_name: str, filter_type: str | None) -> str | None:
    """The version_info of the last ECDS config of a Wasm filter Envoy accepted, as its stats tell."""
    if not filter_type:
        return None
    return _text(stats.get(stat_prefix(filter_name, filter_type) + VERSION)) or None


def plugin_stats(stats: dict[str, t.Any], plugin: str) -> dict[str, int]:
    """The stats Envoy keeps of one Wasm plugin (``wasm.<plugin>.vm_reload*``), by their short name."""
    return _stats_under(stats, f'wasm.{plugin}.')


def _stats_under(stats: dict[str, t.Any], prefix: str, nested: bool = False) -> dict[str, int]:
    """The integer stats under ``prefix``, by the rest of their name; without ``nested``, only direct children (a plugin
    named like a runtime must not take the runtime's stats)."""
    found = {}
    for name, value in stats.items():
        rest = name[len(prefix):]
        if name.startswith(prefix) and (nested or '.' not in rest) and isinstance(value, int) and not isinstance(value, bool):
            found[rest] = value
    return found


_TIMESTAMP = re.compile(r'(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z')


def _epoch_ms(timestamp: str | None) -> int | None:
    """Milliseconds since the epoch of a protobuf Timestamp in JSON (``2026-05-01T10:00:00.123Z``)."""
    found = _TIMESTAMP.fullmatch(timestamp or '')
    if not found:
        return None
    seconds = calendar.timegm((*(int(part) for part in found.groups()[:6]), 0, 0, 0))
    return seconds * 1000 + int((found.group(7) or '0').ljust(3, '0')[:3])


def _iso(epoch_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{epoch_ms % 1000:03d}Z'


def _text(value: t.Any) -> str | None:
    return value if isinstance(value, str) else None
