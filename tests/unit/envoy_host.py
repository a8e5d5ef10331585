# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""One Envoy host for the unit tests of envoy_wasm_info's core: its ECDS files as envoy_wasm_filters writes them, and
Envoy's answers about them as Envoy 1.40 gives them (shapes taken from a real Envoy's /config_dump and /stats)."""

from __future__ import annotations

import calendar
import os
import pathlib
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import ImageIdentity, dump_document, ecds_document, wasm_filter
from ansible_collections.wasm.oci.plugins.module_utils._envoy.envoy_view import EnvoyView, LoadedFilter
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths

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
STOPPED = EnvoyView(ADDRESS, error=f'nothing listens on {ADDRESS}')


class EnvoyHost:
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


def ecds_dump(document: dict[str, t.Any], last_updated: str) -> list[dict[str, t.Any]]:
    """The answer of /config_dump?mask=ecds_filters of an Envoy that last read ``document`` at ``last_updated``."""
    return [{'@type': 'type.googleapis.com/envoy.admin.v3.EcdsConfigDump', 'ecds_filters': [
        {'version_info': document['version_info'], 'ecds_filter': document['resources'][0], 'last_updated': last_updated}]}]
