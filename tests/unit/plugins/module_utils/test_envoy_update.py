# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import dataclasses
import http.server
import itertools
import pathlib
import socket
import threading
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils.envoy_admin import REJECTED, SUCCESS
from ansible_collections.wasm.oci.plugins.module_utils.envoy_update import (
    EnvoyUpdater,
    FileChange,
    HealthCheck,
    UpdateFailed,
    UpdateReport,
    probe,
)
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmOciError

BEFORE = {SUCCESS: 3, REJECTED: 0}
ADMIN_ADDRESS = '127.0.0.1:9901'
VERIFY_TIMEOUT = 3.0

Snapshot = dict[str, bytes]


def _snapshot(directory: pathlib.Path) -> Snapshot:
    """The files an Envoy watching ``directory`` would see; atomic writes' temporary files are hidden."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if not path.name.startswith('.')}


class FakeAdmin:
    """Stands in for EnvoyAdmin: scripted counters and outcomes, and the files as they were at each wait."""

    address = ADMIN_ADDRESS

    def __init__(self, directory: pathlib.Path, counters: dict[str, dict[str, int] | None] | None = None,
                 outcomes: dict[str, list[str | None]] | None = None) -> None:
        self.directory = directory
        self.counter_answers = counters or {}
        self.outcomes = {prefix: iter(answers) for prefix, answers in (outcomes or {}).items()}
        self.waits: list[tuple[str, Snapshot]] = []
        self.wait_timeouts: list[float] = []

    def counters(self, prefix: str) -> dict[str, int] | None:
        return self.counter_answers.get(prefix, BEFORE)

    def wait_for_update(self, prefix: str, before: dict[str, int], timeout: float) -> str | None:
        # A filter Envoy starts to use has no counters yet: its update is awaited from zero.
        assert before == (self.counters(prefix) or {SUCCESS: 0, REJECTED: 0})
        self.waits.append((prefix, _snapshot(self.directory)))
        self.wait_timeouts.append(timeout)
        return next(self.outcomes.get(prefix, iter(())), SUCCESS)


def _prefix(name: str) -> str:
    return f'extension_config_discovery.http_filter.{name}.'


def _change(directory: pathlib.Path, name: str, old: bytes | None, new: bytes | None) -> FileChange:
    """A change of ``directory/name``, whose current content is ``old``."""
    path = directory / name
    if old is not None:
        path.write_bytes(old)
    return FileChange(path=str(path), old=old, new=new, stat_prefix=_prefix(name), what=f'{name} ECDS file')


def _two_changes(directory: pathlib.Path) -> list[FileChange]:
    """The usual pair: an existing filter updated, then a new one added (no old file)."""
    return [_change(directory, 'add_header', b'add_header v1', b'add_header v2'), _change(directory, 'tcp_meter', None, b'tcp_meter v1')]


class FakeTime:
    """A clock that advances one second per reading, and a sleep that only records."""

    def __init__(self) -> None:
        self.ticks = itertools.count()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return float(next(self.ticks))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _updater(admin: FakeAdmin, fake_time: FakeTime | None = None) -> EnvoyUpdater:
    fake_time = fake_time or FakeTime()
    return EnvoyUpdater(admin, VERIFY_TIMEOUT, clock=fake_time.clock, sleep=fake_time.sleep)  # type: ignore[arg-type]


@dataclasses.dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    raw: bytes | None = None


class _AnsweringServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(('127.0.0.1', 0), _AnswerHandler)
        self.answer = Answer()
        self.paths: list[str] = []


class _AnswerHandler(http.server.BaseHTTPRequestHandler):
    server: _AnsweringServer

    def do_GET(self) -> None:
        answer = self.server.answer
        self.server.paths.append(self.path)
        if answer.raw is not None:
            self.wfile.write(answer.raw)
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, format: str, *args: t.Any) -> None:
        pass


@dataclasses.dataclass
class Service:
    url: str
    server: _AnsweringServer

    @property
    def answer(self) -> Answer:
        return self.server.answer

    @property
    def paths(self) -> list[str]:
        return self.server.paths


@pytest.fixture
def service() -> t.Iterator[Service]:
    """An HTTP service on a free loopback port that gives every request ``service.answer``."""
    server = _AnsweringServer()
    # A short poll interval keeps shutdown, and so every test using this fixture, fast.
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.01}, daemon=True)
    thread.start()
    try:
        yield Service(f'http://127.0.0.1:{server.server_address[1]}/healthz', server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_no_changes_touch_nothing(tmp_path: pathlib.Path) -> None:
    admin = FakeAdmin(tmp_path)
    assert _updater(admin).apply([]) is None
    assert admin.waits == [] and _snapshot(tmp_path) == {}


def test_without_a_running_envoy_all_files_are_written_unverified(tmp_path: pathlib.Path) -> None:
    changes = _two_changes(tmp_path) + [_change(tmp_path, 'retired', b'retired v1', None)]
    admin = FakeAdmin(tmp_path, counters={change.stat_prefix: None for change in changes})
    report = _updater(admin).apply(changes)
    assert _snapshot(tmp_path) == {'add_header': b'add_header v2', 'tcp_meter': b'tcp_meter v1'}
    assert not report.verified
    assert ADMIN_ADDRESS in report.message and 'the live check happens on the next run' in report.message
    assert admin.waits == []


def test_changes_are_applied_one_by_one_in_order(tmp_path: pathlib.Path) -> None:
    changes = _two_changes(tmp_path)
    admin = FakeAdmin(tmp_path)
    report = _updater(admin).apply(changes)
    assert admin.waits == [
        (_prefix('add_header'), {'add_header': b'add_header v2'}),
        (_prefix('tcp_meter'), {'add_header': b'add_header v2', 'tcp_meter': b'tcp_meter v1'}),
    ]
    assert admin.wait_timeouts == [VERIFY_TIMEOUT] * 2
    assert report == UpdateReport(True, 'Envoy applied the new add_header ECDS file, tcp_meter ECDS file')


@pytest.mark.parametrize('outcome, rejected, complaint', [
    (REJECTED, True, 'Envoy rejected the new tcp_meter ECDS file'),
    (None, False, 'Envoy did not apply within 3s the new tcp_meter ECDS file'),
])
def test_a_change_envoy_does_not_take_rolls_back_everything_newest_first(
        tmp_path: pathlib.Path, outcome: str | None, rejected: bool, complaint: str) -> None:
    changes = _two_changes(tmp_path)
    admin = FakeAdmin(tmp_path, outcomes={_prefix('tcp_meter'): [outcome]})
    with pytest.raises(UpdateFailed) as caught:
        _updater(admin).apply(changes)
    assert caught.value.rejected is rejected
    assert str(caught.value).startswith(complaint)
    assert 'the previous files were restored' in str(caught.value)
    assert _snapshot(tmp_path) == {'add_header': b'add_header v1'}
    # After the two forward waits, the rollback waits: tcp_meter removed first, then add_header restored.
    assert admin.waits[2:] == [
        (_prefix('tcp_meter'), {'add_header': b'add_header v2'}),
        (_prefix('add_header'), {'add_header': b'add_header v1'}),
    ]


def test_a_file_envoy_does_not_use_is_written_without_waiting(tmp_path: pathlib.Path) -> None:
    changes = _two_changes(tmp_path)
    admin = FakeAdmin(tmp_path, counters={_prefix('add_header'): {}})
    report = _updater(admin).apply(changes)
    assert _snapshot(tmp_path) == {'add_header': b'add_header v2', 'tcp_meter': b'tcp_meter v1'}
    assert [prefix for prefix, _files in admin.waits] == [_prefix('tcp_meter')]
    assert not report.verified
    assert report.message.startswith('Envoy does not use the add_header ECDS file yet')


def test_a_failing_health_check_rolls_everything_back(tmp_path: pathlib.Path, service: Service) -> None:
    service.answer.status = 503
    changes = _two_changes(tmp_path)
    fake_time = FakeTime()
    with pytest.raises(UpdateFailed) as caught:
        _updater(FakeAdmin(tmp_path), fake_time).apply(changes, HealthCheck(service.url, timeout=3))
    assert caught.value.rejected is False
    assert f'the health check failed: {service.url} answered 503, not 200' in str(caught.value)
    assert _snapshot(tmp_path) == {'add_header': b'add_header v1'}
    # Probed until the deadline, three seconds on the fake clock.
    assert len(service.paths) == 3 and len(fake_time.sleeps) == 2


def test_a_health_check_that_passes_after_a_retry_keeps_the_change(tmp_path: pathlib.Path, service: Service) -> None:
    service.answer.status = 503
    fake_time = FakeTime()

    def sleep_while_the_service_recovers(seconds: float) -> None:
        fake_time.sleeps.append(seconds)
        service.answer.status = 200

    fake_time.sleep = sleep_while_the_service_recovers  # type: ignore[method-assign]
    report = _updater(FakeAdmin(tmp_path), fake_time).apply(_two_changes(tmp_path), HealthCheck(service.url, timeout=10))
    assert report.verified
    assert _snapshot(tmp_path) == {'add_header': b'add_header v2', 'tcp_meter': b'tcp_meter v1'}
    assert len(service.paths) == 2


def test_a_change_that_cannot_be_written_rolls_back_the_earlier_ones(tmp_path: pathlib.Path) -> None:
    changes = [_change(tmp_path, 'add_header', b'add_header v1', b'add_header v2'),
               FileChange(str(tmp_path / 'absent' / 'listeners.yaml'), None, b'listeners v1', _prefix('listener'), 'listener file')]
    with pytest.raises((OSError, WasmOciError)):
        _updater(FakeAdmin(tmp_path)).apply(changes)
    assert _snapshot(tmp_path) == {'add_header': b'add_header v1'}


@pytest.mark.parametrize('answer, check, problem', [
    pytest.param(Answer(200, {'X-Version': 'v2'}), HealthCheck('', 200, {'x-version': 'v2'}), None, id='header-names-ignore-case'),
    pytest.param(Answer(503), HealthCheck(''), '{url} answered 503, not 200', id='status'),
    pytest.param(Answer(200, {'X-Version': 'v1'}), HealthCheck('', 200, {'X-Version': 'v2'}),
                 "{url} answered header X-Version: 'v1', not 'v2'", id='header-value'),
    pytest.param(Answer(200), HealthCheck('', 200, {'X-Version': 'v2'}), "{url} answered header X-Version: None, not 'v2'",
                 id='header-missing'),
    pytest.param(Answer(500, {'X-Version': 'v2'}), HealthCheck('', 500, {'x-version': 'v2'}), None, id='expected-error-status'),
    pytest.param(Answer(302, {'Location': '/elsewhere'}), HealthCheck('', 302), None, id='redirect-expected'),
    pytest.param(Answer(302, {'Location': '/elsewhere'}), HealthCheck(''), '{url} answered 302, not 200', id='redirect-not-followed'),
])
def test_probe(service: Service, answer: Answer, check: HealthCheck, problem: str | None) -> None:
    service.server.answer = answer
    assert probe(dataclasses.replace(check, url=service.url)) == (problem and problem.format(url=service.url))
    assert service.paths == ['/healthz']


def test_probe_of_a_closed_port_says_it_did_not_answer() -> None:
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{listener.getsockname()[1]}/healthz'
    problem = probe(HealthCheck(url), timeout=1)
    assert problem is not None and problem.startswith(f'{url} did not answer: ')


def test_probe_of_a_service_that_does_not_speak_http_says_so(service: Service) -> None:
    service.answer.raw = b'garbage\r\n\r\n'
    problem = probe(HealthCheck(service.url), timeout=1)
    assert problem is not None and problem.startswith(f'{service.url} ')


@pytest.mark.parametrize('outcome', [SUCCESS, REJECTED])
def test_a_listener_change_waits_for_the_filters_it_starts_to_use(tmp_path: pathlib.Path, outcome: str) -> None:
    listeners = FileChange(str(tmp_path / 'lds.yaml'), b'listeners with a', b'listeners with a and b', 'listener_manager.lds.',
                           'listeners', uses=((_prefix('a'), 'the config of filter a'), (_prefix('b'), 'the config of filter b')))
    (tmp_path / 'lds.yaml').write_bytes(b'listeners with a')
    admin = FakeAdmin(tmp_path, counters={_prefix('b'): {}}, outcomes={_prefix('b'): [outcome]})
    if outcome == SUCCESS:
        assert _updater(admin).apply([listeners]).verified is True
    else:
        with pytest.raises(UpdateFailed, match=r'^Envoy rejected the config of filter b, which the new listeners use; the previous files'):
            _updater(admin).apply([listeners])
        assert (tmp_path / 'lds.yaml').read_bytes() == b'listeners with a'
    # Filter a was loaded before the change: only the listener and the newly used filter b are awaited.
    assert [prefix for prefix, _files in admin.waits][:2] == ['listener_manager.lds.', _prefix('b')]


def test_without_an_admin_to_ask_files_are_written_and_a_failure_undoes_them(tmp_path: pathlib.Path) -> None:
    changes = _two_changes(tmp_path)
    assert EnvoyUpdater(None, VERIFY_TIMEOUT).apply(changes) is None
    assert _snapshot(tmp_path) == {'add_header': b'add_header v2', 'tcp_meter': b'tcp_meter v1'}
    (tmp_path / 'add_header').write_bytes(b'add_header v2')
    unwritable = FileChange(str(tmp_path / 'missing' / 'envoy.yaml'), None, b'bootstrap', '', 'bootstrap')
    with pytest.raises(WasmOciError, match='^Cannot replace .*missing/.*; the files already replaced were put back'):
        EnvoyUpdater(None, VERIFY_TIMEOUT).apply([_change(tmp_path, 'add_header', b'add_header v2', b'add_header v3'), unwritable])
    assert (tmp_path / 'add_header').read_bytes() == b'add_header v2'


def test_an_unwatched_change_is_written_without_waiting(tmp_path: pathlib.Path) -> None:
    bootstrap = FileChange(str(tmp_path / 'envoy.yaml'), None, b'bootstrap', '', 'bootstrap')
    admin = FakeAdmin(tmp_path)
    report = _updater(admin).apply([_change(tmp_path, 'add_header', b'add_header v1', b'add_header v2'), bootstrap])
    assert report == UpdateReport(True, 'Envoy applied the new add_header ECDS file')
    assert [prefix for prefix, _files in admin.waits] == [_prefix('add_header')]
    assert _updater(FakeAdmin(tmp_path)).apply([FileChange(str(tmp_path / 'envoy.yaml'), b'bootstrap', b'bootstrap 2', '', 'bootstrap')]) is None
