# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Destinations, redirects and retries of each request, against scripted connections."""

from __future__ import annotations

import typing as t

import pytest
import urllib3

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry.destinations import RefusedDestination, origin_of
from ansible_collections.wasm.oci.plugins.module_utils._registry.transport import DeadlineExceeded, Reply
from ansible_collections.wasm.oci.tests.unit.plugins.module_utils._registry.scripted_registry import (
    BASIC,
    BLOB_URL,
    REGISTRY,
    Answer,
    FakeConnections,
    FakeResponse,
    make_client,
)


def download(answer: Answer, addresses: tuple[str, ...] = ('203.0.113.7',)) -> tuple[t.Callable[[], Reply], FakeConnections]:
    """A GET of a blob carrying Basic credentials for the registry, and the connections it goes through."""
    client, connections, _sleeps = make_client(answer, addresses=addresses)
    return lambda: client.sender.send('GET', BLOB_URL, {}, None, 'Downloading', authorization=BASIC,
                                      authorized=origin_of(REGISTRY)), connections


def test_credentials_follow_redirects_only_within_the_registry_origin() -> None:
    def answer(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if url == BLOB_URL:
            return FakeResponse(url, 307, {'Location': '/elsewhere/on/the/registry'})
        if url.endswith('/elsewhere/on/the/registry'):
            return FakeResponse(url, 302, {'Location': 'https://cdn.example.com/b?X-Amz-Signature=sig'})
        return FakeResponse(url, 200, {'Content-Length': '4'}, b'blob')
    send, connections = download(answer)
    with send() as reply:
        assert reply.body(5).read() == b'blob'
    assert [(url.split('?')[0], headers.get('Authorization')) for _method, url, headers in connections.sent] == [
        (BLOB_URL, BASIC),
        (f'{REGISTRY}/elsewhere/on/the/registry', BASIC),
        ('https://cdn.example.com/b', None),
    ]


def test_a_redirect_downgrading_to_http_is_refused_before_it_is_followed() -> None:
    send, connections = download(lambda method, url, headers: FakeResponse(url, 307, {'Location': 'http://cdn.example.com:8080/b?X-Amz-Signature=sig'}))
    with pytest.raises(RefusedDestination) as caught:
        send()
    assert str(caught.value) == ('Downloading failed: registry.example.com sent the client to http://cdn.example.com:8080, which is '
                                 'plain HTTP while the registry uses HTTPS; refusing to go there')
    assert not any(url.startswith('http://') for _method, url, _headers in connections.sent)


def test_redirects_are_bounded() -> None:
    send, connections = download(lambda method, url, headers: FakeResponse(url, 302, {'Location': url + 'x'}))
    with pytest.raises(RegistryError, match='more than 5 redirects'):
        send()
    assert len(connections.sent) == 6


def test_a_redirect_to_a_metadata_address_is_refused() -> None:
    send, connections = download(lambda method, url, headers: FakeResponse(url, 307, {'Location': 'https://cdn.example.com/b'}),
                                 addresses=('169.254.169.254',))
    with pytest.raises(RegistryError, match=r'cdn\.example\.com resolves to 169\.254\.169\.254, which is a cloud metadata address'):
        send()
    assert not any('cdn.example.com' in url for _method, url, _headers in connections.sent)


def test_an_unreachable_redirect_target_is_named_without_its_query() -> None:
    def answer(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if url == BLOB_URL:
            return FakeResponse(url, 307, {'Location': 'https://cdn.example.com/b?X-Amz-Signature=sig'})
        raise urllib3.exceptions.NewConnectionError(None, 'Failed to establish a new connection: [Errno 111] Connection refused')
    send, connections = download(answer)
    with pytest.raises(RegistryError) as caught:
        send()
    assert str(caught.value).startswith('Downloading failed: cannot reach registry.example.com after 4 attempts (timeout 2s), '
                                        'last at https://cdn.example.com/b: ')
    assert str(caught.value).endswith('Failed to establish a new connection: [Errno 111] Connection refused')
    assert 'sig' not in str(caught.value)
    assert len(connections.sent) == 8


def test_a_storm_with_a_huge_retry_after_waits_no_longer_than_the_timeout() -> None:
    client, connections, sleeps = make_client(lambda method, url, headers: FakeResponse(url, 429, {'Retry-After': '100000'}), timeout=2.0)
    assert client.sender.send('HEAD', BLOB_URL, {}, None, 'Checking').status == 429
    assert sleeps == [2.0, 2.0, 2.0]
    assert len(connections.sent) == 4


def test_a_step_sent_without_retry_is_sent_once() -> None:
    client, connections, sleeps = make_client(lambda method, url, headers: FakeResponse(url, 503))
    assert client.sender.send('PATCH', BLOB_URL, {}, None, 'Uploading', retry=False).status == 503
    assert len(connections.sent) == 1
    assert sleeps == []


@pytest.mark.parametrize(('error', 'tries'), [
    (RegistryError('HTTP 503', status=503), 4),
    (RegistryError('connection reset'), 4),
    (RegistryError('HTTP 400', status=400), 1),
    (RefusedDestination('plain HTTP'), 1),
    (DeadlineExceeded('too slow'), 1),
])
def test_a_repeated_action_is_tried_again_only_after_a_passing_fault(error: RegistryError, tries: int) -> None:
    client, _connections, sleeps = make_client(lambda method, url, headers: FakeResponse(url, 200))
    calls: list[None] = []

    def fail() -> None:
        calls.append(None)
        raise error
    with pytest.raises(RegistryError) as caught:
        client.sender.repeat(fail)
    assert caught.value is error
    assert len(calls) == tries
    assert len(sleeps) == tries - 1
