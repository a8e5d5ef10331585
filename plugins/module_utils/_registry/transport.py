# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""HTTP exchanges with a deadline each, and response bodies read a bounded amount at a time.

The socket timeout bounds each read; a server sending one byte just inside it would hold a
request forever. So each request also has a deadline: when it passes, the request's socket is
shut down from a watchdog thread (one for all requests), which wakes whatever read or write is
blocked on it, and the request fails. The socket is found through the connection classes of the
client's pools, which hand it to the deadline of the request being sent on their thread.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import threading
import time
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry.optional_requests import requests, socks_proxy_manager, urllib3
from ansible_collections.wasm.oci.plugins.module_utils._registry.safe_text import exception_text

# A request may take this many times the timeout, plus the time its body needs at MIN_RATE.
DEADLINE_TIMEOUTS = 2
MIN_RATE = 16 * 1024  # bytes per second
# What is kept of a body that is only read for a message or a token.
SMALL_BODY_LIMIT = 64 * 1024
SEND_BLOCK_SIZE = 1024 * 1024
_POOL_SIZE = 10

TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError) if urllib3 else ()
# What parsing a JSON body a registry sent, and looking into it, may raise: the body may be any shape, or nested deep.
JSON_ERRORS = (ValueError, AttributeError, IndexError, TypeError, KeyError, RecursionError)

_sending = threading.local()


def deadline_seconds(timeout: float, transfer: int = 0) -> float:
    """How long a request may take when ``transfer`` bytes of body go one way or the other."""
    return DEADLINE_TIMEOUTS * timeout + transfer / MIN_RATE


class _Watchdog:
    """One daemon thread that expires each Deadline when its time comes.

    A thread per request (threading.Timer) cost about half a millisecond per request in a new process: more than a
    small request to a registry nearby takes.
    """

    _condition: threading.Condition
    _due: dict[Deadline, float]  # when each unfinished deadline passes (time.monotonic)
    _thread: threading.Thread | None

    def __init__(self) -> None:
        self.start_afresh()

    def start_afresh(self) -> None:
        """No deadlines and no thread yet. Also in a forked child: it has no watchdog thread, which may have held the
        lock at the fork."""
        self._condition = threading.Condition()
        self._due = {}
        self._thread = None

    def watch(self, deadline: Deadline, seconds: float) -> None:
        due = time.monotonic() + seconds
        with self._condition:
            soonest = min(self._due.values(), default=None)
            self._due[deadline] = due
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name='wasm-oci-deadlines', daemon=True)
                self._thread.start()
            elif soonest is None or due < soonest:
                # Only a deadline sooner than every other changes how long the watchdog sleeps.
                self._condition.notify()

    def forget(self, deadline: Deadline) -> None:
        with self._condition:
            self._due.pop(deadline, None)

    def _run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                passed = [deadline for deadline, due in self._due.items() if due <= now]
                for deadline in passed:
                    del self._due[deadline]
                if not passed:
                    self._condition.wait(min(self._due.values()) - now if self._due else None)
                    continue
            for deadline in passed:
                deadline.expire()


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.start_afresh)


class Deadline:
    """The moment one request (connection, headers and body) must be over."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        _watchdog.watch(self, seconds)

    def watch(self, sock: t.Any) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._socket = sock
            if self.expired:
                _shut_down(sock)

    def expire(self) -> None:
        """The deadline passed: shut the request's socket down (a finished request has handed it back already)."""
        with self._lock:
            self.expired = True
            if self._socket is not None:
                _shut_down(self._socket)

    def finish(self) -> None:
        """The request is over: leave its socket (back in the pool) alone."""
        _watchdog.forget(self)
        with self._lock:
            self._socket = None


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        # socket.socket's own shutdown, also for a TLS socket: the peer sees no close_notify, and a
        # read blocked in another thread wakes up with end of file.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(sock: t.Any) -> None:
    deadline = getattr(_sending, 'deadline', None)
    if deadline is not None:
        deadline.watch(sock)


def _watched(connection_class: type) -> type:
    """``connection_class`` handing its socket to the deadline of the request being sent on its thread."""
    # mypy cannot check a class whose base is chosen at run time (urllib3's HTTP or HTTPS connection).
    class WatchedConnection(connection_class):  # type: ignore[misc]
        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            # Request bodies (blob uploads) are read and sent this much at a time: 8 or 16 KiB by default, which for a
            # large blob costs more in calls through the digest check than the upload itself. Set, not defaulted: urllib3 2
            # passes its own 16 KiB to every connection its pools make.
            kwargs['blocksize'] = SEND_BLOCK_SIZE
            super().__init__(*args, **kwargs)

        def connect(self) -> None:
            super().connect()
            _watch(self.sock)

        def request(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
            _watch(self.sock)
            return super().request(*args, **kwargs)

        def getresponse(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
            _watch(self.sock)
            return super().getresponse(*args, **kwargs)

    return WatchedConnection


@functools.cache
def _watched_pools() -> dict[str, type]:
    """Pool classes for http and https whose connections are watched (built once requests is known to exist)."""
    class WatchedHTTPPool(urllib3.HTTPConnectionPool):
        ConnectionCls = _watched(urllib3.connection.HTTPConnection)

    class WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = _watched(urllib3.connection.HTTPSConnection)

    return {'http': WatchedHTTPPool, 'https': WatchedHTTPSPool}


def _use_watched_pools(manager: t.Any) -> t.Any:
    # A SOCKS proxy manager has pools of its own; its requests keep the socket timeout only.
    if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _watched_pools()
    return manager


class Connections:
    """The connections of one registry client: urllib3 pools, to each URL directly or through the proxy the environment
    names for it, checking certificates as ``verify`` says (False; True: against REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
    when set, else requests' CA bundle; or the path of a CA file or directory), presenting ``cert`` (certificate and
    key files) when given.

    What requests would decide for each request (the proxy, the CA bundle) it decides once, by requests' rules: through
    a requests session each request took twice as long on the client's side, most of a small pull's excess over the
    floor (docs/performance.md).
    """

    def __init__(self, verify: bool | str, cert: tuple[str, str | None] | None) -> None:
        if verify is True:
            verify = os.environ.get('REQUESTS_CA_BUNDLE') or os.environ.get('CURL_CA_BUNDLE') or requests.utils.DEFAULT_CA_BUNDLE_PATH
        self._verify = verify
        self._tls: dict[str, t.Any] = {'cert_reqs': 'CERT_REQUIRED' if verify else 'CERT_NONE'}
        if isinstance(verify, str):
            self._tls['ca_cert_dir' if os.path.isdir(verify) else 'ca_certs'] = verify
        if cert:
            self._tls.update(cert_file=cert[0], key_file=cert[1])
        self._user_agent = requests.utils.default_user_agent()
        self._proxies: dict[tuple[str, str], str | None] = {}  # by scheme and host:port
        self._managers: dict[str | None, t.Any] = {}  # by proxy

    def send(self, deadline: Deadline, method: str, url: str, headers: dict[str, str], body: t.Any, timeout: float) -> t.Any:
        """The response (urllib3's, its body left to stream) to one request, its socket watched by ``deadline``."""
        if url.lower().startswith('https:') and isinstance(self._verify, str) and not os.path.exists(self._verify):
            raise OSError(f'Could not find a suitable TLS CA certificate bundle, invalid path: {self._verify}')
        manager = self._manager(self._proxy_for(url))
        _sending.deadline = deadline
        try:
            return manager.request(method, url, headers={'User-Agent': self._user_agent, **headers}, body=body,
                                   timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False, redirect=False,
                                   preload_content=False, decode_content=False)
        finally:
            _sending.deadline = None

    def _proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url`` (http_proxy, https_proxy, all_proxy, no_proxy), or None."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._proxies:
            proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
            if proxy:
                proxy = proxy if '://' in proxy else f'http://{proxy}'
                if not urllib3.util.parse_url(proxy).host:
                    raise RegistryError(f'The proxy the environment names for {parts.scheme}://{parts.netloc} has no host; '
                                        'fix the proxy variables (https_proxy, http_proxy, all_proxy)')
            self._proxies[key] = proxy
        return self._proxies[key]

    def _manager(self, proxy: str | None) -> t.Any:
        manager = self._managers.get(proxy)
        if manager is None:
            # As many connections per host as requests keeps: a download and the small blob fetched beside it each need one.
            pools = dict(maxsize=_POOL_SIZE, **self._tls)
            if proxy is None:
                manager = urllib3.PoolManager(**pools)
            else:
                username, password = requests.utils.get_auth_from_url(proxy)
                if proxy.lower().startswith('socks'):
                    manager = socks_proxy_manager()(proxy, username=username or None, password=password or None, **pools)
                else:
                    proxy_headers = urllib3.util.make_headers(proxy_basic_auth=f'{username}:{password}') if username else None
                    manager = urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **pools)
            # Two threads (a download and the config beside it) that both made one use the same.
            manager = self._managers.setdefault(proxy, _use_watched_pools(manager))
        return manager


class Body:
    """A response body read under its request's deadline, never more than ``limit`` bytes in all."""

    def __init__(self, raw: t.Any, deadline: Deadline, operation: str, limit: int | None = None) -> None:
        self._raw = raw
        self._deadline = deadline
        self._operation = operation
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        if self._left is not None:
            size = self._left if size < 0 else min(size, self._left)
        elif size < 0:
            raise ValueError('a body without a limit is read a bounded amount at a time')
        if size == 0:
            return b''
        try:
            # Bodies are asked for without content encoding: decoding would let a small body grow without bound.
            data: bytes = self._raw.read(size, decode_content=False)
        except TRANSPORT_ERRORS as exc:
            self._check_deadline()
            raise RegistryError(f'{self._operation} failed: the connection broke while reading the body: '
                                f'{exception_text(exc)}') from None
        self._check_deadline()
        if self._left is not None:
            self._left -= len(data)
        return data

    def _check_deadline(self) -> None:
        if self._deadline.expired:
            raise deadline_error(self._operation, self._deadline)


class DeadlineExceeded(RegistryError):
    """A request that was not over by its deadline."""


def deadline_error(operation: str, deadline: Deadline) -> DeadlineExceeded:
    return DeadlineExceeded(f'{operation} failed: the registry did not finish answering within {deadline.seconds:g}s '
                            '(it sent too slowly, or stopped); raise timeout if the registry is just slow')


class Reply:
    """One response: status, headers and URL at once, the body on demand, under the request's deadline."""

    def __init__(self, response: t.Any, url: str, deadline: Deadline, operation: str) -> None:
        self._response = response
        self._deadline = deadline
        self._operation = operation
        self.status: int = response.status
        self.headers: t.Mapping[str, str] = response.headers
        self.url = url

    def body(self, limit: int | None = None) -> Body:
        return Body(self._response, self._deadline, self._operation, limit)

    def small_body(self) -> bytes:
        """At most SMALL_BODY_LIMIT bytes of the body, for a message or a token; the rest is never read."""
        return self.body(SMALL_BODY_LIMIT).read()

    def small_json(self) -> t.Any:
        """The small body as JSON, for an error code; None when it cannot be read or parsed."""
        try:
            return json.loads(self.small_body().decode('utf-8'))
        except (RegistryError, UnicodeDecodeError, *JSON_ERRORS):
            return None

    def close(self) -> None:
        self._deadline.finish()
        response = self._response
        if response.length_remaining == 0:
            # Nothing is left of the body (a HEAD, an empty answer, a body read to its end): reading its end hands the
            # connection back to the pool, and the next request to the registry needs no new one (nor TLS handshake).
            response.read(decode_content=False)
        # Else closing the response drops its connection instead of reading what is left of the body.
        response.close()
        response.release_conn()

    def __enter__(self) -> Reply:
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self.close()
