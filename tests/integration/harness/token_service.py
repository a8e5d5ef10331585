"""A small bearer-token service for CNCF Distribution's ``auth.token``, run in a thread of the test process.

It speaks the Docker token protocol: ``GET /token?service=S&scope=T:NAME:ACTIONS&...`` with optional Basic
credentials (and the OAuth2 form ``POST /token`` with ``grant_type=password``), and answers
``{"token", "access_token", "expires_in", "issued_at"}``. Tokens are RS256 JWTs whose header carries an
``x5c`` chain of one self-signed certificate; that certificate is the registry's ``rootcertbundle``, so
Distribution accepts the signature without a libtrust ``kid``.

Scopes are enforced: each user is granted only the intersection of what was asked and what the user may
do; anonymous callers get a token with no access at all (as Docker Hub would), and wrong credentials get 401.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import http.server
import json
import pathlib
import secrets
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ANONYMOUS = ''


@dataclasses.dataclass(frozen=True)
class User:
    password: str
    # Actions granted on every repository, e.g. {'pull', 'push'}; '*' grants all that is asked.
    actions: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Grant:
    """One token issued: who asked, what they asked for and what the token allows."""

    account: str
    service: str
    requested: tuple[str, ...]
    access: tuple[dict, ...]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """Split ``repository:name:pull,push`` (the name may hold colons, e.g. a port) into its parts."""
    kind, _sep, rest = scope.partition(':')
    name, _sep, actions = rest.rpartition(':')
    if not kind or not name:
        raise ValueError(f'malformed scope {scope!r}')
    return kind, name, [action for action in actions.split(',') if action]


def serve_in_thread(handler: type[http.server.BaseHTTPRequestHandler], name: str) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    """Serve ``handler`` on a free loopback port from a daemon thread."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return server, thread


def stop_serving(server: http.server.ThreadingHTTPServer | None, thread: threading.Thread | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=10)


class TokenService:
    """Issue signed tokens for ``service`` from ``issuer``; ``start()`` serves them on 127.0.0.1."""

    def __init__(self, key_path: pathlib.Path, cert_path: pathlib.Path, users: dict[str, User],
                 service: str = 'wasm-oci-test-registry', issuer: str = 'wasm-oci-test-token-service',
                 expires_in: int = 300) -> None:
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.users = dict(users)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError(f'{key_path} is not an RSA key')
        self._key = key
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        self._x5c = [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode('ascii')]
        self._lock = threading.Lock()
        self._grants: list[Grant] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- tokens ---------------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str | None:
        """The account named by a Basic ``Authorization`` header, ANONYMOUS without one, None when wrong."""
        if not authorization:
            return ANONYMOUS
        scheme, _sep, value = authorization.partition(' ')
        if scheme.lower() != 'basic':
            return None
        try:
            username, _sep, password = base64.b64decode(value.strip(), validate=True).decode('utf-8').partition(':')
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self.check_password(username, password)

    def check_password(self, username: str, password: str) -> str | None:
        user = self.users.get(username)
        if user is None or not secrets.compare_digest(user.password.encode(), password.encode()):
            return None
        return username

    def allowed_access(self, account: str, scopes: list[str]) -> list[dict]:
        """What ``account`` gets of ``scopes``: only repository actions its user has, nothing for anonymous."""
        user = self.users.get(account) if account else None
        access: list[dict] = []
        for scope in scopes:
            try:
                kind, name, actions = parse_scope(scope)
            except ValueError:
                continue
            if user is None or kind != 'repository':
                granted: list[str] = []
            elif '*' in user.actions:
                granted = actions
            else:
                granted = [action for action in actions if action in user.actions]
            if granted:
                access.append({'type': kind, 'name': name, 'actions': granted})
        return access

    def issue(self, account: str, service: str, scopes: list[str]) -> dict:
        access = self.allowed_access(account, scopes)
        now = int(time.time())
        header = {'typ': 'JWT', 'alg': 'RS256', 'x5c': self._x5c}
        claims = {
            'iss': self.issuer,
            'sub': account,
            'aud': service,  # Distribution 2.8 compares a single string
            'exp': now + self.expires_in,
            'nbf': now - 10,
            'iat': now,
            'jti': secrets.token_hex(16),
            'access': access,
        }
        signing_input = f'{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}'
        signature = self._key.sign(signing_input.encode('ascii'), padding.PKCS1v15(), hashes.SHA256())
        token = f'{signing_input}.{_b64url(signature)}'
        with self._lock:
            self._grants.append(Grant(account, service, tuple(scopes), tuple(access)))
        return {
            'token': token,
            'access_token': token,
            'expires_in': self.expires_in,
            'issued_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now)),
        }

    @property
    def grants(self) -> list[Grant]:
        with self._lock:
            return list(self._grants)

    def clear_grants(self) -> None:
        with self._lock:
            self._grants.clear()

    # -- serving --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError('the token service is not started')
        host, port = self._server.server_address[:2]
        return f'http://{host}:{port}'

    @property
    def realm(self) -> str:
        return f'{self.url}/token'

    def start(self) -> TokenService:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def _answer(self, status: int, document: dict, extra_headers: dict[str, str] | None = None) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                for name, value in (extra_headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _unauthorized(self) -> None:
                self._answer(401, {'errors': [{'code': 'UNAUTHORIZED', 'message': 'wrong username or password'}]},
                             {'WWW-Authenticate': 'Basic realm="wasm-oci-test-token-service"'})

            def do_GET(self):  # pylint: disable=invalid-name
                url = urllib.parse.urlsplit(self.path)
                if url.path != '/token':
                    self._answer(404, {'errors': [{'code': 'NOT_FOUND', 'message': url.path}]})
                    return
                query = urllib.parse.parse_qs(url.query)
                account = service.authenticate(self.headers.get('Authorization'))
                if account is None:
                    self._unauthorized()
                    return
                scopes = [part for scope in query.get('scope', []) for part in scope.split(' ') if part]
                self._answer(200, service.issue(account, query.get('service', [service.service])[0], scopes))

            def do_POST(self):  # pylint: disable=invalid-name
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get('Content-Length') or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode('utf-8')) if length else {}
                if url.path != '/token':
                    self._answer(404, {'errors': [{'code': 'NOT_FOUND', 'message': url.path}]})
                    return
                if form.get('grant_type', [''])[0] != 'password':
                    self._answer(400, {'error': 'unsupported_grant_type'})
                    return
                account = service.check_password(form.get('username', [''])[0], form.get('password', [''])[0])
                if account is None:
                    self._unauthorized()
                    return
                scopes = [part for scope in form.get('scope', []) for part in scope.split(' ') if part]
                self._answer(200, service.issue(account, form.get('service', [service.service])[0], scopes))

        self._server, self._thread = serve_in_thread(Handler, 'token-service')
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
        self._server = self._thread = None
