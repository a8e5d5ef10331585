# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""A client for the OCI Distribution API, on requests.

Every request has a timeout and passes ``verify`` itself (a session-level setting is
silently overridden by REQUESTS_CA_BUNDLE). Connection errors, 429 and 5xx are
retried a bounded number of times with backoff, honouring Retry-After; 4xx never is.
Bodies stream in both directions; nothing holds a whole blob in memory.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._common.dependencies import requests, urllib3
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import Credentials

MANIFEST_ACCEPT = ', '.join((mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST))
CHUNKED_UPLOAD_THRESHOLD = 64 * 1024 * 1024
_UPLOAD_CHUNK = 16 * 1024 * 1024
_MAX_ATTEMPTS = 4
_MAX_BACKOFF = 10.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclasses.dataclass(frozen=True)
class RegistryOptions:
    validate_certs: bool = True
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    plain_http: bool = False
    timeout: float = 30.0


@dataclasses.dataclass(frozen=True)
class RemoteManifest:
    digest: str
    media_type: str
    size: int


class BrokenBodyGuard:
    """Read a response body, reporting a connection that breaks mid-body as a RegistryError."""

    def __init__(self, raw: t.Any, operation: str) -> None:
        self._raw = raw
        self._operation = operation

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size, decode_content=True)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise RegistryError(f'{self._operation} failed: the connection broke while reading the body: {exc}') from None


def _header_int(response: t.Any, name: str, default: int = 0) -> int:
    value = response.headers.get(name, '')
    return int(value) if value.isdigit() else default


def _oci_error(response: t.Any) -> tuple[str | None, str]:
    """The registry's error code and message from an OCI error body, if it sent one."""
    try:
        errors = response.json().get('errors') or []
        first = errors[0]
        return first.get('code'), first.get('message') or ''
    except (ValueError, AttributeError, IndexError, TypeError):
        return None, (response.text or '')[:200].strip()


class RegistryClient:
    """One registry, one repository at a time; tokens are cached per scope."""

    def __init__(
        self, reference: ImageReference, options: RegistryOptions, credentials: Credentials | None,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.reference = reference
        self.options = options
        self.credentials = credentials
        scheme = 'http' if options.plain_http else 'https'
        self.base_url = f'{scheme}://{reference.api_host}'
        self.session = requests.Session()
        self.verify: bool | str = options.ca_path if options.validate_certs and options.ca_path else options.validate_certs
        self.cert = (options.client_cert, options.client_key) if options.client_cert else None
        self._sleep = sleep
        self._authorization: dict[str, str] = {}
        # Basic credentials hold for every scope, so once challenged they are sent up front.
        self._basic_authorization: str | None = None

    # -- transport ---------------------------------------------------------------

    def _send(self, method: str, url: str, headers: dict[str, str], body: t.Callable[[], t.Any] | None, stream: bool) -> t.Any:
        data = body() if body else None
        try:
            return self.session.request(
                method, url, headers=headers, data=data, stream=stream,
                timeout=self.options.timeout, verify=self.verify, cert=self.cert, allow_redirects=True,
            )
        finally:
            if hasattr(data, 'close'):
                data.close()

    def _send_with_retries(self, method: str, url: str, headers: dict[str, str], body: t.Callable[[], t.Any] | None,
                           stream: bool, operation: str, attempts: int = _MAX_ATTEMPTS) -> t.Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, url, headers, body, stream)
            except requests.exceptions.SSLError as exc:
                raise RegistryError(
                    f'{operation} failed: TLS error talking to {self.reference.registry}: {exc}. Set ca_path to the '
                    'CA that signed the registry certificate, or plain_http for a registry without TLS'
                ) from None
            except requests.exceptions.ConnectTimeout:
                # A host that does not answer at all will not answer a retry either.
                raise RegistryError(f'{operation} failed: {self.reference.registry} did not answer within '
                                    f'{self.options.timeout:g}s') from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if attempt >= attempts:
                    raise RegistryError(
                        f'{operation} failed: cannot reach {self.reference.registry} after {attempt} attempts '
                        f'(timeout {self.options.timeout:g}s): {exc}'
                    ) from None
                self._sleep(min(0.5 * 2 ** attempt, _MAX_BACKOFF))
                continue
            except (requests.exceptions.RequestException, OSError) as exc:
                # For example a certificate file requests cannot load.
                raise RegistryError(f'{operation} failed: {exc}') from None
            if response.status_code not in _RETRY_STATUSES or attempt >= attempts:
                return response
            response.close()
            self._sleep(self._retry_delay(response, attempt))

    @staticmethod
    def _retry_delay(response: t.Any, attempt: int) -> float:
        retry_after = response.headers.get('Retry-After', '')
        if retry_after.isdigit():
            return min(float(retry_after), _MAX_BACKOFF)
        return min(0.5 * 2 ** attempt, _MAX_BACKOFF)

    def request(
        self, method: str, path: str, operation: str, scope: str, *, headers: dict[str, str] | None = None,
        body: t.Callable[[], t.Any] | None = None, stream: bool = False, expected: t.Collection[int] = (200,),
        retry: bool = True,
    ) -> t.Any:
        """Send a request, authenticating on a 401 challenge, and fail unless the status is ``expected``.

        ``retry=False`` is for steps of an upload session, which cannot simply be sent again.
        """
        attempts = _MAX_ATTEMPTS if retry else 1
        url = path if path.startswith(('http://', 'https://')) else self.base_url + path
        headers = dict(headers or {})
        authorization = self._authorization.get(scope) or self._basic_authorization
        if authorization:
            headers['Authorization'] = authorization
        response = self._send_with_retries(method, url, headers, body, stream, operation, attempts)
        if response.status_code == 401:
            # No credentials sent yet, or a cached token expired: answer the challenge once.
            challenge = response.headers.get('WWW-Authenticate', '')
            response.close()
            headers['Authorization'] = self._authenticate(challenge, scope, operation)
            response = self._send_with_retries(method, url, headers, body, stream, operation, attempts)
        if response.status_code not in expected:
            self._raise(response, operation)
        return response

    def _raise(self, response: t.Any, operation: str) -> t.NoReturn:
        code, message = _oci_error(response)
        response.close()
        status = response.status_code
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

    # -- authentication ------------------------------------------------------------

    def _authenticate(self, challenge: str, scope: str, operation: str) -> str:
        scheme = challenge.split(' ', 1)[0].lower()
        if scheme == 'basic':
            if not self.credentials:
                raise RegistryError(f'{operation} failed: {self.reference.registry} requires a username and password')
            authorization = self._basic_authorization = self._basic(self.credentials)
        elif scheme == 'bearer':
            authorization = 'Bearer ' + self._fetch_token(dict(_CHALLENGE_PARAM.findall(challenge)), scope, operation)
        else:
            raise RegistryError(f'{operation} failed: {self.reference.registry} asks for unsupported authentication {challenge!r}')
        self._authorization[scope] = authorization
        return authorization

    @staticmethod
    def _basic(credentials: Credentials) -> str:
        pair = f'{credentials.username}:{credentials.password}'.encode('utf-8')
        return 'Basic ' + base64.b64encode(pair).decode('ascii')

    def _fetch_token(self, challenge: dict[str, str], scope: str, operation: str) -> str:
        realm = challenge.get('realm')
        if not realm:
            raise RegistryError(f'{operation} failed: {self.reference.registry} sent a bearer challenge without a realm')
        query = [('scope', item) for item in scope.split(' ') if item]
        if challenge.get('service'):
            query.insert(0, ('service', challenge['service']))
        headers = {}
        if self.credentials:
            if not realm.startswith('https://') and not self.options.plain_http:
                raise RegistryError(f'{operation} failed: {self.reference.registry} asks for credentials to be sent to '
                                    f'{realm}, which is not HTTPS; refusing to send the password in clear text')
            headers['Authorization'] = self._basic(self.credentials)
        url = realm + ('&' if '?' in realm else '?') + urllib.parse.urlencode(query)
        response = self._send_with_retries('GET', url, headers, None, False, f'{operation} (token from {realm})')
        if response.status_code != 200:
            _code, message = _oci_error(response)
            hint = ' Check username and password.' if response.status_code in (401, 403) else ''
            raise RegistryError(
                f'{operation} failed: the token service {realm} answered HTTP {response.status_code}: {message}.{hint}',
                status=response.status_code,
            )
        try:
            answer = response.json()
            return answer.get('token') or answer['access_token']
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f'{operation} failed: the token service {realm} sent no token') from None

    # -- Distribution API ------------------------------------------------------------

    def scope(self, actions: str, repository: str | None = None) -> str:
        return f'repository:{repository or self.reference.repository}:{actions}'

    def _manifest_path(self, version: str) -> str:
        return f'/v2/{self.reference.repository}/manifests/{version}'

    def head_manifest(self, version: str) -> RemoteManifest | None:
        """The manifest ``version`` names, or None when the registry has no such tag or digest."""
        operation = f'Looking up {self.reference.registry}/{self.reference.repository}:{version}'
        response = self.request('HEAD', self._manifest_path(version), operation, self.scope('pull'),
                                headers={'Accept': MANIFEST_ACCEPT}, expected=(200, 404))
        response.close()
        if response.status_code == 404:
            return None
        digest = response.headers.get('Docker-Content-Digest')
        if not digest:
            found = self.get_manifest(version)
            return None if found is None else found[0]
        return RemoteManifest(digest, response.headers.get('Content-Type', '').split(';')[0],
                              _header_int(response, 'Content-Length'))

    def get_manifest(self, version: str, limit: int = 4 * 1024 * 1024) -> tuple[RemoteManifest, bytes] | None:
        operation = f'Fetching manifest {self.reference.registry}/{self.reference.repository}:{version}'
        response = self.request('GET', self._manifest_path(version), operation, self.scope('pull'),
                                headers={'Accept': MANIFEST_ACCEPT}, stream=True, expected=(200, 404))
        with response:
            if response.status_code == 404:
                return None
            data = BrokenBodyGuard(response.raw, operation).read(limit + 1)
        if len(data) > limit:
            raise RegistryError(f'{operation} failed: the manifest is larger than {limit} bytes')
        digest = sha256_digest(data)
        if version.startswith('sha256:') and digest != version:
            raise RegistryError(f'{operation} failed: the registry sent a manifest with digest {digest}')
        return RemoteManifest(digest, response.headers.get('Content-Type', '').split(';')[0], len(data)), data

    def put_manifest(self, version: str, media_type: str, data: bytes) -> None:
        operation = f'Pushing manifest {self.reference.registry}/{self.reference.repository}:{version}'
        try:
            self.request('PUT', self._manifest_path(version), operation, self.scope('pull,push'),
                         headers={'Content-Type': media_type}, body=lambda: data, expected=(201, 200))
        except RegistryError as exc:
            refused_type = exc.status in (405, 415) or exc.code in ('MANIFEST_INVALID', 'UNSUPPORTED')
            if refused_type and mt.WASM_CONFIG.encode() in data:
                raise RegistryError(f'{exc}. This registry may refuse the custom media types of the oci variant: '
                                    'build the image with variant: compat', status=exc.status, code=exc.code) from None
            raise

    def open_blob(self, digest: str, operation: str) -> t.Any:
        return self.request('GET', f'/v2/{self.reference.repository}/blobs/{digest}', operation, self.scope('pull'),
                            stream=True)

    def has_blob(self, digest: str, size: int) -> bool:
        operation = f'Checking blob {digest} in {self.reference.registry}/{self.reference.repository}'
        response = self.request('HEAD', f'/v2/{self.reference.repository}/blobs/{digest}', operation,
                                self.scope('pull,push'), expected=(200, 404))
        response.close()
        return response.status_code == 200 and _header_int(response, 'Content-Length', size) == size

    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Ask the registry to link a blob from another of its repositories; False when it declines."""
        operation = f'Mounting blob {digest} from {from_repository} into {self.reference.repository}'
        query = urllib.parse.urlencode({'mount': digest, 'from': from_repository})
        scope = f'{self.scope("pull,push")} {self.scope("pull", from_repository)}'
        response = self.request('POST', f'/v2/{self.reference.repository}/blobs/uploads/?{query}', operation, scope,
                                expected=(201, 202))
        response.close()
        if response.status_code == 202:
            # The registry started a normal upload instead; nothing will use it.
            self.request('DELETE', self._location(response, operation), operation, scope,
                         expected=(200, 202, 204, 404)).close()
        return response.status_code == 201

    def upload_blob(self, digest: str, size: int, open_stream: t.Callable[[], t.BinaryIO]) -> None:
        """Upload a blob; a transient failure starts the whole upload session again (bounded)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                self._upload_session(digest, size, open_stream)
                return
            except RegistryError as exc:
                if attempt >= _MAX_ATTEMPTS or (exc.status is not None and exc.status not in _RETRY_STATUSES):
                    raise
                self._sleep(min(0.5 * 2 ** attempt, _MAX_BACKOFF))

    def _upload_session(self, digest: str, size: int, open_stream: t.Callable[[], t.BinaryIO]) -> None:
        """One upload session: a streamed PUT, or PATCH chunks then a PUT when the blob is large."""
        operation = f'Uploading blob {digest} to {self.reference.registry}/{self.reference.repository}'
        scope = self.scope('pull,push')
        started = self.request('POST', f'/v2/{self.reference.repository}/blobs/uploads/', operation, scope,
                               expected=(202,))
        started.close()
        location = self._location(started, operation)
        if size > CHUNKED_UPLOAD_THRESHOLD:
            location = self._upload_chunks(location, size, open_stream, operation, scope)
            body: t.Callable[[], t.Any] | None = None
        else:
            body = open_stream
        separator = '&' if '?' in location else '?'
        headers = {'Content-Type': 'application/octet-stream'}
        if body is not None:
            headers['Content-Length'] = str(size)
        self.request('PUT', f'{location}{separator}digest={urllib.parse.quote(digest)}', operation, scope,
                     headers=headers, body=body, expected=(201, 204), retry=False).close()

    def _location(self, response: t.Any, operation: str) -> str:
        location = response.headers.get('Location')
        if not location:
            raise RegistryError(f'{operation} failed: the registry started an upload without a Location')
        return urllib.parse.urljoin(self.base_url + '/', location)

    def _upload_chunks(self, location: str, size: int, open_stream: t.Callable[[], t.BinaryIO], operation: str,
                       scope: str) -> str:
        with open_stream() as stream:
            offset = 0
            while offset < size:
                chunk = stream.read(_UPLOAD_CHUNK)
                if not chunk:
                    break
                response = self.request(
                    'PATCH', location, operation, scope, body=lambda data=chunk: data, expected=(202,), retry=False,
                    headers={'Content-Type': 'application/octet-stream', 'Content-Length': str(len(chunk)),
                             'Content-Range': f'{offset}-{offset + len(chunk) - 1}'},
                )
                response.close()
                location = self._location(response, operation)
                offset += len(chunk)
        return location
