# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Fixtures shared by the unit tests of the ``_envoy`` package.

Nothing here starts Envoy or a registry: time is a fake clock, Envoy's admin interface a scripted
object (or a tiny HTTP server where the HTTP client itself is tested), modules are built in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import os
import pathlib
import socket
import threading
import time
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import REJECTED, SUCCESS, UpdateCounters
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import proxy_module

BEFORE = UpdateCounters(3, 0, 'v-before')


class FakeClock:
    """A clock that advances one second per reading, and a sleep that only records (and may run a hook)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep: t.Callable[[], None] | None = None

    def __call__(self) -> float:
        value = self.now
        self.now += 1.0
        return value

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclasses.dataclass
class Wait:
    prefix: str
    before: UpdateCounters
    version: str | None
    seen: t.Any


class ScriptedAdmin:
    """Stands in for EnvoyAdmin: counters and outcomes scripted per stat prefix, every wait recorded.

    ``counter_answers[prefix]`` is what :meth:`counters` gives (``BEFORE`` unless set; None: Envoy does not use the file);
    ``outcomes[prefix]`` the answers of successive waits (SUCCESS once they run out). ``look`` is called at each
    wait, so a test sees which files Envoy would have found then.
    """

    def __init__(self) -> None:
        self.info: dict[str, t.Any] | None = None
        self.counter_answers: dict[str, UpdateCounters | None] = {}
        self.outcomes: dict[str, list[str | None]] = {}
        self.waits: list[Wait] = []
        self.look: t.Callable[[], t.Any] = lambda: None

    def server_info(self) -> dict[str, t.Any] | None:
        return self.info

    def counters(self, prefix: str) -> UpdateCounters | None:
        return self.counter_answers.get(prefix, BEFORE)

    def wait_for_update(self, prefix: str, before: UpdateCounters, timeout: float, version: str | None = None) -> str | None:
        self.waits.append(Wait(prefix, before, version, self.look()))
        answers = self.outcomes.get(prefix)
        return answers.pop(0) if answers else SUCCESS

    def reject(self, prefix: str) -> None:
        self.outcomes[prefix] = [REJECTED]


@pytest.fixture
def admin() -> ScriptedAdmin:
    return ScriptedAdmin()


@dataclasses.dataclass
class Answer:
    """What the service answers on one path: ``raw`` bytes instead of HTTP, after ``delay`` seconds."""

    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b''
    raw: bytes | None = None
    delay: float = 0.0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.answers: dict[str, Answer] = {}
        self.requests: list[str] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        self.server.requests.append(self.path)
        answer = self.server.answers.get(self.path.split('?')[0], Answer(404))
        time.sleep(answer.delay)
        if answer.raw is not None:
            self.wfile.write(answer.raw)
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: t.Any) -> None:  # pylint: disable=redefined-builtin
        pass


@dataclasses.dataclass
class Service:
    """A loopback HTTP service answering ``answers[path]`` (404 for other paths), recording each request's path."""

    server: _Server

    @property
    def address(self) -> str:
        return f'127.0.0.1:{self.server.server_address[1]}'

    def url(self, path: str) -> str:
        return f'http://{self.address}{path}'

    def answer(self, path: str, status: int = 200, headers: dict[str, str] | None = None, body: bytes = b'',
               raw: bytes | None = None, delay: float = 0.0, document: t.Any = None) -> None:
        """Answer ``path`` so from now on; ``document`` is sent as JSON."""
        if document is not None:
            body, headers = json.dumps(document).encode('utf-8'), dict(headers or {}, **{'Content-Type': 'application/json'})
        self.server.answers[path] = Answer(status, headers or {}, body, raw, delay)

    @property
    def requests(self) -> list[str]:
        return self.server.requests


@pytest.fixture
def service() -> t.Iterator[Service]:
    server = _Server()
    # A short poll interval keeps shutdown, and so every test using this fixture, fast.
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.01}, daemon=True)
    thread.start()
    try:
        yield Service(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def refused_address() -> str:
    """A loopback host:port where nothing listens: the socket that had it is closed."""
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        port = listener.getsockname()[1]
    return f'127.0.0.1:{port}'


@pytest.fixture
def paths(tmp_path: pathlib.Path) -> Paths:
    """One Envoy's files below ``tmp_path``: configuration in etc/, modules in wasm/; nothing exists yet."""
    return Paths(str(tmp_path / 'etc'), str(tmp_path / 'etc' / 'envoy.yaml'), str(tmp_path / 'wasm'))


@pytest.fixture
def add_module(paths: Paths) -> t.Callable[..., str]:
    """Store a proxy-wasm module under its sha256 name in ``paths.wasm_dir``; its ``sha256:`` digest."""
    def store(marker: str = '', data: bytes | None = None) -> str:
        data = proxy_module(marker=marker) if data is None else data
        digest = hashlib.sha256(data).hexdigest()
        os.makedirs(paths.wasm_dir, exist_ok=True)
        pathlib.Path(paths.wasm_dir, digest + '.wasm').write_bytes(data)
        return 'sha256:' + digest
    return store


@pytest.fixture
def make_image() -> t.Callable[..., dict[str, t.Any]]:
    """An image description as wasm_image_pull returns it (the parts the Envoy side reads)."""
    def image(reference: str, module_digest: str | None, root_ids: t.Sequence[str] = ('root',),
              manifest: str = 'sha256:' + 'e' * 64) -> dict[str, t.Any]:
        return {'reference': reference, 'digest': manifest, 'wasm': {'digest': module_digest, 'size': None},
                'runtime': {'type': 'envoy_proxy', 'root_ids': list(root_ids)}}
    return image


@pytest.fixture
def make_filter() -> t.Callable[..., dict[str, t.Any]]:
    """One entry of the module's ``filters`` parameter, with its defaults."""
    def spec(name: str, state: str = 'present', **options: t.Any) -> dict[str, t.Any]:
        return dict({'name': name, 'state': state, 'type': 'http', 'failure_policy': 'FAIL_CLOSED'}, **options)
    return spec
