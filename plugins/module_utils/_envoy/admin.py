# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Ask Envoy's admin interface whether it runs, which Envoy it is, and what it did with a file.

Envoy reports every file update it takes (ECDS, LDS and CDS alike) in an
``update_success`` or ``update_rejected`` counter, and the ``version_info`` of the
document it last accepted in a ``version_text`` stat. An update is confirmed when
the success counter moved and the accepted version is the new one.

Only a refused connection means "no Envoy here". A timeout, an HTTP error, an answer
that is not Envoy's: each is an error, so nothing is changed on a guess. The admin
interface speaks plain HTTP; ``http.client`` is all it takes, and loads fast.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import time
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import parse_address

SUCCESS = 'update_success'
REJECTED = 'update_rejected'
VERSION = 'version_text'
# Where Envoy counts the updates of its listener (LDS) and cluster (CDS) files.
LISTENER_UPDATES = 'listener_manager.lds.'
CLUSTER_UPDATES = 'cluster_manager.cds.'
# Admin answers are small; a larger one is no Envoy admin worth trusting.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
_POLL_INTERVAL = 0.2


class AdminError(WasmOciError):
    """The admin address answered in a way that proves nothing; nothing was changed."""


@dataclasses.dataclass(frozen=True)
class UpdateCounters:
    success: int
    rejected: int
    # The version_info of the document Envoy last accepted ('' before the first).
    version: str


def stat_prefix(filter_name: str, filter_type: str) -> str:
    """Where Envoy counts the updates of one filter's ECDS file."""
    return f'extension_config_discovery.{filter_type}_filter.{filter_name}.'


class EnvoyAdmin:
    def __init__(self, address: str, timeout: float = 5.0,
                 clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.address = address
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep

    def _get(self, path: str, query: dict[str, str], absent_status: int | None = None) -> t.Any:
        """The JSON document at ``path``; None when Envoy answers ``absent_status``; ConnectionRefusedError when nothing
        listens."""
        host, port = parse_address(self.address, 'admin address')
        connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            connection.request('GET', f'{path}?{urllib.parse.urlencode(query)}' if query else path)
            response = connection.getresponse()
            status = response.status
            data = response.read(MAX_ANSWER_BYTES + 1)
        except ConnectionRefusedError:
            raise ConnectionRefusedError(self.address) from None
        except (OSError, http.client.HTTPException) as exc:
            what = 'did not answer in time' if isinstance(exc, TimeoutError) else f'cannot be asked: {exc}'
            raise AdminError(f'Envoy admin at {self.address} {what}; Envoy may be running, so nothing was changed') from None
        finally:
            connection.close()
        if status == absent_status:
            return None
        if status != 200:
            raise AdminError(f'Envoy admin at {self.address} answered HTTP {status} for {path}: is it the admin address of Envoy?')
        if len(data) > MAX_ANSWER_BYTES:
            raise AdminError(f'Envoy admin at {self.address} sent more than {MAX_ANSWER_BYTES} bytes for {path}')
        try:
            return json.loads(data.decode('utf-8'))
        except ValueError as exc:
            raise AdminError(f'Envoy admin at {self.address} sent {path} that is not JSON: {exc}; is it the admin address of Envoy?') from None

    def server_info(self) -> dict[str, t.Any] | None:
        """Envoy's /server_info; None only when the address refuses connections."""
        try:
            info = self._get('/server_info', {})
        except ConnectionRefusedError:
            return None
        if not isinstance(info, dict) or not isinstance(info.get('command_line_options'), dict):
            raise AdminError(f'{self.address} answered /server_info without command_line_options: it is not an Envoy admin interface')
        return info

    def _stopped(self) -> AdminError:
        return AdminError(f'Envoy admin at {self.address} stopped answering (connection refused): did Envoy exit?')

    def stats(self, pattern: str) -> dict[str, t.Any]:
        """Every stat whose name matches the regular expression ``pattern`` (Envoy's /stats filter), by name."""
        try:
            document = self._get('/stats', {'format': 'json', 'filter': pattern})
        except ConnectionRefusedError:
            raise self._stopped() from None
        stats = document.get('stats') if isinstance(document, dict) else None
        if not isinstance(stats, list):
            raise AdminError(f'Envoy admin at {self.address} sent stats that are not a JSON object with a stats list')
        # Histograms come as one item without a name.
        return {item['name']: item.get('value') for item in stats if isinstance(item, dict) and isinstance(item.get('name'), str)}

    def counters(self, prefix: str) -> UpdateCounters | None:
        """The update counters under ``prefix``; None when Envoy has none (it does not use that file)."""
        values = {name[len(prefix):]: value for name, value in self.stats('^' + prefix.replace('.', r'\.')).items() if name.startswith(prefix)}
        if not values:
            return None
        return UpdateCounters(_count(values.get(SUCCESS)), _count(values.get(REJECTED)), str(values.get(VERSION) or ''))

    def config_dump(self, mask: str) -> list[dict[str, t.Any]]:
        """The configs of /config_dump that have the fields ``mask`` names (comma-separated, of one config type, such as
        ``ecds_filters``), with only those fields; [] when no config has them, which Envoy answers with HTTP 400."""
        try:
            document = self._get('/config_dump', {'mask': mask}, absent_status=400)
        except ConnectionRefusedError:
            raise self._stopped() from None
        if document is None:
            return []
        configs = document.get('configs') if isinstance(document, dict) else None
        if not isinstance(configs, list):
            raise AdminError(f'Envoy admin at {self.address} sent a config dump that is not a JSON object with a configs list')
        return [config for config in configs if isinstance(config, dict)]

    def wait_for_update(self, prefix: str, before: UpdateCounters, timeout: float, version: str | None = None) -> str | None:
        """Wait until Envoy applied (SUCCESS; with ``version``, that version) or rejected (REJECTED) a new file.

        None on timeout."""
        deadline = self._clock() + timeout
        while True:
            now = self.counters(prefix)
            if now:
                if now.rejected > before.rejected:
                    return REJECTED
                if now.success > before.success and (version is None or now.version == version):
                    return SUCCESS
            if self._clock() >= deadline:
                return None
            self._sleep(_POLL_INTERVAL)


def _count(value: t.Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def same_envoy(info: dict[str, t.Any], bootstrap_path: str, node_id: str | None) -> bool:
    """Whether the Envoy that gave ``info`` runs the bootstrap at ``bootstrap_path``.

    Envoy names the file it was started with; a relative name (started from some working directory) is compared
    by base name and node ID, which the bootstrap names too.
    """
    config_path = info['command_line_options'].get('config_path')
    if not isinstance(config_path, str) or not config_path:
        return False
    if os.path.isabs(config_path):
        return os.path.realpath(config_path) == os.path.realpath(bootstrap_path)
    running_node = (info.get('node') or {}).get('id') if isinstance(info.get('node'), dict) else None
    return os.path.basename(config_path) == os.path.basename(bootstrap_path) and node_id is not None and running_node == node_id
