# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Deadlines and bounded bodies, on a local socket pair: nothing here uses a network."""

from __future__ import annotations

import http.client
import io
import os
import pathlib
import socket
import threading
import time
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry import transport
from ansible_collections.wasm.oci.plugins.module_utils._registry.optional_requests import requests, urllib3
from ansible_collections.wasm.oci.plugins.module_utils._registry.transport import SMALL_BODY_LIMIT, Body, Deadline, Reply, deadline_seconds, new_session


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


def test_the_session_hands_each_request_socket_to_its_deadline() -> None:
    """The pools of the session build connections that report their sockets to the deadline being sent."""
    session = new_session()
    pools = session.get_adapter('https://registry.example.com').poolmanager.pool_classes_by_scheme
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
def test_the_session_sends_bodies_in_large_blocks(url: str) -> None:
    """The connections the session's pools make (as urllib3 makes them, with its own default block size) send a request
    body SEND_BLOCK_SIZE bytes at a time."""
    pool = new_session().get_adapter(url).poolmanager.connection_from_url(url)
    connection = pool._new_conn()  # pylint: disable=protected-access
    assert connection.blocksize == transport.SEND_BLOCK_SIZE


@pytest.mark.parametrize('authorization', ['Bearer from-the-client', None])
def test_netrc_credentials_never_reach_a_request(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, authorization: str | None) -> None:
    """Credentials come from the collection's options and docker config only: requests would read ~/.netrc and put its
    Basic credentials on any request to a host named there, over the Authorization the client chose, or on a request
    meant to carry none (a redirect to storage, a token realm that gets no credentials)."""
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login netrc-user password netrc-secret\n', encoding='utf-8')
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    headers = {'Authorization': authorization} if authorization else {}
    prepared = new_session().prepare_request(requests.Request('GET', 'http://127.0.0.1:9/v2/', headers=headers))
    assert prepared.headers.get('Authorization') == authorization


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


class FakeResponse:
    def __init__(self, data: bytes) -> None:
        self.status_code = 500
        self.headers = {'Content-Type': 'text/plain'}
        self.url = 'https://registry.example.com/v2/'
        self.raw = FakeRaw(data)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_small_body_keeps_only_the_limit_and_closing_finishes_the_deadline() -> None:
    response = FakeResponse(b'e' * (10 * SMALL_BODY_LIMIT))
    deadline = Deadline(60)
    with Reply(response, deadline, 'Reading') as reply:
        assert len(reply.small_body()) == SMALL_BODY_LIMIT
        assert reply.status == 500
    assert response.closed
    assert response.raw.asked == [SMALL_BODY_LIMIT]
    assert deadline not in transport._watchdog._due


@pytest.mark.parametrize(('left', 'asked'), [(0, [None]), (5, []), (None, [])])
def test_closing_reads_the_end_of_a_body_only_when_nothing_is_left(left: int | None, asked: list[int | None]) -> None:
    """Reading the end hands the connection back to its pool; a body with bytes left, or an unknown rest (chunked), is
    never read for that: closing drops its connection."""
    response = FakeResponse(b'')
    response.raw.length_remaining = left
    Reply(response, finished_deadline(), 'Reading').close()
    assert response.raw.asked == asked
    assert response.closed


@pytest.mark.parametrize(('body', 'document'), [
    (b'{"errors": [{"code": "DENIED"}]}', {'errors': [{'code': 'DENIED'}]}),
    (b'[' * 60_000, None),
    (b'\xff\xfe', None),
    (b'{"errors": [' + b' ' * (2 * SMALL_BODY_LIMIT), None),
])
def test_a_small_json_body_is_none_unless_it_parses_within_the_limit(body: bytes, document: t.Any) -> None:
    with Reply(FakeResponse(body), finished_deadline(), 'Reading') as reply:
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
