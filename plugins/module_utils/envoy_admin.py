# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Confirm through Envoy's admin interface that an ECDS file update was applied.

Envoy reports each file update of a filter's extension config in two counters,
``update_success`` and ``update_rejected``; an update is confirmed when one of them
moves past the value it had before the file was replaced. Only the standard library
(through Ansible's own URL helper) is used, so managed hosts need nothing extra.
"""

from __future__ import annotations

import json
import time
import typing as t
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url

from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmOciError

SUCCESS = 'update_success'
# Where Envoy counts the updates of its listener (LDS) and cluster (CDS) files.
LISTENER_UPDATES = 'listener_manager.lds.'
CLUSTER_UPDATES = 'cluster_manager.cds.'
REJECTED = 'update_rejected'
_POLL_INTERVAL = 0.2


class EnvoyAdmin:
    def __init__(self, address: str, timeout: float = 5.0,
                 clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.address = address
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep

    @staticmethod
    def stat_prefix(filter_name: str, filter_type: str) -> str:
        return f'extension_config_discovery.{filter_type}_filter.{filter_name}.'

    def counters(self, prefix: str) -> dict[str, int] | None:
        """The ECDS counters under ``prefix``: None when the admin interface does not answer,
        empty when Envoy has no such filter (its bootstrap does not use the file)."""
        query = urllib.parse.urlencode({'format': 'json', 'filter': '^' + prefix.replace('.', r'\.')})
        try:
            with open_url(f'http://{self.address}/stats?{query}', timeout=self.timeout, use_proxy=False) as response:
                document = json.loads(response.read().decode('utf-8'))
        except urllib.error.HTTPError as exc:
            raise WasmOciError(f'Envoy admin at {self.address} answered HTTP {exc.code} for /stats: is it the admin address of Envoy?') from None
        except (urllib.error.URLError, OSError):
            return None
        except ValueError as exc:
            raise WasmOciError(f'Envoy admin at {self.address} sent stats that are not JSON: {exc}') from None
        if not isinstance(document, dict):
            raise WasmOciError(f'Envoy admin at {self.address} sent stats that are not a JSON object')
        values = {str(item.get('name', ''))[len(prefix):]: item.get('value') for item in document.get('stats') or []
                  if isinstance(item, dict) and str(item.get('name', '')).startswith(prefix)}
        if not values:
            return {}
        return {name: int(values.get(name) or 0) for name in (SUCCESS, REJECTED)}

    def answers(self) -> bool:
        """Whether an Envoy answers on the admin address."""
        return self.counters('server.') is not None

    def wait_for_update(self, prefix: str, before: dict[str, int], timeout: float) -> str | None:
        """Wait until Envoy applied (SUCCESS) or rejected (REJECTED) a new file; None on timeout."""
        deadline = self._clock() + timeout
        while True:
            now = self.counters(prefix)
            if now:
                if now[REJECTED] > before[REJECTED]:
                    return REJECTED
                if now[SUCCESS] > before[SUCCESS]:
                    return SUCCESS
            if self._clock() >= deadline:
                return None
            self._sleep(_POLL_INTERVAL)
