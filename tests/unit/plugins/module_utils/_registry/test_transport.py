# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Deadlines, bounded bodies, and the connections: proxies and TLS options, on a local socket pair or a loopback server."""

from __future__ import annotations

import base64
import http.client
import io
import os
import pathlib
import socket
import sys
import threading
import time
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import MissingDependency, RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry import transport
from ansible_collections.wasm.oci.plugins.module_utils._registry.optional_requests import requests, urllib3
from ansible_collections.wasm.oci.plugins.module_utils._registry.transport import SMALL_BODY_LIMIT, Body, Connections, Deadline, Reply, deadline_seconds


class FakeRaw:
    """A urllib3 response body: ``read(amt, decode_content)`` from bytes, recording the sizes asked for."""

    def __init__(self, data: bytes, error: Exception | None = None) -> None:
        self._stream = io.BytesIO(data)
        self._error = error
        self.asked: list[int] = []
        self.length_remaining: int | None = None

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        assert decode_content is False, 'bodies are read without content decoding'
        self.asked.append(amt)
        if self._error:
            raise self._error
        return self._stream.read(amt)


def finished_deadline() -> Deadline:
    deadline = Deadline(60)
    deadline.finish()
    return deadline


def test_deadline_seconds_grow_with_the_body() -> None:
    assert deadline_seconds(30) == 60
    assert deadline_seconds(2, 16 * 1024 * 10) == 14


def test_a_deadline_wakes_a_blocked_read() -> None:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)  # without the deadline, the test fails instead of hanging
    with ours, theirs:
        deadline = Deadline(0.2)
        deadline.watch(ours)
        started = time.monotonic()
        # A peer that never sends: without the deadline this recv would block for good.
        assert ours.recv(1) == b''
        assert time.monotonic() - started < 5
        assert deadline.expired


def test_a_socket_watched_after_the_deadline_is_shut_down_at_once() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        deadline = Deadline(0.01)
        time.sleep(0.1)
        deadline.watch(ours)
        assert ours.recv(1) == b''


def test_a_finished_deadline_leaves_its_socket_alone() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        deadline = Deadline(0.05)
        deadline.watch(ours)
        deadline.finish()
        time.sleep(0.2)
        theirs.sendall(b'x')
        assert ours.recv(1) == b'x'
        assert not deadline.expired


def test_the_pools_hand_each_request_socket_to_its_deadline() -> None:
    """The pools of the connections build connections that report their sockets to the deadline being sent."""
    pools = Connections(True, None)._manager(None).pool_classes_by_scheme  # pylint: disable=protected-access
    connection = pools['http'].ConnectionCls('127.0.0.1', 9)
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    with ours, theirs:
        connection.sock = ours
        deadline = Deadline(0.1)
        transport._sending.deadline = deadline
        try:
            connection.request('GET', '/v2/')
            assert theirs.recv(100).startswith(b'GET /v2/ HTTP/1.1')
            started = time.monotonic()
            with pytest.raises(http.client.RemoteDisconnected):
                # The peer never answers: reading the status line waits until the deadline shuts the socket down.
                connection.getresponse()
            assert time.monotonic() - started < 5
        finally:
            transport._sending.deadline = None
        assert deadline.expired
    assert issubclass(pools['https'].ConnectionCls, urllib3.connection.HTTPSConnection)


@pytest.mark.parametrize('url', ['http://127.0.0.1:9', 'https://127.0.0.1:9'])
def test_the_pools_send_bodies_in_large_blocks(url: str) -> None:
    """The connections the pools make (as urllib3 makes them, with its own default block size) send a request body
    SEND_BLOCK_SIZE bytes at a time, and a pool keeps more than one (a download and a small blob beside it)."""
    pool = Connections(True, None)._manager(None).connection_from_url(url)  # pylint: disable=protected-access
    connection = pool._new_conn()  # pylint: disable=protected-access
    assert connection.blocksize == transport.SEND_BLOCK_SIZE
    assert pool.pool.maxsize > 1


class OneAnswer:
    """A loopback HTTP server that answers one request with 200 and an empty body, keeping what it was sent."""

    def __init__(self) -> None:
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port = self._listener.getsockname()[1]
        self.request = b''
        self._thread = threading.Thread(target=self._answer, daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        self._listener.settimeout(5)
        connection, _address = self._listener.accept()
        with connection:
            while b'\r\n\r\n' not in self.request:
                self.request += connection.recv(65536)
            connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')

    def sent(self) -> tuple[str, dict[str, str]]:
        """The request line and the headers (names in lower case) of the request."""
        self._thread.join(5)
        self._listener.close()
        line, *fields = self.request.decode('latin-1').split('\r\n\r\n')[0].split('\r\n')
        return line, {name.lower(): value.strip() for name, value in (field.split(':', 1) for field in fields)}


def _get(connections: Connections, url: str) -> None:
    deadline = Deadline(10)
    Reply(connections.send(deadline, 'GET', url, {'Accept': 'x/y'}, None, 5), url, deadline, 'Reading').close()


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_a_request_carries_the_headers_given_and_no_credentials_of_its_own(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, no_proxies: None) -> None:
    """Credentials come from the collection's options and docker config only: nothing is read from ~/.netrc, which
    would put its Basic credentials on any request to a host named there."""
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login netrc-user password netrc-secret\n', encoding='utf-8')
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    server = OneAnswer()
    _get(Connections(True, None), f'http://127.0.0.1:{server.port}/v2/')
    line, headers = server.sent()
    assert line == 'GET /v2/ HTTP/1.1'
    assert 'authorization' not in headers
    assert headers['accept'] == 'x/y'
    assert headers['user-agent'].startswith('python-requests/')


def test_requests_go_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch, no_proxies: None) -> None:
    server = OneAnswer()
    monkeypatch.setenv('HTTP_PROXY', f'proxy-user:p%40ss@127.0.0.1:{server.port}')
    _get(Connections(True, None), 'http://registry.example.com:5000/v2/')
    line, headers = server.sent()
    assert line == 'GET http://registry.example.com:5000/v2/ HTTP/1.1'
    assert headers['proxy-authorization'] == 'Basic ' + base64.b64encode(b'proxy-user:p@ss').decode()


def test_no_proxy_sends_a_request_directly(monkeypatch: pytest.MonkeyPatch, no_proxies: None) -> None:
    server = OneAnswer()
    monkeypatch.setenv('HTTP_PROXY', 'http://127.0.0.1:9')  # nothing listens there
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    _get(Connections(True, None), f'http://127.0.0.1:{server.port}/v2/')
    assert server.sent()[0] == 'GET /v2/ HTTP/1.1'


def test_a_proxy_without_a_host_is_named(monkeypatch: pytest.MonkeyPatch, no_proxies: None) -> None:
    monkeypatch.setenv('HTTPS_PROXY', 'http://:3128')
    with pytest.raises(RegistryError, match=r'^The proxy the environment names for https://registry.example.com has no host'):
        _get(Connections(True, None), 'https://registry.example.com/v2/')


def test_a_socks_proxy_without_pysocks_names_the_package(monkeypatch: pytest.MonkeyPatch, no_proxies: None) -> None:
    monkeypatch.setitem(sys.modules, 'urllib3.contrib.socks', None)  # as if PySocks were missing: the import fails
    monkeypatch.setenv('ALL_PROXY', 'socks5://127.0.0.1:9')
    with pytest.raises(MissingDependency, match=r'through the SOCKS proxy the environment names needs the Python package PySocks'):
        _get(Connections(True, None), 'https://registry.example.com/v2/')


@pytest.mark.parametrize(('verify', 'bundle', 'expected'), [
    (False, '/etc/bundle.pem', {'cert_reqs': 'CERT_NONE'}),
    ('/etc/pki/ca.pem', '/etc/bundle.pem', {'cert_reqs': 'CERT_REQUIRED', 'ca_certs': '/etc/pki/ca.pem'}),
    (True, '/etc/bundle.pem', {'cert_reqs': 'CERT_REQUIRED', 'ca_certs': '/etc/bundle.pem'}),
    (True, None, {'cert_reqs': 'CERT_REQUIRED', 'ca_certs': requests.utils.DEFAULT_CA_BUNDLE_PATH}),
])
def test_certificates_are_checked_as_requests_would(monkeypatch: pytest.MonkeyPatch, verify: bool | str, bundle: str | None,
                                                    expected: dict[str, str]) -> None:
    """REQUESTS_CA_BUNDLE (else CURL_CA_BUNDLE) stands for the default CAs only, never for a task's ca_path."""
    monkeypatch.delenv('CURL_CA_BUNDLE', raising=False)
    if bundle:
        monkeypatch.setenv('REQUESTS_CA_BUNDLE', bundle)
    else:
        monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    assert Connections(verify, None)._tls == expected  # pylint: disable=protected-access


def test_a_ca_directory_and_a_client_certificate_reach_the_pools(tmp_path: pathlib.Path) -> None:
    tls = Connections(str(tmp_path), ('/etc/pki/client.pem', '/etc/pki/client.key'))._tls  # pylint: disable=protected-access
    assert tls == {'cert_reqs': 'CERT_REQUIRED', 'ca_cert_dir': str(tmp_path), 'cert_file': '/etc/pki/client.pem',
                   'key_file': '/etc/pki/client.key'}


def test_a_missing_ca_bundle_fails_a_tls_request_before_it_is_sent(no_proxies: None) -> None:
    with pytest.raises(OSError, match=r'invalid path: /nonexistent/bundle\.pem'):
        _get(Connections('/nonexistent/bundle.pem', None), 'https://127.0.0.1:9/v2/')


def test_a_body_is_read_at_most_to_its_limit() -> None:
    raw = FakeRaw(b'x' * 1000)
    body = Body(raw, finished_deadline(), 'Reading', limit=10)
    assert body.read() == b'x' * 10
    assert body.read(5) == b''
    assert raw.asked == [10]


def test_a_body_without_a_limit_must_be_read_in_pieces() -> None:
    body = Body(FakeRaw(b'abc'), finished_deadline(), 'Reading')
    assert body.read(2) == b'ab'
    with pytest.raises(ValueError, match='a body without a limit is read a bounded amount at a time'):
        body.read()


def test_a_broken_body_is_a_registry_error_without_secrets() -> None:
    error = urllib3.exceptions.ProtocolError('Connection broken: https://cdn.example.com/b?sig=s3cr3t')
    with pytest.raises(RegistryError, match='the connection broke while reading the body') as caught:
        Body(FakeRaw(b'', error), finished_deadline(), 'Downloading').read(10)
    assert 's3cr3t' not in str(caught.value)


def test_a_body_read_after_the_deadline_fails_with_the_deadline() -> None:
    deadline = Deadline(0.01)
    time.sleep(0.1)
    with pytest.raises(RegistryError, match=r'Downloading failed: the registry did not finish answering within 0.01s'):
        Body(FakeRaw(b'partial'), deadline, 'Downloading').read(100)


class FakeResponse(FakeRaw):
    """A urllib3 response: its body, and whether it was closed and its connection handed back."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.status = 500
        self.headers = {'Content-Type': 'text/plain'}
        self.closed = self.released = False

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True


def test_a_small_body_keeps_only_the_limit_and_closing_finishes_the_deadline() -> None:
    response = FakeResponse(b'e' * (10 * SMALL_BODY_LIMIT))
    deadline = Deadline(60)
    with Reply(response, 'https://registry.example.com/v2/', deadline, 'Reading') as reply:
        assert len(reply.small_body()) == SMALL_BODY_LIMIT
        assert reply.status == 500
    assert response.closed
    assert response.released
    assert response.asked == [SMALL_BODY_LIMIT]
    assert deadline not in transport._watchdog._due


@pytest.mark.parametrize(('left', 'asked'), [(0, [None]), (5, []), (None, [])])
def test_closing_reads_the_end_of_a_body_only_when_nothing_is_left(left: int | None, asked: list[int | None]) -> None:
    """Reading the end hands the connection back to its pool; a body with bytes left, or an unknown rest (chunked), is
    never read for that: closing drops its connection."""
    response = FakeResponse(b'')
    response.length_remaining = left
    Reply(response, 'https://registry.example.com/v2/', finished_deadline(), 'Reading').close()
    assert response.asked == asked
    assert response.closed
    assert response.released


@pytest.mark.parametrize(('body', 'document'), [
    (b'{"errors": [{"code": "DENIED"}]}', {'errors': [{'code': 'DENIED'}]}),
    (b'[' * 60_000, None),
    (b'\xff\xfe', None),
    (b'{"errors": [' + b' ' * (2 * SMALL_BODY_LIMIT), None),
])
def test_a_small_json_body_is_none_unless_it_parses_within_the_limit(body: bytes, document: t.Any) -> None:
    with Reply(FakeResponse(body), 'https://registry.example.com/v2/', finished_deadline(), 'Reading') as reply:
        assert reply.small_json() == document


def test_all_deadlines_share_one_watchdog_thread_and_each_expires_in_time() -> None:
    Deadline(60).finish()  # the watchdog runs from now on
    before = threading.active_count()
    late, soon, finished = Deadline(0.4), Deadline(0.05), Deadline(0.05)
    finished.finish()
    assert threading.active_count() == before
    time.sleep(0.2)
    assert (soon.expired, late.expired, finished.expired) == (True, False, False)
    time.sleep(0.4)
    assert late.expired


def test_finished_deadlines_leave_the_watchdog() -> None:
    finished = [Deadline(3600) for _index in range(100)]
    for deadline in finished:
        deadline.finish()
    kept = Deadline(3600)
    assert kept in transport._watchdog._due
    assert not set(finished) & set(transport._watchdog._due)
    kept.finish()


def test_a_forked_child_has_a_watchdog_of_its_own() -> None:
    Deadline(60).finish()  # the parent's watchdog thread runs
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child reports through the pipe)
        deadline = Deadline(0.05)
        time.sleep(0.3)
        os.write(write_end, b'1' if deadline.expired else b'0')
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as answer:
        expired = answer.read()
    os.waitpid(pid, 0)
    assert expired == b'1'
