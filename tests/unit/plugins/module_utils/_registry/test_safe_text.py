# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._registry.safe_text import (
    MESSAGE_LIMIT,
    check_token,
    error_code,
    exception_text,
    printable,
    redact,
    url_text,
)


def test_printable_keeps_one_bounded_line() -> None:
    assert printable('a\r\nb\x00c\u00e9d') == 'a b c d'
    long = printable('x' * 10_000)
    assert len(long) == MESSAGE_LIMIT
    assert long.endswith('...')


def test_exception_texts_lose_queries_user_info_and_secrets() -> None:
    exc = ConnectionError("HTTPSConnectionPool(host='cdn.example.com', port=443): Max retries exceeded with url: "
                          "/blob/sha256:ab?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA (Caused by NewConnectionError("
                          "'https://user:hunter2@cdn.example.com/ refused'))\r\ninjected")
    text = exception_text(exc, ['tok-123'])
    assert 's3cr3t' not in text
    assert 'AKIA' not in text
    assert 'hunter2' not in text
    assert '\n' not in text
    assert '/blob/sha256:ab?<redacted>' in text
    assert 'https://cdn.example.com/' in text
    assert exception_text(OSError('the token tok-123 was refused'), ['tok-123']) == 'the token <redacted> was refused'
    assert exception_text(OSError()) == 'OSError'


def test_url_texts_keep_where_and_lose_what_is_secret() -> None:
    assert url_text('https://user:pw@cdn.example.com:8443/b/c?X-Amz-Signature=sig#part') == 'https://cdn.example.com:8443/b/c'


def test_redact_skips_empty_secrets() -> None:
    assert redact('abc', ['', 'b']) == 'a<redacted>c'


@pytest.mark.parametrize(('value', 'code'), [
    ('MANIFEST_UNKNOWN', 'MANIFEST_UNKNOWN'), ('DENIED', 'DENIED'), ('invalid_grant', None), ('DENIED\r\nX: y', None),
    ('A' * 65, None), (['DENIED'], None), (None, None),
])
def test_error_code(value: object, code: str | None) -> None:
    assert error_code(value) == code


def test_valid_tokens_pass() -> None:
    jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_+/='
    assert check_token(jwt, 'The token service') == jwt


@pytest.mark.parametrize('token', ['tok\r\nX-Injected: 1', 'tok\n', 'tok en', 'tok\x00', 'tök', 'tok\t'])
def test_tokens_a_header_cannot_carry_are_refused_unquoted(token: str) -> None:
    with pytest.raises(RegistryError, match='characters an HTTP header cannot carry') as caught:
        check_token(token, 'The token service')
    assert 'tok' not in str(caught.value).replace('token', '')


@pytest.mark.parametrize('token', [None, '', 42, ['tok']])
def test_a_missing_token_is_refused(token: object) -> None:
    with pytest.raises(RegistryError, match='sent no token'):
        check_token(token, 'The token service')
