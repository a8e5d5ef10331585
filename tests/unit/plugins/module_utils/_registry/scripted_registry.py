# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""A registry client whose connections answer from a script: nothing is resolved or connected to.

Shared by the tests of the client's layers (sender, authentication, Distribution API).
"""

from __future__ import annotations

import base64
import io
import json
import typing as t

from urllib3 import HTTPHeaderDict

from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient, RegistryOptions
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.wasm.oci.plugins.module_utils._registry.destinations import Destinations

REGISTRY = 'https://registry.example.com'
PASSWORD = 'pa55-w0rd-secret'
BASIC = 'Basic ' + base64.b64encode(f'user:{PASSWORD}'.encode()).decode()
DIGEST = 'sha256:' + 'a' * 64
BLOB_URL = f'{REGISTRY}/v2/filters/x/blobs/{DIGEST}'
MANIFEST_URL = f'{REGISTRY}/v2/filters/x/manifests/1'
PULL_SCOPE = 'repository:filters/x:pull'


class FakeResponse:
    """A urllib3 response, its body streamed from bytes: what was read of it is counted."""

    def __init__(self, url: str, status: int, headers: dict[str, str] | None = None, body: bytes = b'') -> None:
        self.url = url
        self.status = status
        self.headers = HTTPHeaderDict(headers or {})
        self._stream = io.BytesIO(body)
        self.read_total = 0
        self.length_remaining: int | None = None

    def read(self, amt: int, decode_content: bool = True) -> bytes:
        chunk = self._stream.read(amt)
        self.read_total += len(chunk)
        return chunk

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


Answer = t.Callable[[str, str, t.Mapping[str, str]], FakeResponse]


class FakeConnections:
    """Answers each request with ``answer(method, url, headers)`` and records what was sent."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def send(self, deadline: t.Any, method: str, url: str, headers: dict[str, str], body: t.Any, timeout: float) -> FakeResponse:
        self.sent.append((method, url, dict(headers)))
        return self.answer(method, url, headers)


def make_client(answer: Answer, credentials: bool = True, addresses: tuple[str, ...] = ('203.0.113.7',),
                timeout: float = 2.0) -> tuple[RegistryClient, FakeConnections, list[float]]:
    """A client of registry.example.com/filters/x whose host names resolve to ``addresses``; its waits are recorded."""
    client = RegistryClient(parse_reference('registry.example.com/filters/x:1'), RegistryOptions(timeout=timeout),
                            Credentials('user', PASSWORD, 'test') if credentials else None)
    sender = client.sender
    sender.destinations = Destinations(sender.destinations.registry, lambda host, port: list(addresses))
    connections = FakeConnections(answer)
    sender.connections = connections  # type: ignore[assignment]
    sleeps: list[float] = []
    sender.sleep = sleeps.append
    return client, connections, sleeps


def basic_registry(then: Answer) -> Answer:
    """A registry that challenges for Basic credentials and hands authorised requests to ``then``."""
    def answer(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if url.startswith(REGISTRY) and headers.get('Authorization') != BASIC:
            return FakeResponse(url, 401, {'WWW-Authenticate': 'Basic realm="r"'})
        return then(method, url, headers)
    return answer


def token_registry(realm: str, token_answer: t.Callable[[str, t.Mapping[str, str]], FakeResponse]) -> Answer:
    """A registry that wants ``Bearer good-token`` (and then has nothing: 404); ``token_answer`` plays its realm."""
    def answer(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if url.startswith(realm):
            return token_answer(url, headers)
        if headers.get('Authorization') == 'Bearer good-token':
            return FakeResponse(url, 404)
        return FakeResponse(url, 401, {'WWW-Authenticate': f'Bearer realm="{realm}",service="s"'})
    return answer


def good_token(url: str, headers: t.Mapping[str, str]) -> FakeResponse:
    return FakeResponse(url, 200, body=json.dumps({'token': 'good-token'}).encode())
