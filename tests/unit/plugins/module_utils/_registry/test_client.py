# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The Distribution API of the client: its checks and messages, against scripted connections."""

from __future__ import annotations

import io
import json
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry import client as client_module
from ansible_collections.wasm.oci.tests.unit.plugins.module_utils._registry.scripted_registry import DIGEST, PASSWORD, FakeResponse, basic_registry, make_client


def test_an_upload_location_on_another_origin_gets_no_credentials() -> None:
    def then(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if method == 'POST':
            return FakeResponse(url, 202, {'Location': 'https://uploads.example.net/session?_state=state'})
        return FakeResponse(url, 201)
    client, connections, _sleeps = make_client(basic_registry(then))
    client.upload_blob(DIGEST, 4, lambda: io.BytesIO(b'blob'))
    method, url, headers = connections.sent[-1]
    assert (method, url.split('?')[0]) == ('PUT', 'https://uploads.example.net/session')
    assert 'Authorization' not in headers


def test_a_blob_announcing_another_length_is_refused_unread() -> None:
    body = b'x' * 100_000
    client, _connections, _sleeps = make_client(basic_registry(
        lambda method, url, headers: FakeResponse(url, 200, {'Content-Length': str(len(body))}, body)))
    with pytest.raises(RegistryError, match=f'announces 100000 bytes for blob {DIGEST}, whose descriptor declares 4'):
        client.open_blob(DIGEST, 4, 'Downloading')


def test_credentials_quoted_by_the_registry_are_redacted_from_its_message() -> None:
    client, _connections, _sleeps = make_client(basic_registry(lambda method, url, headers: FakeResponse(
        url, 403, body=json.dumps({'errors': [{'code': 'DENIED', 'message': f'{headers["Authorization"]} ({PASSWORD}) may not\r\n'}]}).encode())))
    with pytest.raises(RegistryError) as caught:
        client.head_manifest('1')
    assert str(caught.value).startswith('Looking up registry.example.com/filters/x:1 failed: HTTP 403 DENIED: Basic <redacted> '
                                        '(<redacted>) may not. The credentials are not allowed')
    assert caught.value.code == 'DENIED'


def test_an_error_body_is_read_only_to_the_limit() -> None:
    responses: list[FakeResponse] = []

    def huge(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        response = FakeResponse(url, 400, body=b'{"errors": [' + b' ' * (10 * 1024 * 1024))
        responses.append(response)
        return response
    client, _connections, _sleeps = make_client(basic_registry(huge))
    with pytest.raises(RegistryError, match=r'failed: HTTP 400$'):
        client.head_manifest('1')
    assert responses[0].read_total == 65536


def test_deeply_nested_error_bodies_are_no_crash() -> None:
    client, _connections, _sleeps = make_client(basic_registry(
        lambda method, url, headers: FakeResponse(url, 400, body=b'[' * 60_000)))
    with pytest.raises(RegistryError, match=r'HTTP 400'):
        client.head_manifest('1')


def test_an_upload_storm_is_retried_as_whole_sessions_only() -> None:
    client, connections, sleeps = make_client(basic_registry(
        lambda method, url, headers: FakeResponse(url, 503, {'Retry-After': '1'})), timeout=30.0)
    with pytest.raises(RegistryError, match='HTTP 503'):
        client.upload_blob(DIGEST, 4, lambda: io.BytesIO(b'blob'))
    assert [method for method, _url, _headers in connections.sent].count('POST') == 4 + 1
    assert len(sleeps) == 3


def test_a_refused_upload_location_fails_the_push_at_once() -> None:
    client, connections, sleeps = make_client(basic_registry(
        lambda method, url, headers: FakeResponse(url, 202, {'Location': 'http://uploads.example.net/s?_state=state'})))
    with pytest.raises(RegistryError, match='plain HTTP while the registry uses HTTPS') as caught:
        client.upload_blob(DIGEST, 4, lambda: io.BytesIO(b'blob'))
    assert 'state' not in str(caught.value)
    assert sleeps == []
    assert [method for method, _url, _headers in connections.sent] == ['POST', 'POST']


class _RecordingStream(io.BytesIO):
    """A blob whose reads are recorded by size."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(-1 if size is None else size)
        return super().read(size)


def _chunked_upload(monkeypatch: pytest.MonkeyPatch, blob: _RecordingStream, size: int) -> list[tuple[str, bytes]]:
    """Upload ``blob`` declared as ``size`` bytes in chunks of 16 (over a threshold of 10); the PATCHes as sent, read
    5 bytes at a time as an HTTP library sends a body."""
    monkeypatch.setattr(client_module, 'CHUNKED_UPLOAD_THRESHOLD', 10)
    monkeypatch.setattr(client_module, '_UPLOAD_CHUNK', 16)
    patches: list[tuple[str, bytes]] = []

    def then(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        return FakeResponse(url, {'POST': 202, 'PATCH': 202}.get(method, 201), {'Location': f'{url.partition("?")[0]}?_state=next'})

    client, connections, _sleeps = make_client(basic_registry(then))
    answer = connections.send

    def reading(deadline: t.Any, method: str, url: str, headers: dict[str, str], body: t.Any, timeout: float) -> FakeResponse:
        if method == 'PATCH' and body is not None and headers.get('Authorization'):
            assert len(body) == int(headers['Content-Length'])
            patches.append((headers['Content-Range'], b''.join(iter(lambda: body.read(5), b''))))
        return answer(deadline, method, url, headers, body, timeout)

    connections.send = reading  # type: ignore[method-assign]
    client.upload_blob(DIGEST, size, lambda: blob)
    return patches


def test_a_chunk_is_streamed_while_it_is_sent_not_read_into_memory_first(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(40))
    blob = _RecordingStream(data)
    patches = _chunked_upload(monkeypatch, blob, len(data))
    assert patches == [('0-15', data[:16]), ('16-31', data[16:32]), ('32-39', data[32:])]
    assert max(blob.reads) <= 5, 'read as the body is sent, never a whole chunk at once'


def test_a_blob_shorter_than_declared_fails_its_chunked_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageFormatError, match='the blob ended 10 bytes before its declared size'):
        _chunked_upload(monkeypatch, _RecordingStream(bytes(30)), 40)
