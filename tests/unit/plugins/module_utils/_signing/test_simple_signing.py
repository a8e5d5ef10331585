# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import json

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import SignatureError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import PAYLOAD_LIMIT, SignedClaim, build_payload, parse_payload, signature_tag
from ansible_collections.wasm.oci.tests.unit.cosign_vectors import SIGNED_DIGEST, SIGNED_REFERENCE, folder_signatures, vector_path

VECTOR_PAYLOAD = folder_signatures('valid')[0].payload


def _key_structure(value: object) -> object:
    if isinstance(value, dict):
        return [(key, _key_structure(item)) for key, item in value.items()]
    return type(value).__name__


def test_cosign_constants_are_the_ones_cosign_writes() -> None:
    document = json.loads(vector_path('valid', 'signature-1.json').read_text(encoding='utf-8'))
    assert document['mimeType'] == mt.COSIGN_SIMPLE_SIGNING == 'application/vnd.dev.cosign.simplesigning.v1+json'
    assert list(document['annotations']) == [mt.ANNOTATION_COSIGN_SIGNATURE] == ['dev.cosignproject.cosign/signature']


def test_built_payload_is_byte_for_byte_the_vector_payload() -> None:
    assert build_payload(SIGNED_REFERENCE, SIGNED_DIGEST) == VECTOR_PAYLOAD


def test_built_payload_with_annotations_keeps_the_vector_key_structure() -> None:
    built = json.loads(build_payload('registry.test/filters/auth', SIGNED_DIGEST, {'ci': 'build 7', 'a': 'x'}))
    vector = json.loads(VECTOR_PAYLOAD)
    assert _key_structure(built['critical']) == _key_structure(vector['critical'])
    assert list(built) == list(vector) == ['critical', 'optional']
    assert built['optional'] == {'a': 'x', 'ci': 'build 7'}


def test_built_payload_sorts_annotations_and_escapes_as_go_does() -> None:
    payload = build_payload('r.test/x', SIGNED_DIGEST, {'z': '<a&b>', 'é': '\u2028'})
    assert payload.endswith(b'"optional":{"z":"\\u003ca\\u0026b\\u003e","\xc3\xa9":"\\u2028"}}')
    assert parse_payload(payload).annotations == {'z': '<a&b>', 'é': '\u2028'}


def test_parsing_the_vector_payload_gives_its_claim() -> None:
    assert parse_payload(VECTOR_PAYLOAD) == SignedClaim(SIGNED_REFERENCE, SIGNED_DIGEST, {})


def test_signature_tag_is_cosigns() -> None:
    assert signature_tag(SIGNED_DIGEST) == 'sha256-634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00.sig'


@pytest.mark.parametrize('digest', ['sha256:abc', 'sha512:' + 'a' * 128, 'latest', 'sha256:' + 'A' * 64, None])
def test_signature_tag_refuses_what_is_not_a_sha256_digest(digest: object) -> None:
    with pytest.raises(SignatureError, match='not a sha256:<64 hex> digest'):
        signature_tag(digest)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        build_payload('r.test/x', digest)  # type: ignore[arg-type]


def _with(path: tuple[str, ...], value: object) -> bytes:
    document = json.loads(VECTOR_PAYLOAD)
    holder = document
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(('payload', 'message'), [
    (b'not json', 'is not valid JSON'),
    (b'\xff\xfe', 'is not valid JSON'),
    (b'[]', 'is not a JSON object'),
    (b'[' * 1000 + b']' * 1000, 'nests arrays or objects'),
    (_with(('critical',), 'x'), "critical is not a JSON object"),
    (_with(('critical', 'type'), 'atomic container signature'), 'critical.type is not'),
    (_with(('critical', 'identity'), None), 'critical.identity is not a JSON object'),
    (_with(('critical', 'identity', 'docker-reference'), 5), 'docker-reference is not a string'),
    (_with(('critical', 'image'), []), 'critical.image is not a JSON object'),
    (_with(('critical', 'image', 'docker-manifest-digest'), 'sha256:1234'), 'docker-manifest-digest is not a sha256'),
    (_with(('critical', 'image', 'docker-manifest-digest'), {'x': 1}), 'docker-manifest-digest is not a sha256'),
    (_with(('optional',), ['a']), 'optional is neither an object nor null'),
    (b' ' * (PAYLOAD_LIMIT + 1), f'more than the {PAYLOAD_LIMIT} bytes'),
])
def test_malformed_payloads_are_clear_signature_errors(payload: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        parse_payload(payload)
