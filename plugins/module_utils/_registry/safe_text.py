# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Text from a registry, or from the HTTP library, on its way into an error message or a request header.

Messages end up in task output and logs, so nothing secret may reach them: exception texts of
requests and urllib3 quote URLs (whose query may hold a presigned signature or an upload
session's state), and a hostile registry may echo the credentials it was sent.
"""

from __future__ import annotations

import re
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError

MESSAGE_LIMIT = 300
_UNPRINTABLE = re.compile(r'[^\x20-\x7e]+')
_QUERY = re.compile(r'\?[^\s\'"()<>]*')
_USERINFO = re.compile(r'//[^/\s@\'"]*@')
_ERROR_CODE = re.compile(r'[A-Z][A-Z0-9_]{0,63}')
# An HTTP header value we put a token into: visible ASCII, no spaces (RFC 7235 token68 and then some).
_HEADER_TOKEN = re.compile(r'[\x21-\x7e]+')
REDACTED = '<redacted>'


def printable(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` on one line of printable ASCII, at most ``limit`` characters."""
    text = _UNPRINTABLE.sub(' ', text).strip()
    return text if len(text) <= limit else text[:limit - 3] + '...'


def redact(text: str, secrets: t.Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def exception_text(exc: BaseException, secrets: t.Iterable[str] = ()) -> str:
    """What went wrong, from an exception of the HTTP library, without URL queries, user info or ``secrets``."""
    text = _USERINFO.sub('//', _QUERY.sub('?' + REDACTED, redact(str(exc), secrets)))
    return printable(text) or type(exc).__name__


def url_text(url: str) -> str:
    """``url`` for a message: scheme, host, port and path, without user info, query or fragment."""
    parts = urllib.parse.urlsplit(url)
    return printable(urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition('@')[2], parts.path, '', '')))


def error_code(value: t.Any) -> str | None:
    """An OCI error code (``MANIFEST_UNKNOWN``) as the registry sent it, or None when it is not one."""
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else None


def check_token(token: t.Any, what: str) -> str:
    """``token`` if it can go into an Authorization header as it is; the error never quotes it."""
    if not isinstance(token, str) or not token:
        raise RegistryError(f'{what} sent no token')
    if not _HEADER_TOKEN.fullmatch(token):
        raise RegistryError(f'{what} sent a token with characters an HTTP header cannot carry (control characters, '
                            'spaces or non-ASCII); refusing to use it')
    return token
