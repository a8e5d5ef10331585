"""Real OCI registries for the integration suite: CNCF Distribution (``docker-registry``) in four kinds.

Session fixtures (each started once, on first use, and stopped at the session's end):

* ``registry_plain``  -- HTTP, no auth.
* ``registry_basic``  -- HTTP with htpasswd (bcrypt) Basic auth.
* ``registry_tls``    -- HTTPS with a throwaway CA (``Registry.ca_path``), no auth.
* ``registry_token``  -- HTTP with ``auth.token``: bearer tokens from ``token_service`` (a thread of this
  process), which enforces scopes. ``registry_token`` holds the ``pusher`` (pull, push) credentials;
  ``registry_token_reader`` the ``reader`` (pull only) ones; ``registry_token_anonymous`` none.
* ``push_with_skopeo`` -- ``push_with_skopeo(registry, source_ref, dest_repo_tag)`` runs ``skopeo copy``.
* ``tiny_oci_image``  -- a one-layer OCI image layout made by hand (``OciImage``).

Function fixtures:

* ``faulty_front``   -- factory: ``faulty_front(fail_first=2, retry_after=1, match=r'^GET /v2/$')`` starts an
  HTTP proxy before ``registry_plain`` (or ``upstream=``) that answers the first N matching requests with 503
  (or ``status=``, or drops the connection with ``mode='reset'``) and forwards everything else.
* ``registry_down``  -- a ``Registry`` whose address refuses connections (a bound socket that never listens).

Every process started here is stopped by its PID (terminate, wait, kill) and logs to a file under the
session's tmp dir; a registry that does not come up fails the test with its log tail.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gzip
import hashlib
import http.client
import http.server
import io
import json
import pathlib
import re
import secrets
import shutil
import socket
import struct
import subprocess
import tarfile
import threading
import time
import typing as t

import bcrypt
import pytest
import requests

from .token_service import TokenService, User, serve_in_thread, stop_serving

__all__ = [
    # fixtures
    'registry_workdir', 'registry_pki', 'registry_plain', 'registry_basic', 'registry_tls', 'registry_token',
    'registry_token_reader', 'registry_token_anonymous', 'token_service', 'faulty_front', 'registry_down',
    'push_with_skopeo', 'tiny_oci_image',
    # helpers
    'Registry', 'RegistryInstance', 'ManagedProcess', 'FaultyFront', 'OciImage', 'Pki',
    'start_registry', 'make_pki', 'make_oci_layout', 'unused_address', 'registry_request', 'fetch_bearer_token',
    'parse_challenge', 'skopeo_args', 'skopeo_push', 'skopeo_inspect_raw', 'run_skopeo',
]

REGISTRY_COMMAND = 'docker-registry'
READY_TIMEOUT = 20.0
REQUEST_TIMEOUT = 10.0
SKOPEO_TIMEOUT = 120
BCRYPT_ROUNDS = 5  # Go's minimum is 4; the registry checks the hash on every request, so keep it cheap.
TOKEN_PUSHER = 'pusher'
TOKEN_READER = 'reader'

# -- processes -------------------------------------------------------------------------------------------

_RUNNING: list[ManagedProcess] = []


class ManagedProcess:
    """A child process whose output goes to ``log_path``, stopped by PID: SIGTERM, wait, SIGKILL, wait."""

    def __init__(self, name: str, command: list[str], log_path: pathlib.Path, cwd: pathlib.Path | None = None) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open('ab') as log:
            log.write(f'$ {" ".join(self.command)}\n'.encode())
            log.flush()
            self.popen = subprocess.Popen(  # pylint: disable=consider-using-with
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
            )
        _RUNNING.append(self)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the process (idempotent) and return its exit status."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        if self in _RUNNING:
            _RUNNING.remove(self)
        return self.popen.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding='utf-8', errors='replace')
        except FileNotFoundError:
            return '(no log)'
        return '\n'.join(text.splitlines()[-lines:])


@atexit.register
def _stop_leftovers() -> None:
    """A safety net for an interrupted session: fixtures normally stop everything first."""
    for process in _RUNNING.copy():  # a copy: stop() takes the process off _RUNNING
        process.stop(timeout=5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def unused_address() -> t.Iterator[str]:
    """Yield ``127.0.0.1:PORT`` where nothing listens: the port is bound (so no one else takes it) but never
    listened on, so connections are refused at once for as long as the context lasts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        yield f'127.0.0.1:{sock.getsockname()[1]}'


# -- registries ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Registry:
    """How a client reaches one registry: ``host`` is what image references use (``127.0.0.1:PORT``)."""

    kind: str  # plain, basic, tls, token (and faulty, down for the fronts below)
    host: str
    url: str  # scheme://host, no trailing slash
    username: str | None = None
    password: str | None = None
    ca_path: pathlib.Path | None = None  # the CA that signed the TLS certificate; its directory is a skopeo cert dir
    plain_http: bool = True

    @property
    def verify(self) -> str | bool:
        """The ``verify=`` argument for requests (always pass it: REQUESTS_CA_BUNDLE overrides session settings)."""
        return str(self.ca_path) if self.ca_path else True

    @property
    def cert_dir(self) -> pathlib.Path | None:
        """A directory holding only ``ca.crt``, as skopeo's ``--cert-dir`` and containers' certs.d want."""
        return self.ca_path.parent if self.ca_path else None

    def ref(self, repository_tag: str) -> str:
        """An image reference on this registry, e.g. ``127.0.0.1:5000/filters/add-header:1.0``."""
        return f'{self.host}/{repository_tag}'

    def with_credentials(self, username: str | None, password: str | None) -> Registry:
        return dataclasses.replace(self, username=username, password=password)


@dataclasses.dataclass
class RegistryInstance:
    registry: Registry
    process: ManagedProcess
    config_path: pathlib.Path
    storage: pathlib.Path

    @property
    def log_path(self) -> pathlib.Path:
        return self.process.log_path

    def stop(self) -> int | None:
        return self.process.stop()


def _wait_ready(registry: Registry, process: ManagedProcess, timeout: float) -> str | None:
    """Poll ``/v2/`` until it answers 200 or 401; return why it never did, or None once it does."""
    deadline = time.monotonic() + timeout
    last = 'no answer yet'
    while time.monotonic() < deadline:
        if not process.alive():
            return f'exited with status {process.popen.returncode if process.popen else None}'
        if f'listening on {registry.host}' not in process.log_tail(200):
            time.sleep(0.05)  # not bound yet: whatever answers on the port now is not this registry
            continue
        try:
            response = requests.get(f'{registry.url}/v2/', verify=registry.verify, timeout=2)
            if response.status_code in (200, 401):
                return None
            last = f'/v2/ answered {response.status_code}'
        except requests.RequestException as error:
            last = f'{type(error).__name__}: {error}'
        time.sleep(0.05)
    return f'not ready after {timeout:.0f}s ({last})'


def start_registry(kind: str, workdir: pathlib.Path, *, auth: dict | None = None, tls: tuple[pathlib.Path, pathlib.Path] | None = None,
                   ca_path: pathlib.Path | None = None, username: str | None = None, password: str | None = None,
                   ready_timeout: float = READY_TIMEOUT, attempts: int = 3) -> RegistryInstance:
    """Start ``docker-registry serve`` on a free 127.0.0.1 port, storing under ``workdir``, and wait for it.

    ``auth`` is Distribution's ``auth`` section; ``tls`` (certificate, key) turns on HTTPS. Fails the test with
    the log tail when the registry does not come up (a port taken between choosing and binding is retried).
    """
    if shutil.which(REGISTRY_COMMAND) is None:
        pytest.fail(f'{REGISTRY_COMMAND} is not installed: run `make deps` (Debian package docker-registry)')
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / 'storage'
    storage.mkdir(exist_ok=True)
    failure = ''
    for attempt in range(1, attempts + 1):
        port = _free_port()
        scheme = 'https' if tls else 'http'
        registry = Registry(kind=kind, host=f'127.0.0.1:{port}', url=f'{scheme}://127.0.0.1:{port}', username=username,
                            password=password, ca_path=ca_path, plain_http=tls is None)
        config: dict[str, t.Any] = {
            'version': 0.1,
            'log': {'level': 'info', 'formatter': 'text', 'accesslog': {'disabled': False}},
            'storage': {
                'filesystem': {'rootdirectory': str(storage)},
                'delete': {'enabled': True},
                'maintenance': {'uploadpurging': {'enabled': False}},
            },
            'http': {'addr': registry.host, 'secret': secrets.token_hex(16)},
        }
        if tls:
            config['http']['tls'] = {'certificate': str(tls[0]), 'key': str(tls[1])}
        if auth:
            config['auth'] = auth
        config_path = workdir / 'config.yml'
        config_path.write_text(json.dumps(config, indent=2), encoding='utf-8')  # JSON is YAML
        process = ManagedProcess(f'registry-{kind}', [REGISTRY_COMMAND, 'serve', str(config_path)],
                                 workdir / 'registry.log').start()
        why = _wait_ready(registry, process, ready_timeout)
        if why is None:
            return RegistryInstance(registry, process, config_path, storage)
        process.stop()
        failure = f'{kind} registry (attempt {attempt}, pid {process.pid}) {why}; log {process.log_path}:\n{process.log_tail()}'
        if 'address already in use' not in process.log_tail():
            break
    pytest.fail(failure)
    raise AssertionError('unreachable')


# -- certificates ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pki:
    ca_cert: pathlib.Path  # named ca.crt alone in its directory, for skopeo --cert-dir
    server_cert: pathlib.Path
    server_key: pathlib.Path
    token_cert: pathlib.Path  # self-signed; the token registry's rootcertbundle
    token_key: pathlib.Path


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    completed = subprocess.run(['openssl', *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    if completed.returncode != 0:
        pytest.fail(f'openssl {" ".join(args)} failed ({completed.returncode}):\n{completed.stderr}')


def make_pki(directory: pathlib.Path) -> Pki:
    """Create, with the openssl CLI, a CA, a server certificate for 127.0.0.1/localhost and a token signer."""
    ca_dir = directory / 'ca'
    ca_dir.mkdir(parents=True, exist_ok=True)
    ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes')
    _openssl('req', '-x509', *ec, '-keyout', str(directory / 'ca.key'), '-out', str(ca_dir / 'ca.crt'), '-days', '2',
             '-subj', '/CN=wasm.oci test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,keyCertSign,cRLSign', cwd=directory)
    _openssl('req', '-new', *ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1', cwd=directory)
    (directory / 'server.ext').write_text(
        'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n'
        'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n', encoding='utf-8')
    _openssl('x509', '-req', '-in', 'server.csr', '-CA', str(ca_dir / 'ca.crt'), '-CAkey', 'ca.key', '-set_serial', f'0x{secrets.token_hex(8)}',
             '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext', cwd=directory)
    _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '2',
             '-subj', '/CN=wasm.oci test token signer', cwd=directory)
    return Pki(ca_dir / 'ca.crt', directory / 'server.crt', directory / 'server.key', directory / 'token.crt', directory / 'token.key')


# -- HTTP helpers ----------------------------------------------------------------------------------------

_OWN: t.Any = object()  # "use the registry's own credentials"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="…",service="…",scope="…"`` into the scheme and its parameters."""
    scheme, _sep, rest = header.strip().partition(' ')
    params = {key.lower(): value for key, value in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def fetch_bearer_token(challenge: dict[str, str], scopes: list[str], username: str | None, password: str | None,
                       verify: str | bool = True) -> requests.Response:
    """Ask the challenge's realm for a token (GET, Basic credentials when given); return the raw response."""
    query: list[tuple[str, str]] = [('service', challenge.get('service', ''))] + [('scope', scope) for scope in scopes]
    auth = (username, password or '') if username else None
    return requests.get(challenge['realm'], params=query, auth=auth, verify=verify, timeout=REQUEST_TIMEOUT)


def registry_request(registry: Registry, method: str, path: str, *, username: t.Any = _OWN, password: t.Any = _OWN,
                     scope: str | list[str] | None = None, **kwargs: t.Any) -> requests.Response:
    """Send one request to ``registry`` as a plain client would: try, and on a 401 challenge answer it (Basic,
    or Bearer with a token for ``scope`` or the challenge's own scope) and try once more.

    ``username``/``password`` default to the registry's own; pass None for anonymous. Always sets ``verify=``.
    """
    if username is _OWN:
        username = registry.username
    if password is _OWN:
        password = registry.password
    kwargs.setdefault('verify', registry.verify)
    kwargs.setdefault('timeout', REQUEST_TIMEOUT)
    kwargs.setdefault('allow_redirects', False)
    url = path if path.startswith(('http://', 'https://')) else f'{registry.url}{path}'
    response = requests.request(method, url, **kwargs)
    if response.status_code != 401 or 'WWW-Authenticate' not in response.headers:
        return response
    scheme, params = parse_challenge(response.headers['WWW-Authenticate'])
    headers = dict(kwargs.pop('headers', None) or {})
    if scheme == 'basic':
        if not username:
            return response
        return requests.request(method, url, auth=(username, password or ''), headers=headers, **kwargs)
    if scheme == 'bearer':
        scopes = [scope] if isinstance(scope, str) else list(scope or ([params['scope']] if 'scope' in params else []))
        token_response = fetch_bearer_token(params, scopes, username, password, verify=kwargs['verify'])
        if token_response.status_code != 200:
            return token_response
        document = token_response.json()
        headers['Authorization'] = f'Bearer {document.get("token") or document.get("access_token")}'
        return requests.request(method, url, headers=headers, **kwargs)
    return response


# -- faulty front ----------------------------------------------------------------------------------------

_HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers',
               'transfer-encoding', 'upgrade', 'proxy-connection'}


class FaultyFront:
    """An HTTP proxy before a plain-HTTP registry that fails the first ``fail_first`` requests matching
    ``match`` (a regex searched in ``"METHOD /path?query"``), then forwards.

    ``mode='status'`` answers ``status`` (503) with a registry-style JSON error and ``Retry-After`` when given;
    ``mode='reset'`` closes the connection without answering. ``log`` lists ``(method, path, status)`` for every
    request (status 0 for a dropped connection); ``failures`` counts the faults served. The Host header is passed
    through, so the registry's Location headers point back at the front.
    """

    def __init__(self, upstream: Registry, log_path: pathlib.Path, *, fail_first: int = 1, status: int = 503,
                 retry_after: int | str | None = None, match: str | None = None, mode: str = 'status') -> None:
        if not upstream.plain_http:
            raise ValueError('the faulty front forwards to plain-HTTP registries only')
        if mode not in ('status', 'reset'):
            raise ValueError(f'unknown mode {mode!r}')
        self.upstream = upstream
        self.log_path = log_path
        self.status = status
        self.retry_after = retry_after
        self.mode = mode
        self._pattern = re.compile(match) if match else None
        self._lock = threading.Lock()
        self._remaining = fail_first
        self.failures = 0
        self.log: list[tuple[str, str, int]] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def arm(self, fail_first: int) -> None:
        """Fail the next ``fail_first`` matching requests (again)."""
        with self._lock:
            self._remaining = fail_first

    def _should_fail(self, method: str, path: str) -> bool:
        if self._pattern is not None and not self._pattern.search(f'{method} {path}'):
            return False
        with self._lock:
            if self._remaining <= 0:
                return False
            self._remaining -= 1
            self.failures += 1
            return True

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))
            with self.log_path.open('a', encoding='utf-8') as log:
                log.write(f'{time.strftime("%H:%M:%S")} {method} {path} -> {status}\n')

    @property
    def registry(self) -> Registry:
        if self._server is None:
            raise RuntimeError('the faulty front is not started')
        host = f'127.0.0.1:{self._server.server_address[1]}'
        return dataclasses.replace(self.upstream, kind='faulty', host=host, url=f'http://{host}')

    def start(self) -> FaultyFront:
        front = self
        upstream_host, upstream_port = self.upstream.host.rsplit(':', 1)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def _read_body(self) -> bytes:
                if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
                    body = io.BytesIO()
                    while True:
                        size = int(self.rfile.readline().split(b';', 1)[0].strip() or b'0', 16)
                        if size == 0:
                            while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                                pass  # trailers
                            return body.getvalue()
                        body.write(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get('Content-Length') or 0)
                return self.rfile.read(length) if length else b''

            def _handle(self) -> None:
                method = self.command
                body = self._read_body()
                if front._should_fail(method, self.path):  # pylint: disable=protected-access
                    if front.mode == 'reset':
                        front._record(method, self.path, 0)  # pylint: disable=protected-access
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))  # RST on close
                        return
                    document = {'errors': [{'code': 'UNAVAILABLE', 'message': 'injected fault', 'detail': None}]}
                    payload = json.dumps(document).encode() if method != 'HEAD' else b''
                    # Recorded before answering: a client that has the answer sees it logged.
                    front._record(method, self.path, front.status)  # pylint: disable=protected-access
                    self.send_response(front.status)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(json.dumps(document).encode())))
                    if front.retry_after is not None:
                        self.send_header('Retry-After', str(front.retry_after))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                connection = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=60)
                try:
                    # Header by header: clients repeat some (Go sends one Accept line per media type).
                    connection.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in _HOP_BY_HOP and name.lower() != 'content-length':
                            connection.putheader(name, value)
                    if body or method in ('POST', 'PUT', 'PATCH'):
                        connection.putheader('Content-Length', str(len(body)))
                    connection.endheaders(body or None)
                    response = connection.getresponse()
                    data = response.read()
                except OSError as error:
                    connection.close()
                    message = json.dumps({'errors': [{'code': 'UNAVAILABLE', 'message': f'upstream: {error}'}]}).encode()
                    front._record(method, self.path, 502)  # pylint: disable=protected-access
                    self.send_response(502)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(message)))
                    self.end_headers()
                    self.wfile.write(b'' if method == 'HEAD' else message)
                    return
                try:
                    front._record(method, self.path, response.status)  # pylint: disable=protected-access
                    self.send_response(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() in _HOP_BY_HOP or (name.lower() == 'content-length' and method != 'HEAD'):
                            continue
                        self.send_header(name, value)
                    if method != 'HEAD':
                        self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    if method != 'HEAD':
                        self.wfile.write(data)
                finally:
                    connection.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server, self._thread = serve_in_thread(Handler, 'faulty-front')
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
        self._server = self._thread = None


# -- images and skopeo -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OciImage:
    layout: pathlib.Path
    tag: str
    manifest: bytes  # the exact bytes of the image manifest, as a registry should serve them back
    manifest_digest: str

    @property
    def ref(self) -> str:
        """The skopeo/containers source reference, ``oci:LAYOUT:TAG``."""
        return f'oci:{self.layout}:{self.tag}'


def _write_blob(layout: pathlib.Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / 'blobs' / 'sha256').mkdir(parents=True, exist_ok=True)
    (layout / 'blobs' / 'sha256' / digest).write_bytes(data)
    return f'sha256:{digest}'


def make_oci_layout(layout: pathlib.Path, tag: str = 'latest', files: dict[str, bytes] | None = None) -> OciImage:
    """Write a one-layer linux/amd64 OCI image layout by hand (deterministic bytes) and return its manifest."""
    files = files if files is not None else {'hello.txt': b'hello from the wasm.oci registry harness\n'}
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode='w', format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    layer_tar = tar_buffer.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    layer_digest = _write_blob(layout, layer)
    config = json.dumps({
        'architecture': 'amd64', 'os': 'linux', 'config': {},
        'rootfs': {'type': 'layers', 'diff_ids': [f'sha256:{hashlib.sha256(layer_tar).hexdigest()}']},
    }, sort_keys=True).encode()
    config_digest = _write_blob(layout, config)
    manifest = json.dumps({
        'schemaVersion': 2,
        'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': config_digest, 'size': len(config)},
        'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest': layer_digest, 'size': len(layer)}],
    }, sort_keys=True).encode()
    manifest_digest = _write_blob(layout, manifest)
    (layout / 'oci-layout').write_text('{"imageLayoutVersion": "1.0.0"}', encoding='utf-8')
    index = {'schemaVersion': 2, 'manifests': [{
        'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': manifest_digest, 'size': len(manifest),
        'annotations': {'org.opencontainers.image.ref.name': tag},
    }]}
    (layout / 'index.json').write_text(json.dumps(index), encoding='utf-8')
    return OciImage(layout, tag, manifest, manifest_digest)


def skopeo_args(registry: Registry, side: str = '', *, username: t.Any = _OWN, password: t.Any = _OWN) -> list[str]:
    """skopeo's TLS and credential options for ``registry``; ``side`` is 'src', 'dest' or '' (inspect)."""
    prefix = f'--{side}-' if side else '--'
    username = registry.username if username is _OWN else username
    password = registry.password if password is _OWN else password
    args = [f'{prefix}tls-verify={"false" if registry.plain_http else "true"}']
    if registry.cert_dir is not None:
        args.append(f'{prefix}cert-dir={registry.cert_dir}')
    args.append(f'{prefix}creds={username}:{password or ""}' if username else f'{prefix}no-creds')
    return args


def run_skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = ['skopeo', '--insecure-policy', *args]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=SKOPEO_TIMEOUT)
    if check and completed.returncode != 0:
        pytest.fail(f'{" ".join(command)} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}')
    return completed


def skopeo_push(registry: Registry, source_ref: str, dest_repo_tag: str, *, username: t.Any = _OWN, password: t.Any = _OWN,
                check: bool = True, extra_args: t.Sequence[str] = ()) -> subprocess.CompletedProcess:
    """``skopeo copy SOURCE docker://HOST/REPO:TAG`` with the options ``registry`` needs (its own credentials
    unless ``username``/``password`` are given; None for anonymous)."""
    return run_skopeo('copy', *skopeo_args(registry, 'dest', username=username, password=password), *extra_args,
                      source_ref, f'docker://{registry.ref(dest_repo_tag)}', check=check)


def skopeo_inspect_raw(registry: Registry, repo_ref: str, *, username: t.Any = _OWN, password: t.Any = _OWN,
                       check: bool = True) -> subprocess.CompletedProcess:
    """``skopeo inspect --raw docker://HOST/REPO:TAG`` (or ``@sha256:…``): stdout is the manifest as served."""
    return run_skopeo('inspect', '--raw', *skopeo_args(registry, username=username, password=password),
                      f'docker://{registry.ref(repo_ref)}', check=check)


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope='session')
def registry_workdir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The session's directory for registry storage, configs, certificates and logs."""
    return tmp_path_factory.mktemp('registries')


@pytest.fixture(scope='session')
def registry_pki(registry_workdir: pathlib.Path) -> Pki:
    return make_pki(registry_workdir / 'pki')


def _serve(kind: str, workdir: pathlib.Path, **options: t.Any) -> t.Iterator[Registry]:
    instance = start_registry(kind, workdir / kind, **options)
    try:
        yield instance.registry
    finally:
        instance.stop()


@pytest.fixture(scope='session')
def registry_plain(registry_workdir: pathlib.Path) -> t.Iterator[Registry]:
    yield from _serve('plain', registry_workdir)


@pytest.fixture(scope='session')
def registry_basic(registry_workdir: pathlib.Path) -> t.Iterator[Registry]:
    username, password = 'wasm', secrets.token_urlsafe(12)
    htpasswd = registry_workdir / 'basic' / 'htpasswd'
    htpasswd.parent.mkdir(parents=True, exist_ok=True)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
    htpasswd.write_text(f'{username}:{hashed}\n', encoding='utf-8')
    auth = {'htpasswd': {'realm': 'wasm-oci-test-basic', 'path': str(htpasswd)}}
    yield from _serve('basic', registry_workdir, auth=auth, username=username, password=password)


@pytest.fixture(scope='session')
def registry_tls(registry_workdir: pathlib.Path, registry_pki: Pki) -> t.Iterator[Registry]:
    yield from _serve('tls', registry_workdir, tls=(registry_pki.server_cert, registry_pki.server_key), ca_path=registry_pki.ca_cert)


@pytest.fixture(scope='session')
def token_service(registry_pki: Pki) -> t.Iterator[TokenService]:
    """The bearer-token service (a thread here): ``pusher`` may pull and push everywhere, ``reader`` only pull."""
    users = {
        TOKEN_PUSHER: User(secrets.token_urlsafe(12), frozenset({'pull', 'push'})),
        TOKEN_READER: User(secrets.token_urlsafe(12), frozenset({'pull'})),
    }
    service = TokenService(registry_pki.token_key, registry_pki.token_cert, users).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope='session')
def registry_token(registry_workdir: pathlib.Path, registry_pki: Pki, token_service: TokenService) -> t.Iterator[Registry]:
    """Token auth, with the ``pusher`` credentials."""
    auth = {'token': {
        'realm': token_service.realm,
        'service': token_service.service,
        'issuer': token_service.issuer,
        'rootcertbundle': str(registry_pki.token_cert),
    }}
    yield from _serve('token', registry_workdir, auth=auth, username=TOKEN_PUSHER,
                      password=token_service.users[TOKEN_PUSHER].password)


@pytest.fixture(scope='session')
def registry_token_reader(registry_token: Registry, token_service: TokenService) -> Registry:
    """The token registry with the ``reader`` (pull-only) credentials."""
    return registry_token.with_credentials(TOKEN_READER, token_service.users[TOKEN_READER].password)


@pytest.fixture(scope='session')
def registry_token_anonymous(registry_token: Registry) -> Registry:
    return registry_token.with_credentials(None, None)


@pytest.fixture
def faulty_front(request: pytest.FixtureRequest, registry_workdir: pathlib.Path) -> t.Iterator[t.Callable[..., FaultyFront]]:
    """Factory: ``faulty_front(fail_first=1, *, status=503, retry_after=None, match=None, mode='status',
    upstream=None)`` starts a ``FaultyFront`` (before ``registry_plain`` unless ``upstream``); stopped after the test."""
    fronts: list[FaultyFront] = []

    def make(fail_first: int = 1, *, upstream: Registry | None = None, **options: t.Any) -> FaultyFront:
        target = upstream or request.getfixturevalue('registry_plain')
        log_path = registry_workdir / 'fronts' / f'{request.node.name}-{len(fronts)}.log'.replace('/', '_')
        log_path.parent.mkdir(parents=True, exist_ok=True)
        front = FaultyFront(target, log_path, fail_first=fail_first, **options).start()
        fronts.append(front)
        return front

    try:
        yield make
    finally:
        for front in fronts:
            front.stop()


@pytest.fixture
def registry_down() -> t.Iterator[Registry]:
    """A registry address where nothing listens: connections are refused."""
    with unused_address() as host:
        yield Registry(kind='down', host=host, url=f'http://{host}')


@pytest.fixture(scope='session')
def push_with_skopeo() -> t.Callable[..., subprocess.CompletedProcess]:
    """``push_with_skopeo(registry, source_ref, dest_repo_tag, *, username=…, password=…, check=True)``."""
    if shutil.which('skopeo') is None:
        pytest.fail('skopeo is not installed: run `make deps`')
    return skopeo_push


@pytest.fixture(scope='session')
def tiny_oci_image(registry_workdir: pathlib.Path) -> OciImage:
    return make_oci_layout(registry_workdir / 'images' / 'tiny', tag='v1')
