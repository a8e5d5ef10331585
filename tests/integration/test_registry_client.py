"""The registry client against real Distribution instances, at the Python level.

What the module-level targets cannot easily show: chunked uploads, the token scope
upgrade, retries and their limits, and credentials from Docker's config.json.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pathlib
import socket
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry import client as client_module
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import connect, registry_argument_spec

from harness.registries import Registry
from harness.tunnel_proxy import TunnelProxy


def _params(registry: Registry, **overrides: t.Any) -> dict[str, t.Any]:
    params = {name: spec.get('default') for name, spec in registry_argument_spec().items()}
    params.update(plain_http=registry.plain_http, username=registry.username, password=registry.password,
                  ca_path=str(registry.ca_path) if registry.ca_path else None, timeout=10.0)
    params.update(overrides)
    return params


def _no_helpers(args: list[str], data: str) -> tuple[int, str, str]:
    raise AssertionError(f'no credential helper should run, but {args} did')


def _client(registry: Registry, repository_tag: str, sleeps: list[float] | None = None, **overrides: t.Any) -> RegistryClient:
    client = connect(parse_reference(registry.ref(repository_tag)), _params(registry, **overrides), _no_helpers)
    if sleeps is not None:
        client.sender.sleep = sleeps.append
    return client


def _upload(client: RegistryClient, data: bytes) -> str:
    digest = 'sha256:' + hashlib.sha256(data).hexdigest()
    client.upload_blob(digest, len(data), lambda: io.BytesIO(data))
    return digest


def test_large_blobs_are_uploaded_in_chunks(registry_plain: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, 'CHUNKED_UPLOAD_THRESHOLD', 1000)
    monkeypatch.setattr(client_module, '_UPLOAD_CHUNK', 1024)
    client = _client(registry_plain, 'client/chunked:1')
    data = bytes(range(256)) * 20
    digest = _upload(client, data)
    assert client.has_blob(digest, len(data))
    with client.open_blob(digest, len(data), 'test download') as reply:
        assert reply.body(len(data) + 1).read() == data


def test_requests_share_one_connection(registry_tls: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer with no body left to read (a HEAD, an upload step, a manifest read to its end) hands its connection
    back, so the steps of a push make one TLS handshake, not one each."""
    client = _client(registry_tls, 'client/one-connection:1')
    port = int(registry_tls.host.rsplit(':', 1)[1])
    connections: list[t.Any] = []
    real_connect = socket.socket.connect

    def counted_connect(sock: socket.socket, address: t.Any) -> None:
        connections.append(address)
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, 'connect', counted_connect)
    config = _upload(client, b'{}')
    layer = _upload(client, b'a layer')
    assert client.has_blob(layer, len(b'a layer'))
    assert not client.has_blob('sha256:' + '0' * 64, 1)
    manifest = json.dumps({
        'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': config, 'size': 2},
        'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar', 'digest': layer, 'size': len(b'a layer')}],
    }).encode()
    client.put_manifest('1', 'application/vnd.oci.image.manifest.v1+json', manifest)
    fetched = client.get_manifest('1')
    assert fetched is not None
    assert fetched[1] == manifest
    assert client.head_manifest('1') is not None
    assert [address[1] for address in connections] == [port]


def test_an_https_registry_is_reached_through_the_proxy_the_environment_names(registry_tls: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a tunnel (CONNECT) that carries the proxy's own credentials, never the registry's; the certificate is
    still checked against ca_path, end to end."""
    proxy = TunnelProxy()
    try:
        for name in ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.setenv('HTTPS_PROXY', f'http://proxy-user:proxy%20secret@127.0.0.1:{proxy.port}')
        client = _client(registry_tls, 'client/proxied:1')
        layer = _upload(client, b'through the proxy')
        assert client.has_blob(layer, len(b'through the proxy'))
        with pytest.raises(RegistryError, match='Set ca_path'):
            _client(registry_tls, 'client/proxied:1', ca_path=None).has_blob(layer, len(b'through the proxy'))
    finally:
        proxy.close()
    assert proxy.connects, 'no request went through the proxy'
    for line, headers in proxy.connects:
        assert line.startswith(f'CONNECT {registry_tls.host} HTTP/')
        assert headers['proxy-authorization'] == 'Basic ' + base64.b64encode(b'proxy-user:proxy secret').decode()
        assert 'authorization' not in headers


def test_token_scope_is_upgraded_from_pull_to_push(registry_token: Registry, token_service: t.Any) -> None:
    token_service.clear_grants()
    client = _client(registry_token, 'client/scopes:1')
    assert client.head_manifest('1') is None
    _upload(client, b'scoped blob')
    requested = [grant.requested for grant in token_service.grants]
    assert requested == [('repository:client/scopes:pull',), ('repository:client/scopes:pull,push',)]


def test_a_reader_is_denied_a_push_with_a_clear_message(registry_token_reader: Registry) -> None:
    client = _client(registry_token_reader, 'client/denied:1')
    with pytest.raises(RegistryError) as caught:
        _upload(client, b'not allowed')
    assert caught.value.status == 401 or caught.value.code == 'DENIED'
    assert 'Uploading blob' in str(caught.value)


def test_wrong_password_fails_at_once(registry_basic: Registry) -> None:
    sleeps: list[float] = []
    client = _client(registry_basic, 'client/wrong:1', sleeps, password='wrong')
    with pytest.raises(RegistryError, match=r'HTTP 401.*Check username and password'):
        client.head_manifest('1')
    assert sleeps == []


def test_5xx_is_retried_honouring_retry_after(faulty_front: t.Callable[..., t.Any]) -> None:
    front = faulty_front(2, match=r'^HEAD /v2/', retry_after=3)
    sleeps: list[float] = []
    client = _client(front.registry, 'client/retried:1', sleeps)
    assert client.head_manifest('1') is None
    assert sleeps == [3.0, 3.0]
    assert front.failures == 2


def test_retries_are_bounded(faulty_front: t.Callable[..., t.Any]) -> None:
    front = faulty_front(100, match=r'^HEAD /v2/')
    sleeps: list[float] = []
    client = _client(front.registry, 'client/broken:1', sleeps)
    with pytest.raises(RegistryError, match=r'Looking up .*client/broken:1 failed: HTTP 503'):
        client.head_manifest('1')
    assert len(sleeps) == 3
    assert front.failures == 4


def test_registry_down_fails_after_bounded_attempts(registry_down: Registry) -> None:
    sleeps: list[float] = []
    client = _client(registry_down, 'client/down:1', sleeps, timeout=1.0)
    with pytest.raises(RegistryError, match=r'cannot reach .* after 4 attempts \(timeout 1s\)'):
        client.head_manifest('1')
    assert len(sleeps) == 3


def test_tls_without_the_ca_fails_with_a_hint(registry_tls: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    client = _client(registry_tls, 'client/tls:1', ca_path=None)
    with pytest.raises(RegistryError, match='Set ca_path'):
        client.head_manifest('1')


def test_credentials_come_from_docker_config(registry_basic: Registry, tmp_path: pathlib.Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pair = f'{registry_basic.username}:{registry_basic.password}'.encode()
    (tmp_path / 'config.json').write_text(json.dumps({'auths': {registry_basic.host: {'auth': base64.b64encode(pair).decode()}}}))
    monkeypatch.setenv('DOCKER_CONFIG', str(tmp_path))
    client = _client(registry_basic, 'client/config:1', username=None, password=None)
    assert client.credentials is not None
    assert client.credentials.source == str(tmp_path / 'config.json')
    assert client.head_manifest('1') is None


def test_a_failed_upload_starts_a_new_session(faulty_front: t.Callable[..., t.Any]) -> None:
    front = faulty_front(1, match=r'^PUT /v2/.*/blobs/uploads/')
    sleeps: list[float] = []
    client = _client(front.registry, 'client/reupload:1', sleeps)
    digest = _upload(client, b'uploaded on the second session')
    assert client.has_blob(digest, len(b'uploaded on the second session'))
    assert front.failures == 1
    assert len(sleeps) == 1
    assert [method for method, path, status in front.log].count('POST') == 2
