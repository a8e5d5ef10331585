# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Answering 401 challenges: which requests get credentials, which realms are asked, what a token service may send."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.transport import Reply
from ansible_collections.wasm.oci.tests.unit.plugins.module_utils._registry.scripted_registry import (
    BASIC,
    BLOB_URL,
    MANIFEST_URL,
    PASSWORD,
    PULL_SCOPE,
    REGISTRY,
    Answer,
    FakeResponse,
    basic_registry,
    good_token,
    make_client,
    token_registry,
)

OPERATION = 'Looking up registry.example.com/filters/x:1'
PUSH_SCOPE = 'repository:filters/x:pull,push'


def look_up(client: RegistryClient, scope: str = PULL_SCOPE) -> Reply:
    return client.authentication.send('HEAD', MANIFEST_URL, {}, None, OPERATION, scope)


def bearer_challenge(realm: str) -> Answer:
    def answer(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        return FakeResponse(url, 401, {'WWW-Authenticate': f'Bearer realm="{realm}",service="s"'})
    return answer


def test_basic_credentials_once_challenged_go_up_front_in_every_scope() -> None:
    client, connections, _sleeps = make_client(basic_registry(lambda method, url, headers: FakeResponse(url, 404)))
    assert look_up(client).status == 404
    assert look_up(client, PUSH_SCOPE).status == 404
    assert [headers.get('Authorization') for _method, _url, headers in connections.sent] == [None, BASIC, BASIC]


def test_a_token_is_kept_for_its_scope_only() -> None:
    client, connections, _sleeps = make_client(token_registry('https://auth.example.com/token', good_token))
    look_up(client)
    look_up(client)
    look_up(client, PUSH_SCOPE)
    token_requests = [url for _method, url, _headers in connections.sent if url.startswith('https://auth.example.com')]
    assert [url.split('scope=')[1] for url in token_requests] == ['repository%3Afilters%2Fx%3Apull', 'repository%3Afilters%2Fx%3Apull%2Cpush']


def test_a_foreign_401_is_not_answered_with_credentials() -> None:
    def then(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if url.startswith(REGISTRY):
            return FakeResponse(url, 307, {'Location': 'https://cdn.example.com/b'})
        return FakeResponse(url, 401, {'WWW-Authenticate': 'Basic realm="cdn"'})
    client, connections, _sleeps = make_client(basic_registry(then))
    assert client.authentication.send('GET', BLOB_URL, {}, None, 'Downloading', PULL_SCOPE).status == 401
    assert [headers.get('Authorization') for _method, url, headers in connections.sent if 'cdn' in url] == [None]


@pytest.mark.parametrize(('realm', 'phrase'), [
    ('https://metadata.google.internal/computeMetadata/v1/token', 'metadata.google.internal is a cloud metadata service'),
    ('https://169.254.169.254/token', '169.254.169.254 is a cloud metadata address'),
    ('https://[fe80::1]/token', 'fe80::1 is a link-local address'),
    ('http://auth.example.com/token', 'plain HTTP while the registry uses HTTPS'),
    ('file:///etc/passwd', "scheme 'file'"),
])
@pytest.mark.parametrize('credentials', [True, False])
def test_realms_that_may_not_be_asked_are_refused_before_any_request(realm: str, phrase: str, credentials: bool) -> None:
    client, connections, _sleeps = make_client(bearer_challenge(realm), credentials=credentials)
    with pytest.raises(RegistryError, match='asks for a token from') as caught:
        look_up(client)
    assert phrase in str(caught.value)
    assert len(connections.sent) == 1, 'only the registry was asked'


def test_a_realm_resolving_to_a_link_local_address_is_refused() -> None:
    client, connections, _sleeps = make_client(bearer_challenge('https://auth.example.com/token'), addresses=('fe80::1%2',))
    with pytest.raises(RegistryError, match=r'auth\.example\.com resolves to fe80::1%2, which is a link-local address'):
        look_up(client)
    assert len(connections.sent) == 1


@pytest.mark.parametrize(('realm', 'authorization'), [
    ('https://registry.example.com/token', BASIC),
    ('https://registry.example.com:5001/auth', BASIC),
    ('https://auth.example.com/token', BASIC),
    ('https://tokens.example.net/token', None),
])
def test_credentials_go_to_realms_on_the_registry_host_or_its_siblings_only(realm: str, authorization: str | None) -> None:
    client, connections, _sleeps = make_client(token_registry(realm, good_token))
    assert look_up(client).status == 404
    token_requests = [headers for _method, url, headers in connections.sent if url.startswith(realm)]
    assert [headers.get('Authorization') for headers in token_requests] == [authorization]


def test_a_token_service_error_is_reported_by_status_and_code_only() -> None:
    def refuse(url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        quoted = f'{headers.get("Authorization")} {PASSWORD} is wrong'
        return FakeResponse(url, 401, body=json.dumps({'errors': [{'code': 'UNAUTHORIZED', 'message': quoted}]}).encode())
    client, _connections, _sleeps = make_client(token_registry('https://auth.example.com/token', refuse))
    with pytest.raises(RegistryError) as caught:
        look_up(client)
    assert str(caught.value) == (f'{OPERATION} failed: the token service at https://auth.example.com '
                                 'answered HTTP 401 UNAUTHORIZED. Check username and password.')


def test_a_huge_token_answer_is_read_only_to_the_limit() -> None:
    responses: list[FakeResponse] = []

    def huge(url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        response = FakeResponse(url, 200, body=b'{"token": "' + b'x' * (10 * 1024 * 1024))
        responses.append(response)
        return response
    client, _connections, _sleeps = make_client(token_registry('https://auth.example.com/token', huge))
    with pytest.raises(RegistryError, match='sent more than 65536 bytes'):
        look_up(client)
    assert responses[0].read_total == 65537


def test_a_token_with_crlf_is_refused_without_quoting_it() -> None:
    def crlf(url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        return FakeResponse(url, 200, body=json.dumps({'token': 'evil-token\r\nX-Injected: evil-token'}).encode())
    client, connections, _sleeps = make_client(token_registry('https://auth.example.com/token', crlf))
    with pytest.raises(RegistryError, match='characters an HTTP header cannot carry') as caught:
        look_up(client)
    assert 'evil' not in str(caught.value)
    assert len(connections.sent) == 2, 'the token is never sent'


def test_unsupported_authentication_is_named_without_quoting_the_challenge() -> None:
    client, _connections, _sleeps = make_client(lambda method, url, headers: FakeResponse(
        url, 401, {'WWW-Authenticate': 'Negotiate\x00 secret-stuff realm="x"'}))
    with pytest.raises(RegistryError) as caught:
        look_up(client)
    assert str(caught.value).endswith("asks for unsupported authentication 'negotiate'")


def test_the_secrets_are_the_password_and_every_authorization_sent() -> None:
    client, _connections, _sleeps = make_client(token_registry('https://auth.example.com/token', good_token))
    look_up(client)
    assert client.authentication.secrets() == ['good-token', PASSWORD, BASIC.split(' ', 1)[1]]
