"""A hostile OCI registry on loopback, for the registry client's protections.

``HostileRegistry(image, tmp_path, tls=..., misbehaviour=Misbehaviour(...))`` serves the Distribution API for
one good Wasm image (oci variant, built here) from a threaded server on 127.0.0.1, and a *foreign host* on
127.0.0.2 (another origin: an upload endpoint, a blob CDN and a token service) that records every request
it sees and every ``Authorization`` header. ``Misbehaviour`` tells the registry how to misbehave: upload
Locations and blob redirects to the foreign host (or to it over plain http), token realms there or nowhere,
429 storms with a huge Retry-After, trickled headers and bodies, 128 MiB error and token bodies (generated
as they are sent, never held in memory), blobs longer than declared or with other bytes, tokens with CRLF,
and error bodies that quote the credentials they were sent.

``memory_probe(environment, tmp_path)`` makes Ansible run modules under a small wrapper that records the
module process' peak RSS, so tests can bound a module's memory. Everything here listens on loopback only.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import http.server
import ipaddress
import json
import pathlib
import re
import secrets
import socket
import ssl
import sys
import threading
import typing as t
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ['HUGE', 'HostileRegistry', 'Misbehaviour', 'Seen', 'TlsFiles', 'WasmImage', 'make_tls_files', 'memory_probe']

OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
WASM_CONFIG = 'application/vnd.module.wasm.config.v1+json'
WASM_CONTENT_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm'
TITLE = 'org.opencontainers.image.title'
HUGE = 128 * 1024 * 1024
FOREIGN_HOST = '127.0.0.2'
_CHUNK = 64 * 1024
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, ssl.SSLError, TimeoutError)


def sha256(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


# -- the image -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WasmImage:
    """An oci-variant Wasm image as the reference CLI writes it: the runtime config again as the first layer."""

    repository: str
    tag: str
    module: bytes
    config: bytes
    manifest: bytes

    @classmethod
    def build(cls, module: bytes, root_id: str = 'add_header', repository: str = 'hostile/filter', tag: str = '1') -> WasmImage:
        config = json.dumps({'type': 'envoy_proxy', 'abiVersions': ['proxy_abi_version_0_2_1'],
                             'config': {'root_ids': [root_id]}}, sort_keys=True).encode()
        manifest = {
            'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
            'config': {'mediaType': WASM_CONFIG, 'digest': sha256(config), 'size': len(config)},
            'layers': [
                {'mediaType': WASM_CONFIG, 'digest': sha256(config), 'size': len(config), 'annotations': {TITLE: 'runtime-config.json'}},
                {'mediaType': WASM_CONTENT_LAYER, 'digest': sha256(module), 'size': len(module), 'annotations': {TITLE: 'filter.wasm'}},
            ],
        }
        return cls(repository, tag, module, config, json.dumps(manifest, sort_keys=True).encode())

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def module_digest(self) -> str:
        return sha256(self.module)


# -- TLS -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    ca_path: pathlib.Path
    cert_path: pathlib.Path
    key_path: pathlib.Path


def make_tls_files(directory: pathlib.Path) -> TlsFiles:
    """A throwaway CA and a certificate it signed for 127.0.0.1, 127.0.0.2 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'wasm.oci hostile registry CA')])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address('127.0.0.1')), x509.IPAddress(ipaddress.ip_address(FOREIGN_HOST)),
             x509.DNSName('localhost')]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / 'ca.crt', directory / 'server.crt', directory / 'server.key')
    files.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    files.key_path.write_bytes(key_pem)
    return files


# -- misbehaviour ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Misbehaviour:
    """What the registry does wrong; the defaults make a well-behaved registry.

    A *place* is ``'own'`` (the registry itself), ``'foreign'`` (the foreign host, with the registry's scheme),
    ``'foreign-http'`` (the foreign host over plain http), ``'closed'`` (a port of the foreign host that refuses
    connections) or ``'none'``.
    """

    auth: str = 'none'  # none | basic | bearer
    realm: str = 'own'  # where the bearer challenge sends the client for a token: a place
    upload_location: str = 'own'  # where an upload session lives: a place
    blob_redirect: str = 'none'  # where blob GETs are redirected (with a signature in the query): a place
    storm_status: int | None = None  # answer every /v2/<name>/ request with this status...
    retry_after: str = '100000'  # ...and this Retry-After
    trickle: str = 'none'  # none | headers | body: of manifest and blob GETs, one byte every trickle_interval
    trickle_interval: float = 1.0
    huge_error_status: int | None = None  # answer manifest GETs with this status and a HUGE body
    token_answer: str = 'good'  # good | huge | crlf | echo (a 401 whose body quotes what was sent)
    blob_body: str = 'good'  # good | long-declared (HUGE Content-Length) | long-undeclared | other-bytes
    echo_credentials: bool = False  # answer manifest GETs with a 403 whose message quotes the Authorization header


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request a server saw."""

    method: str
    path: str
    authorization: str | None


class _Store:
    def __init__(self, image: WasmImage) -> None:
        self.image = image
        self.blobs = {sha256(image.config): image.config, sha256(image.module): image.module}
        self.manifests = {image.tag: image.manifest, image.digest: image.manifest}
        self.uploads: dict[str, bytearray] = {}
        self.lock = threading.Lock()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, registry: HostileRegistry, role: str, tls: TlsFiles | None) -> None:
        super().__init__((host, 0), _Handler)
        self.registry = registry
        self.role = role  # registry | foreign
        self.scheme = 'https' if tls else 'http'
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls.cert_path), str(tls.key_path))
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={'poll_interval': 0.05}, name=f'hostile-{role}', daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f'{self.scheme}://{host}:{port}'

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        pass  # a client that gave up is what these tests are about


class HostileRegistry:
    """The registry on 127.0.0.1 and the foreign host on 127.0.0.2; ``stop()`` ends both."""

    def __init__(self, image: WasmImage, tls: TlsFiles | None = None, misbehaviour: Misbehaviour | None = None) -> None:
        self.image = image
        self.tls = tls
        self.misbehaviour = misbehaviour or Misbehaviour()
        self.username = 'hostile-user'
        self.password = 'hostile-password-' + secrets.token_hex(8)
        self.token = 'hostile-token-' + secrets.token_hex(16)
        self.signature = 'signature-' + secrets.token_hex(16)
        self.upload_state = 'upload-state-' + secrets.token_hex(16)
        self.store = _Store(image)
        self.stopping = threading.Event()
        self.seen: list[Seen] = []  # by the registry
        self.foreign_seen: list[Seen] = []  # by the foreign host, over either scheme
        self._own = _Server('127.0.0.1', self, 'registry', tls)
        self._foreign = _Server(FOREIGN_HOST, self, 'foreign', tls)
        self._foreign_http = _Server(FOREIGN_HOST, self, 'foreign', None)
        # Bound but never listening: connections to it are refused for as long as the registry runs.
        self._closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._closed.bind((FOREIGN_HOST, 0))

    def start(self) -> HostileRegistry:
        for server in (self._own, self._foreign, self._foreign_http):
            server.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for server in (self._own, self._foreign, self._foreign_http):
            server.shutdown()
            server.server_close()
            server.thread.join(timeout=10)
        self._closed.close()

    @property
    def host(self) -> str:
        return self._own.url.split('://', 1)[1]

    @property
    def url(self) -> str:
        return self._own.url

    @property
    def ca_path(self) -> str | None:
        return str(self.tls.ca_path) if self.tls else None

    @property
    def reference(self) -> str:
        return f'{self.host}/{self.image.repository}:{self.image.tag}'

    @property
    def basic_authorization(self) -> str:
        return 'Basic ' + base64.b64encode(f'{self.username}:{self.password}'.encode()).decode()

    def secrets(self) -> list[str]:
        """Texts that must never appear in a module's result."""
        return [self.password, self.basic_authorization.split(' ', 1)[1], self.token, self.signature, self.upload_state]

    def place_url(self, place: str) -> str:
        closed = f'{self._own.scheme}://{FOREIGN_HOST}:{self._closed.getsockname()[1]}'
        return {'own': self._own.url, 'foreign': self._foreign.url, 'foreign-http': self._foreign_http.url, 'closed': closed}[place]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server: _Server

    def log_message(self, format: str, *args: t.Any) -> None:  # pylint: disable=redefined-builtin
        pass

    # -- plumbing --------------------------------------------------------------------------------------

    @property
    def registry(self) -> HostileRegistry:
        return self.server.registry

    @property
    def bad(self) -> Misbehaviour:
        return self.registry.misbehaviour

    def _body(self) -> bytes:
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def _answer(self, status: int, body: bytes = b'', headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({'errors': [{'code': code, 'message': message}]}).encode()
        self._answer(status, body, {'Content-Type': 'application/json', **(headers or {})})

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except _CLIENT_GONE:
            self.close_connection = True
            return False
        return True

    def _trickle(self, data: bytes) -> None:
        """Send ``data`` a byte at a time, each just inside the client's socket timeout."""
        for index in range(len(data)):
            if self.registry.stopping.wait(self.bad.trickle_interval) or not self._write(data[index:index + 1]):
                break
        self.close_connection = True

    def _stream_huge(self, status: int, prefix: bytes, headers: dict[str, str] | None = None, declared: bool = True) -> None:
        """HUGE bytes of body (``prefix``, then spaces), made as they are sent; undeclared means close-delimited."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if declared:
            self.send_header('Content-Length', str(HUGE))
        else:
            self.send_header('Connection', 'close')
        self.end_headers()
        chunk = b' ' * _CHUNK
        sent = len(prefix)
        if not self._write(prefix):
            return
        while sent < HUGE and not self.registry.stopping.is_set():
            piece = chunk[:HUGE - sent]
            if not self._write(piece):
                return
            sent += len(piece)
        self.close_connection = True

    def _response_bytes(self, status: int, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [f'HTTP/1.1 {status} {self.responses[status][0]}'] + [f'{name}: {value}' for name, value in headers.items()]
        lines.append(f'Content-Length: {len(body)}')
        return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body

    def _serve(self, body: bytes, headers: dict[str, str], trickled: bool = True) -> None:
        """A 200 with ``body``, trickled as the misbehaviour says."""
        if trickled and self.bad.trickle == 'headers':
            self._trickle(self._response_bytes(200, b'' if self.command == 'HEAD' else body, headers))
        elif trickled and self.bad.trickle == 'body' and self.command == 'GET':
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.flush()
            self._trickle(body)
        else:
            self._answer(200, body, headers)

    # -- dispatch --------------------------------------------------------------------------------------

    def _handle(self) -> None:
        seen = Seen(self.command, self.path, self.headers.get('Authorization'))
        (self.registry.seen if self.server.role == 'registry' else self.registry.foreign_seen).append(seen)
        path = urllib.parse.urlsplit(self.path).path
        if self.server.role == 'foreign':
            self._foreign(path)
        elif path == '/token':
            self._token()
        elif self._authorized():
            self._registry(path)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    # -- the registry ----------------------------------------------------------------------------------

    def _authorized(self) -> bool:
        given = self.headers.get('Authorization')
        if self.bad.auth == 'basic':
            if given == self.registry.basic_authorization:
                return True
            self._error(401, 'UNAUTHORIZED', 'authentication required', {'WWW-Authenticate': 'Basic realm="hostile"'})
            return False
        if self.bad.auth == 'bearer':
            if given == f'Bearer {self.registry.token}':
                return True
            realm = '' if self.bad.realm == 'none' else f'realm="{self.registry.place_url(self.bad.realm)}/token",'
            self._error(401, 'UNAUTHORIZED', 'authentication required',
                        {'WWW-Authenticate': f'Bearer {realm}service="hostile",scope="repository:{self.registry.image.repository}:pull"'})
            return False
        return True

    def _registry(self, path: str) -> None:
        if path == '/v2/':
            self._answer(200, b'{}', {'Content-Type': 'application/json'})
            return
        if path.startswith('/upload/'):
            self._upload_step(path[len('/upload/'):])
            return
        if self.bad.storm_status:
            self._error(self.bad.storm_status, 'TOOMANYREQUESTS', 'slow down', {'Retry-After': self.bad.retry_after})
            return
        match = re.fullmatch(r'/v2/(?P<name>.+)/(?P<kind>manifests|blobs|blobs/uploads)/(?P<rest>[^/]*)', path)
        if not match or match['name'] != self.registry.image.repository:
            self._error(404, 'NAME_UNKNOWN', 'no such repository')
        elif match['kind'] == 'manifests':
            self._manifest(match['rest'])
        elif match['kind'] == 'blobs':
            self._blob(match['rest'])
        else:
            self._start_upload()

    def _manifest(self, version: str) -> None:
        if self.command == 'PUT':
            data = self._body()
            with self.registry.store.lock:
                self.registry.store.manifests[version] = self.registry.store.manifests[sha256(data)] = data
            self._answer(201, headers={'Docker-Content-Digest': sha256(data)})
            return
        if self.bad.echo_credentials:
            self._error(403, 'DENIED', f'{self.headers.get("Authorization")} may not read this')
            return
        if self.bad.huge_error_status and self.command == 'GET':
            self._stream_huge(self.bad.huge_error_status, b'{"errors": [{"code": "HUGE", "message": "',
                              {'Content-Type': 'application/json'})
            return
        data = self.registry.store.manifests.get(version)
        if data is None:
            self._error(404, 'MANIFEST_UNKNOWN', 'no such manifest')
            return
        self._serve(data, {'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': sha256(data)})

    def _blob(self, digest: str) -> None:
        data = self.registry.store.blobs.get(digest)
        if data is None:
            self._error(404, 'BLOB_UNKNOWN', 'no such blob')
        elif self.bad.blob_redirect != 'none' and self.command == 'GET':
            target = f'{self.registry.place_url(self.bad.blob_redirect)}/cdn/{digest}?X-Amz-Signature={self.registry.signature}'
            self._answer(307, headers={'Location': target})
        elif self.command == 'GET' and digest == self.registry.image.module_digest and self.bad.blob_body != 'good':
            self._lying_blob(data)
        else:
            self._serve(data, {'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest})

    def _lying_blob(self, data: bytes) -> None:
        if self.bad.blob_body == 'other-bytes':
            # The same length and the same start (a Wasm module still), but not the bytes the digest names.
            self._answer(200, data[:-1] + bytes([data[-1] ^ 0xFF]), {'Content-Type': 'application/octet-stream'})
        else:
            self._stream_huge(200, data, {'Content-Type': 'application/octet-stream'}, declared=self.bad.blob_body == 'long-declared')

    def _start_upload(self) -> None:
        self._body()
        session = secrets.token_hex(8)
        with self.registry.store.lock:
            self.registry.store.uploads[session] = bytearray()
        base = self.registry.place_url(self.bad.upload_location)
        self._answer(202, headers={'Location': f'{base}/upload/{session}?_state={self.registry.upload_state}'})

    # -- the foreign host: upload endpoint, blob CDN and token service ---------------------------------

    def _foreign(self, path: str) -> None:
        if path == '/token':
            self._answer(200, json.dumps({'token': self.registry.token}).encode(), {'Content-Type': 'application/json'})
        elif path.startswith('/cdn/'):
            self._cdn(path[len('/cdn/'):])
        elif path.startswith('/upload/'):
            self._upload_step(path[len('/upload/'):])
        else:
            self._answer(404)

    def _cdn(self, digest: str) -> None:
        data = self.registry.store.blobs.get(digest)
        if data is None:
            self._answer(404)
        else:
            self._answer(200, data, {'Content-Type': 'application/octet-stream'})

    def _upload_step(self, session: str) -> None:
        store = self.registry.store
        data = self._body()
        with store.lock:
            if session not in store.uploads:
                self._answer(404)
                return
            if self.command == 'DELETE':
                del store.uploads[session]
                self._answer(204)
                return
            store.uploads[session] += data
            if self.command == 'PATCH':
                self._answer(202, headers={'Location': f'/upload/{session}?_state={self.registry.upload_state}'})
                return
            digest = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get('digest', [''])[0]
            content = bytes(store.uploads.pop(session))
            if sha256(content) != digest:
                self._answer(400)
                return
            store.blobs[digest] = content
        self._answer(201, headers={'Docker-Content-Digest': digest})

    # -- the registry's own token service --------------------------------------------------------------

    def _token(self) -> None:
        given = self.headers.get('Authorization')
        answer = self.bad.token_answer
        if answer == 'echo' or (given and given != self.registry.basic_authorization):
            message = f'credentials {given} refused for {self.registry.username}'
            self._answer(401, json.dumps({'errors': [{'code': 'UNAUTHORIZED', 'message': message}], 'details': message}).encode(),
                         {'Content-Type': 'application/json'})
        elif answer == 'huge':
            self._stream_huge(200, b'{"token": "' + self.registry.token.encode(), {'Content-Type': 'application/json'})
        elif answer == 'crlf':
            token = f'{self.registry.token}\r\nX-Injected: {self.registry.token}'
            self._answer(200, json.dumps({'token': token}).encode(), {'Content-Type': 'application/json'})
        else:
            self._answer(200, json.dumps({'token': self.registry.token}).encode(), {'Content-Type': 'application/json'})


# -- memory ----------------------------------------------------------------------------------------------

RSS_FILE_VARIABLE = 'WASM_OCI_MODULE_RSS_FILE'
_WRAPPER = '''#!{python}
"""Run a module with the real Python and record its peak RSS (KiB) in ${variable}."""
import os
import resource
import subprocess
import sys

completed = subprocess.run([{python!r}] + sys.argv[1:])
with open(os.environ[{variable!r}], 'w') as stream:
    stream.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(completed.returncode)
'''


def memory_probe(environment: t.Mapping[str, str], directory: pathlib.Path) -> tuple[dict[str, str], t.Callable[[], int]]:
    """An Ansible environment whose modules run under a wrapper, and a function giving the last module's peak RSS in bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / 'python-with-rss'
    wrapper.write_text(_WRAPPER.format(python=sys.executable, variable=RSS_FILE_VARIABLE), encoding='utf-8')
    wrapper.chmod(0o755)
    rss_file = directory / 'rss'
    probed = dict(environment, ANSIBLE_PYTHON_INTERPRETER=str(wrapper), **{RSS_FILE_VARIABLE: str(rss_file)})
    return probed, lambda: int(rss_file.read_text(encoding='utf-8')) * 1024
