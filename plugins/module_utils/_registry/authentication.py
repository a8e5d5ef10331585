# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Answering a registry's 401 challenge: Basic credentials, or a bearer token from the realm it names.

The Authorization each scope earned is kept, so later requests in that scope send it up front (Basic
credentials hold for every scope). Only a 401 from the registry itself is answered: a redirect target
asking for credentials is not the registry. The realm is judged by the destination rules before it
is asked (destinations.py); its answer is read only up to a small limit, its token used only if it
can go into a header as it is, and its errors are reported by status and code only.
"""

from __future__ import annotations

import base64
import json
import re
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.wasm.oci.plugins.module_utils._registry.destinations import RefusedDestination, origin_of
from ansible_collections.wasm.oci.plugins.module_utils._registry.safe_text import check_token, error_code, printable
from ansible_collections.wasm.oci.plugins.module_utils._registry.sender import BodyOpener, Sender
from ansible_collections.wasm.oci.plugins.module_utils._registry.transport import JSON_ERRORS, SMALL_BODY_LIMIT, Reply

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def basic_authorization(credentials: Credentials) -> str:
    pair = f'{credentials.username}:{credentials.password}'.encode()
    return 'Basic ' + base64.b64encode(pair).decode('ascii')


class Authentication:
    """The Authorization of one registry client, per scope (``repository:filters/x:pull``)."""

    def __init__(self, sender: Sender, credentials: Credentials | None) -> None:
        self.sender = sender
        self.credentials = credentials
        self._authorization: dict[str, str] = {}
        # Basic credentials hold for every scope, so once challenged they are sent up front.
        self._basic_authorization: str | None = None

    def secrets(self) -> list[str]:
        """What must never appear in a message, should a registry or a library quote it."""
        # A copy first: a pull fetches its config in another thread, which may be adding a scope meanwhile.
        secrets = [value.split(' ', 1)[1] for value in list(self._authorization.values())]
        if self.credentials:
            secrets += [self.credentials.password, basic_authorization(self.credentials).split(' ', 1)[1]]
        return secrets

    def send(self, method: str, url: str, headers: dict[str, str], body: BodyOpener | None, operation: str, scope: str, *,
             retry: bool = True, transfer: int = 0) -> Reply:
        """The reply to a request authorized for ``scope``, after answering the registry's 401 challenge once."""
        authorization = self._authorization.get(scope) or self._basic_authorization
        registry = self.sender.destinations.registry
        reply = self.sender.send(method, url, headers, body, operation, retry=retry, authorization=authorization,
                                 authorized=registry, transfer=transfer)
        if reply.status == 401 and origin_of(reply.url) == registry:
            # No credentials sent yet, or a cached token expired.
            challenge = reply.headers.get('WWW-Authenticate', '')
            reply.close()
            authorization = self._authenticate(challenge, scope, operation)
            reply = self.sender.send(method, url, headers, body, operation, retry=retry, authorization=authorization,
                                     authorized=registry, transfer=transfer)
        return reply

    def _authenticate(self, challenge: str, scope: str, operation: str) -> str:
        scheme = challenge.split(' ', 1)[0].lower()
        if scheme == 'basic':
            if not self.credentials:
                raise RegistryError(f'{operation} failed: {self.sender.registry} requires a username and password')
            authorization = self._basic_authorization = basic_authorization(self.credentials)
        elif scheme == 'bearer':
            authorization = 'Bearer ' + self._fetch_token(dict(_CHALLENGE_PARAM.findall(challenge)), scope, operation)
        else:
            raise RegistryError(f'{operation} failed: {self.sender.registry} asks for unsupported authentication '
                                f'{printable(scheme, 40)!r}')
        self._authorization[scope] = authorization
        return authorization

    def _fetch_token(self, challenge: dict[str, str], scope: str, operation: str) -> str:
        realm = challenge.get('realm')
        if not realm:
            raise RegistryError(f'{operation} failed: {self.sender.registry} sent a bearer challenge without a realm')
        try:
            with_credentials = self.sender.destinations.realm_carries_credentials(realm)
        except RefusedDestination as exc:
            raise RefusedDestination(f'{operation} failed: {self.sender.registry} asks for a token from {exc}; refusing to '
                                     'ask there') from None
        service = f'the token service at {origin_of(realm)}'
        query = [('scope', item) for item in scope.split(' ') if item]
        if challenge.get('service'):
            query.insert(0, ('service', challenge['service']))
        authorization = basic_authorization(self.credentials) if self.credentials and with_credentials else None
        url = realm + ('&' if '?' in realm else '?') + urllib.parse.urlencode(query)
        with self.sender.send('GET', url, {}, None, f'{operation} ({service})', authorization=authorization,
                              authorized=origin_of(realm)) as reply:
            if reply.status != 200:
                _raise_token_error(reply, operation, service)
            data = reply.body(SMALL_BODY_LIMIT + 1).read()
        if len(data) > SMALL_BODY_LIMIT:
            raise RegistryError(f'{operation} failed: {service} sent more than {SMALL_BODY_LIMIT} bytes')
        try:
            answer = json.loads(data.decode('utf-8'))
            token = answer.get('token') or answer.get('access_token')
        except (UnicodeDecodeError, *JSON_ERRORS):
            token = None
        return check_token(token, f'{operation} failed: {service}')


def _raise_token_error(reply: Reply, operation: str, service: str) -> t.NoReturn:
    """The status and the error code; never the body's text, which may quote what was sent."""
    document = reply.small_json()
    code = None
    if isinstance(document, dict):
        errors = document.get('errors')
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        code = error_code(first.get('code') or document.get('error'))
    hint = ' Check username and password.' if reply.status in (401, 403) else ''
    raise RegistryError(f'{operation} failed: {service} answered HTTP {reply.status}{f" {code}" if code else ""}.{hint}',
                        status=reply.status, code=code)
