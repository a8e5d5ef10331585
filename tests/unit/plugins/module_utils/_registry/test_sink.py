# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""RegistrySink against a scripted registry: mounts, refused mounts, retried uploads, manifests by tag or digest."""

from __future__ import annotations

import contextlib
import io
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.copy import VerifiedBlob
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._registry.sink import RegistrySink
from ansible_collections.wasm.oci.tests.unit.plugins.module_utils._registry.scripted_registry import FakeResponse, basic_registry, make_client

BLOB = b'blob'
DESCRIPTOR = {'mediaType': 'application/octet-stream', 'digest': sha256_digest(BLOB), 'size': len(BLOB)}


def _mounting(status: int) -> t.Callable[[str, str, t.Mapping[str, str]], FakeResponse]:
    def answer(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if method == 'POST' and 'mount=' in url:
            return FakeResponse(url, status, {'Location': '/v2/filters/x/blobs/uploads/session'})
        return FakeResponse(url, 202 if method == 'POST' else 204)
    return basic_registry(answer)


def test_a_blob_in_the_source_repository_is_mounted() -> None:
    client, connections, _sleeps = make_client(_mounting(201))
    assert RegistrySink(client, ['staging/x']).mount_blob(DESCRIPTOR)
    method, url, _headers = connections.sent[-1]
    assert method == 'POST'
    assert 'from=staging%2Fx' in url


def test_a_declined_mount_starts_no_upload_that_stays_open() -> None:
    client, connections, _sleeps = make_client(_mounting(202))
    assert not RegistrySink(client, ['staging/x']).mount_blob(DESCRIPTOR)
    assert connections.sent[-1][0] == 'DELETE'


def test_a_refused_mount_uploads_only_when_the_copy_tried_it_on_its_own() -> None:
    client, _connections, _sleeps = make_client(_mounting(403))
    assert not RegistrySink(client, ['staging/x'], mount_refusal_uploads=True).mount_blob(DESCRIPTOR)
    with pytest.raises(RegistryError, match='HTTP 403'):
        RegistrySink(client, ['staging/x']).mount_blob(DESCRIPTOR)


class _MemorySource:
    reference = 'memory'

    def __init__(self) -> None:
        self.opened = 0

    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.ContextManager[DigestingReader]:
        self.opened += 1
        return contextlib.nullcontext(DigestingReader(io.BytesIO(BLOB), descriptor['digest'], descriptor['size'], what))


def test_a_retried_upload_session_opens_the_blob_again() -> None:
    puts: list[str] = []

    def answer(method: str, url: str, headers: t.Mapping[str, str]) -> FakeResponse:
        if method == 'POST':
            return FakeResponse(url, 202, {'Location': '/v2/filters/x/blobs/uploads/session'})
        puts.append(url)
        return FakeResponse(url, 503 if len(puts) == 1 else 201)
    client, _connections, _sleeps = make_client(basic_registry(answer))
    source = _MemorySource()
    RegistrySink(client).write_blob(DESCRIPTOR, lambda: VerifiedBlob(source, DESCRIPTOR, 'Blob'))  # type: ignore[arg-type]
    assert source.opened == 2
    assert len(puts) == 2


@pytest.mark.parametrize(('tag', 'version'), [('1.0', '1.0'), (None, DESCRIPTOR['digest'])])
def test_a_manifest_is_put_under_its_tag_or_its_digest(tag: str | None, version: str) -> None:
    client, connections, _sleeps = make_client(basic_registry(lambda method, url, headers: FakeResponse(url, 201)))
    RegistrySink(client).put_manifest(dict(DESCRIPTOR, mediaType='application/vnd.oci.image.manifest.v1+json'), b'{}', tag)
    method, url, headers = connections.sent[-1]
    assert (method, url) == ('PUT', f'https://registry.example.com/v2/filters/x/manifests/{version}')
    assert headers['Content-Type'] == 'application/vnd.oci.image.manifest.v1+json'
