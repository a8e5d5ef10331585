# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""A client for the OCI Distribution API of one registry repository: manifests, blobs, mounts and uploads.

Its requests go out through authentication.py, which answers the registry's 401 challenges, and
sender.py, which judges each destination, follows redirects and retries passing faults. Bodies
stream in both directions; an error body is read only up to a small limit, and what the registry
says in it reaches a message only without the credentials.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import ByteStream, sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference
from ansible_collections.wasm.oci.plugins.module_utils._registry.authentication import Authentication
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.wasm.oci.plugins.module_utils._registry.destinations import Destinations, origin_of
from ansible_collections.wasm.oci.plugins.module_utils._registry.safe_text import error_code, printable, redact
from ansible_collections.wasm.oci.plugins.module_utils._registry.sender import BodyOpener, RegistryOptions, Sender
from ansible_collections.wasm.oci.plugins.module_utils._registry.transport import JSON_ERRORS, Reply

MANIFEST_ACCEPT = ', '.join((mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST))
# A blob streams as the body of one request, as skopeo and Docker send it: every chunk is a round trip after which
# the registry picks the upload up again (Distribution took half as long again for a 256 MiB blob in 16 MiB chunks,
# see docs/performance.md). Chunks only for blobs larger than any module, in sizes under common proxy body limits.
CHUNKED_UPLOAD_THRESHOLD = 1024 * 1024 * 1024
_UPLOAD_CHUNK = 64 * 1024 * 1024
_REGISTRY_MESSAGE_LIMIT = 200

# Opens a blob anew for each upload session: read in chunks, or streamed whole as the request body, then closed.
BlobStreamOpener = t.Callable[[], t.ContextManager[ByteStream]]


@dataclasses.dataclass(frozen=True)
class RemoteManifest:
    digest: str
    media_type: str
    size: int


def _header_int(reply: Reply, name: str, default: int = 0) -> int:
    value = reply.headers.get(name, '')
    return int(value) if value.isdigit() else default


class RegistryClient:
    """One registry, one repository at a time; authorization is kept per scope."""

    def __init__(
        self, reference: ImageReference, options: RegistryOptions, credentials: Credentials | None,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.reference = reference
        self.options = options
        self.credentials = credentials
        scheme = 'http' if options.plain_http else 'https'
        self.base_url = f'{scheme}://{reference.api_host}'
        self.sender = Sender(reference.registry, Destinations(origin_of(self.base_url)), options, self._secrets, sleep)
        self.authentication = Authentication(self.sender, credentials)

    def _secrets(self) -> list[str]:
        # The sender's messages keep out what the authentication holds; a method, as the authentication is built after the sender.
        return self.authentication.secrets()

    def request(
        self, method: str, path: str, operation: str, scope: str, *, headers: dict[str, str] | None = None,
        body: BodyOpener | None = None, expected: t.Collection[int] = (200,), retry: bool = True, transfer: int = 0,
    ) -> Reply:
        """Send an authorized request, and fail unless the status is ``expected``.

        ``path`` is a path on the registry or a URL it gave (an upload Location). ``retry=False`` is for steps of
        an upload session, which cannot simply be sent again. ``transfer`` is the size of the body sent or expected.
        """
        # A URL the registry gave stays as it is (whatever its scheme: the destination rules judge it).
        url = urllib.parse.urljoin(self.base_url, path)
        reply = self.authentication.send(method, url, dict(headers or {}), body, operation, scope, retry=retry, transfer=transfer)
        if reply.status not in expected:
            self._raise(reply, operation)
        return reply

    def _raise(self, reply: Reply, operation: str) -> t.NoReturn:
        document = reply.small_json()
        reply.close()
        try:
            first = document['errors'][0]
            code, message = error_code(first.get('code')), str(first.get('message') or '')
        except JSON_ERRORS:
            code, message = None, ''
        message = printable(redact(message, self._secrets()), _REGISTRY_MESSAGE_LIMIT)
        status = reply.status
        text = f'{operation} failed: HTTP {status}'
        if code:
            text += f' {code}'
        if message:
            text += f': {message}'
        if status == 401:
            text += '. Check username and password (or the Docker config.json entry) for ' + self.reference.registry
        elif status == 403 or code == 'DENIED':
            text += f'. The credentials are not allowed to do this on {self.reference.registry}/{self.reference.repository}'
        raise RegistryError(text, status=status, code=code)

    def scope(self, actions: str, repository: str | None = None) -> str:
        return f'repository:{repository or self.reference.repository}:{actions}'

    def _manifest_path(self, version: str) -> str:
        return f'/v2/{self.reference.repository}/manifests/{version}'

    def head_manifest(self, version: str) -> RemoteManifest | None:
        """The manifest ``version`` names, or None when the registry has no such tag or digest."""
        operation = f'Looking up {self.reference.registry}/{self.reference.repository}:{version}'
        reply = self.request('HEAD', self._manifest_path(version), operation, self.scope('pull'),
                             headers={'Accept': MANIFEST_ACCEPT}, expected=(200, 404))
        reply.close()
        if reply.status == 404:
            return None
        digest = reply.headers.get('Docker-Content-Digest')
        if not digest:
            found = self.get_manifest(version)
            return None if found is None else found[0]
        return RemoteManifest(digest, reply.headers.get('Content-Type', '').split(';')[0], _header_int(reply, 'Content-Length'))

    def get_manifest(self, version: str, limit: int = 4 * 1024 * 1024) -> tuple[RemoteManifest, bytes] | None:
        operation = f'Fetching manifest {self.reference.registry}/{self.reference.repository}:{version}'
        with self.request('GET', self._manifest_path(version), operation, self.scope('pull'),
                          headers={'Accept': MANIFEST_ACCEPT}, expected=(200, 404)) as reply:
            if reply.status == 404:
                return None
            data = reply.body(limit + 1).read()
        if len(data) > limit:
            raise RegistryError(f'{operation} failed: the manifest is larger than {limit} bytes')
        digest = sha256_digest(data)
        if version.startswith('sha256:') and digest != version:
            raise RegistryError(f'{operation} failed: the registry sent a manifest with digest {digest}')
        return RemoteManifest(digest, reply.headers.get('Content-Type', '').split(';')[0], len(data)), data

    def put_manifest(self, version: str, media_type: str, data: bytes) -> None:
        operation = f'Pushing manifest {self.reference.registry}/{self.reference.repository}:{version}'
        try:
            self.request('PUT', self._manifest_path(version), operation, self.scope('pull,push'),
                         headers={'Content-Type': media_type}, body=lambda: data, expected=(201, 200),
                         transfer=len(data)).close()
        except RegistryError as exc:
            refused_type = exc.status in (405, 415) or exc.code in ('MANIFEST_INVALID', 'UNSUPPORTED')
            if refused_type and mt.WASM_CONFIG.encode() in data:
                raise RegistryError(f'{exc}. This registry may refuse the custom media types of the oci variant: '
                                    'build the image with variant: compat', status=exc.status, code=exc.code) from None
            raise

    def open_blob(self, digest: str, size: int, operation: str) -> Reply:
        """The response of a blob download, once it announced no other length than ``size``."""
        reply = self.request('GET', f'/v2/{self.reference.repository}/blobs/{digest}', operation, self.scope('pull'),
                             transfer=size)
        announced = _header_int(reply, 'Content-Length', size)
        if announced != size:
            reply.close()
            raise RegistryError(f'{operation} failed: the registry announces {announced} bytes for blob {digest}, '
                                f'whose descriptor declares {size}')
        return reply

    def has_blob(self, digest: str, size: int) -> bool:
        operation = f'Checking blob {digest} in {self.reference.registry}/{self.reference.repository}'
        reply = self.request('HEAD', f'/v2/{self.reference.repository}/blobs/{digest}', operation,
                             self.scope('pull,push'), expected=(200, 404))
        reply.close()
        return reply.status == 200 and _header_int(reply, 'Content-Length', size) == size

    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Ask the registry to link a blob from another of its repositories; False when it declines."""
        operation = f'Mounting blob {digest} from {from_repository} into {self.reference.repository}'
        query = urllib.parse.urlencode({'mount': digest, 'from': from_repository})
        scope = f'{self.scope("pull,push")} {self.scope("pull", from_repository)}'
        reply = self.request('POST', f'/v2/{self.reference.repository}/blobs/uploads/?{query}', operation, scope,
                             expected=(201, 202))
        reply.close()
        if reply.status == 202:
            # The registry started a normal upload instead; nothing will use it.
            self.request('DELETE', self._location(reply, operation), operation, scope,
                         expected=(200, 202, 204, 404)).close()
        return reply.status == 201

    def upload_blob(self, digest: str, size: int, open_stream: BlobStreamOpener) -> None:
        """Upload a blob; a transient failure starts the whole upload session again (bounded)."""
        self.sender.repeat(lambda: self._upload_session(digest, size, open_stream))

    def _upload_session(self, digest: str, size: int, open_stream: BlobStreamOpener) -> None:
        """One upload session: a streamed PUT, or PATCH chunks then a PUT when the blob is large.

        Each step is sent once: upload_blob retries whole sessions.
        """
        operation = f'Uploading blob {digest} to {self.reference.registry}/{self.reference.repository}'
        scope = self.scope('pull,push')
        started = self.request('POST', f'/v2/{self.reference.repository}/blobs/uploads/', operation, scope,
                               expected=(202,), retry=False)
        started.close()
        location = self._location(started, operation)
        if size > CHUNKED_UPLOAD_THRESHOLD:
            location = self._upload_chunks(location, size, open_stream, operation, scope)
            body: BodyOpener | None = None
        else:
            body = open_stream
        separator = '&' if '?' in location else '?'
        headers = {'Content-Type': 'application/octet-stream'}
        if body is not None:
            headers['Content-Length'] = str(size)
        self.request('PUT', f'{location}{separator}digest={urllib.parse.quote(digest)}', operation, scope,
                     headers=headers, body=body, expected=(201, 204), retry=False,
                     transfer=size if body is not None else 0).close()

    @staticmethod
    def _location(reply: Reply, operation: str) -> str:
        location = reply.headers.get('Location')
        if not location:
            raise RegistryError(f'{operation} failed: the registry started an upload without a Location')
        return urllib.parse.urljoin(reply.url, location)

    def _upload_chunks(self, location: str, size: int, open_stream: BlobStreamOpener, operation: str,
                       scope: str) -> str:
        with open_stream() as stream:
            offset = 0
            while offset < size:
                # Streamed as it is sent, as a whole blob is: reading a chunk into memory first would leave the
                # connection idle meanwhile (and hold the chunk).
                chunk = _ChunkBody(stream, min(_UPLOAD_CHUNK, size - offset))
                reply = self.request(
                    'PATCH', location, operation, scope, body=chunk.itself, expected=(202,), retry=False,
                    headers={'Content-Type': 'application/octet-stream', 'Content-Length': str(len(chunk)),
                             'Content-Range': f'{offset}-{offset + len(chunk) - 1}'},
                    transfer=len(chunk),
                )
                reply.close()
                if chunk.left:
                    # The blob's fault, not the registry's: no new upload session would change it.
                    missing = size - offset - len(chunk) + chunk.left
                    raise ImageFormatError(f'{operation} failed: the blob ended {missing} bytes before its declared size')
                location = self._location(reply, operation)
                offset += len(chunk)
        return location


class _ChunkBody:
    """The next ``size`` bytes of ``stream`` as a request body, read while it is sent.

    It has no ``close``, so the request that sent it leaves ``stream`` open for the next chunk. A chunk is sent once
    (upload sessions are retried whole).
    """

    def __init__(self, stream: ByteStream, size: int) -> None:
        self._stream = stream
        self._size = size
        self.left = size

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b''
        data = self._stream.read(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def itself(self) -> _ChunkBody:
        """The request body opener: this chunk, the one time it is sent."""
        return self

    def __len__(self) -> int:
        return self._size
