from __future__ import annotations

import http.server
import itertools
import threading
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils.envoy_admin import REJECTED, SUCCESS, EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmOciError


class ScriptedAdmin(EnvoyAdmin):
    """Answers counters from a script instead of an Envoy, on a fake clock."""

    def __init__(self, answers: list[dict[str, int] | None]) -> None:
        self.ticks = itertools.count()
        super().__init__('127.0.0.1:9901', clock=lambda: float(next(self.ticks)), sleep=lambda seconds: None)
        self.answers = iter(answers)

    def counters(self, prefix: str) -> dict[str, int] | None:
        return next(self.answers, {SUCCESS: 1, REJECTED: 0})


BEFORE = {SUCCESS: 1, REJECTED: 0}


@pytest.mark.parametrize('answers, outcome', [
    ([BEFORE, None, {SUCCESS: 2, REJECTED: 0}], SUCCESS),
    ([{SUCCESS: 1, REJECTED: 1}], REJECTED),
    ([{SUCCESS: 2, REJECTED: 1}], REJECTED),
])
def test_wait_for_update_reports_what_moved(answers: list[dict[str, int] | None], outcome: str) -> None:
    assert ScriptedAdmin(answers).wait_for_update('p.', BEFORE, timeout=10) == outcome


def test_wait_for_update_gives_up_at_the_deadline() -> None:
    admin = ScriptedAdmin([BEFORE] * 100)
    assert admin.wait_for_update('p.', BEFORE, timeout=5) is None
    assert next(admin.ticks) < 20


def test_stat_prefix_names_the_filter_type() -> None:
    assert EnvoyAdmin.stat_prefix('add_header', 'http') == 'extension_config_discovery.http_filter.add_header.'
    assert EnvoyAdmin.stat_prefix('tcp_guard', 'network') == 'extension_config_discovery.network_filter.tcp_guard.'


def test_unreachable_admin_gives_none() -> None:
    assert EnvoyAdmin('127.0.0.1:1', timeout=0.5).counters('p.') is None


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802  pylint: disable=invalid-name
        self.send_error(404)

    def log_message(self, *args: t.Any) -> None:
        pass


def test_a_server_that_is_no_envoy_admin_is_an_error_not_a_stopped_envoy() -> None:
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(WasmOciError, match=r'answered HTTP 404 for /stats: is it the admin address of Envoy\?'):
            EnvoyAdmin(f'127.0.0.1:{server.server_address[1]}').counters('p.')
    finally:
        server.shutdown()
        server.server_close()
