# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""How a request to a registry is sent: to an allowed destination, through its redirects, again after a passing fault.

Every request has a timeout and a deadline (transport.py). Every URL it contacts,
redirects included, goes through the destination rules (destinations.py): an Authorization
header only to the origin it is meant for, never from https to http. Connection errors, 429 and
5xx are retried a bounded number of times with bounded waits, honouring Retry-After; 4xx never is.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry.destinations import Destinations, Origin, RefusedDestination
from ansible_collections.wasm.oci.plugins.module_utils._registry.optional_requests import urllib3
from ansible_collections.wasm.oci.plugins.module_utils._registry.safe_text import exception_text, url_text
from ansible_collections.wasm.oci.plugins.module_utils._registry.transport import (
    TRANSPORT_ERRORS,
    Connections,
    Deadline,
    DeadlineExceeded,
    Reply,
    deadline_error,
    deadline_seconds,
)

_MAX_ATTEMPTS = 4
_MAX_BACKOFF = 10.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
# What a request may fail with for a while: a refused or broken connection, a proxy's failure, an answer too slow.
# (Not a connection that timed out, though urllib3's NewConnectionError is a ConnectTimeoutError.)
_PASSING_FAULTS = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProtocolError, urllib3.exceptions.ProxyError,
                   urllib3.exceptions.ReadTimeoutError) if urllib3 else ()

# Opens a request body anew for each try: a stream cannot be sent twice.
BodyOpener = t.Callable[[], t.Any]


@dataclasses.dataclass(frozen=True)
class RegistryOptions:
    validate_certs: bool = True
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    plain_http: bool = False
    timeout: float = 30.0


class Sender:
    """Sends the requests of one registry client: to the registry and to the URLs it names.

    ``registry`` names the registry in messages; ``secrets`` says what must never appear in one,
    should the HTTP library quote it.
    """

    def __init__(
        self, registry: str, destinations: Destinations, options: RegistryOptions, secrets: t.Callable[[], t.Iterable[str]],
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.registry = registry
        self.destinations = destinations
        self.timeout = options.timeout
        self.verify: bool | str = options.ca_path if options.validate_certs and options.ca_path else options.validate_certs
        self.cert = (options.client_cert, options.client_key) if options.client_cert else None
        self.connections = Connections(self.verify, self.cert)
        self.sleep = sleep
        self._secrets = secrets

    def send(self, method: str, url: str, headers: dict[str, str], body: BodyOpener | None, operation: str, *, retry: bool = True,
             authorization: str | None = None, authorized: Origin | None = None, transfer: int = 0) -> Reply:
        """The reply to a request, sent again after a passing fault unless ``retry`` is False.

        ``authorization`` goes only to the ``authorized`` origin; ``transfer`` is the size of the body sent or expected.
        """
        attempts = _MAX_ATTEMPTS if retry else 1
        attempt = 0
        while True:
            attempt += 1
            hops: list[str] = []
            try:
                reply = self._exchange(method, url, headers, body, operation, authorization, authorized, transfer, hops)
            except urllib3.exceptions.SSLError as exc:
                raise RegistryError(
                    f'{operation} failed: TLS error talking to {self.registry}: {exception_text(exc, self._secrets())}. '
                    'Set ca_path to the CA that signed the registry certificate, or plain_http for a registry without TLS'
                ) from None
            except _PASSING_FAULTS as exc:
                if attempt >= attempts:
                    raise RegistryError(
                        f'{operation} failed: cannot reach {self.registry} after {attempt} attempts '
                        f'(timeout {self.timeout:g}s), last at {url_text(hops[-1])}: {exception_text(exc, self._secrets())}'
                    ) from None
                self.sleep(self._backoff(attempt))
                continue
            except urllib3.exceptions.ConnectTimeoutError:
                # A host that does not answer at all will not answer a retry either.
                raise RegistryError(f'{operation} failed: {self.registry} did not answer within {self.timeout:g}s') from None
            except TRANSPORT_ERRORS as exc:
                # For example a certificate file requests cannot load.
                raise RegistryError(f'{operation} failed: {exception_text(exc, self._secrets())}') from None
            if reply.status not in _RETRY_STATUSES or attempt >= attempts:
                return reply
            reply.close()
            self.sleep(self._retry_delay(reply, attempt))

    def repeat(self, action: t.Callable[[], None]) -> None:
        """Run ``action``, requests sent with ``retry=False`` such as an upload session, again after a passing fault."""
        attempt = 0
        while True:
            attempt += 1
            try:
                action()
                return
            except RegistryError as exc:
                # Refusals and deadlines are the registry's doing, not a passing fault.
                permanent = isinstance(exc, (RefusedDestination, DeadlineExceeded)) or exc.status not in _RETRY_STATUSES | {None}
                if attempt >= _MAX_ATTEMPTS or permanent:
                    raise
                self.sleep(self._backoff(attempt))

    def _exchange(self, method: str, url: str, headers: dict[str, str], body: BodyOpener | None, operation: str,
                  authorization: str | None, authorized: Origin | None, transfer: int, hops: list[str]) -> Reply:
        """One try: the request and, for GET and HEAD, its redirects, each hop under the destination rules.

        Each URL is added to ``hops`` before it is sent, so that an error can say which one failed.
        """
        for _hop in range(_MAX_REDIRECTS + 1):
            origin = self._check_destination(url, operation)
            hop_headers = dict(headers)
            # Whichever hop reaches the authorized origin gets the header, and no other hop does.
            if authorization and origin == authorized:
                hop_headers['Authorization'] = authorization
            hops.append(url)
            reply = self._send_once(method, url, hop_headers, body, operation, transfer)
            if reply.status not in _REDIRECT_STATUSES or method not in ('GET', 'HEAD'):
                return reply
            reply.close()
            location = reply.headers.get('Location')
            if not location:
                raise RegistryError(f'{operation} failed: HTTP {reply.status} without a Location to go to')
            url = urllib.parse.urljoin(reply.url, location)
        raise RegistryError(f'{operation} failed: more than {_MAX_REDIRECTS} redirects')

    def _check_destination(self, url: str, operation: str) -> Origin:
        try:
            return self.destinations.check(url)
        except RefusedDestination as exc:
            raise RefusedDestination(f'{operation} failed: {self.registry} sent the client to {exc}; refusing to go there') from None

    def _send_once(self, method: str, url: str, headers: dict[str, str], body: BodyOpener | None, operation: str, transfer: int) -> Reply:
        """One HTTP request under its deadline."""
        deadline = Deadline(deadline_seconds(self.timeout, transfer))
        data = body() if body else None
        try:
            response = self.connections.send(deadline, method, url, {'Accept-Encoding': 'identity', **headers}, data, self.timeout)
        except TRANSPORT_ERRORS:
            deadline.finish()
            if deadline.expired:
                raise deadline_error(operation, deadline) from None
            raise
        finally:
            if data is not None and hasattr(data, 'close'):
                data.close()
        return Reply(response, url, deadline, operation)

    def _backoff(self, attempt: int) -> float:
        """A wait before another try: growing, but never longer than 10s or the timeout."""
        return min(0.5 * 2.0 ** attempt, _MAX_BACKOFF, self.timeout)

    def _retry_delay(self, reply: Reply, attempt: int) -> float:
        retry_after = reply.headers.get('Retry-After', '')
        if retry_after.isdigit():
            return min(float(retry_after), _MAX_BACKOFF, self.timeout)
        return self._backoff(attempt)
