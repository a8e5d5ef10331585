# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import base64
import time

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import SignatureError, SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import VerificationKey, load_private_key, load_public_key
from ansible_collections.wasm.oci.plugins.module_utils._signing.signer import sign_payload
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import build_payload
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import (
    MAX_SIGNATURES,
    FoundSignature,
    Verdict,
    check_signature_count,
    verify_signatures,
)
from ansible_collections.wasm.oci.tests.unit.cosign_vectors import SIGNED_DIGEST, SIGNED_REFERENCE, folder_signatures, manifest_digest, signature, vector_path
from ansible_collections.wasm.oci.tests.unit.signing_fixtures import p256_key, private_pem

COSIGN = load_public_key(str(vector_path('cosign.pub')), 'verify_keys[0]')
COSIGN2 = load_public_key(str(vector_path('cosign2.pub')), 'verify_keys[1]')
VALID = folder_signatures('valid')[0]


def _only_refusals(verdict: Verdict) -> tuple[str, ...]:
    assert not verdict.verified
    assert not verdict.accepted
    with pytest.raises(SignatureError) as caught:
        verdict.require_verified()
    assert str(caught.value) == verdict.refusal_message()
    return verdict.refusals


def test_vector_valid_verifies_with_cosign_pub() -> None:
    verdict = verify_signatures(folder_signatures('valid'), manifest_digest('valid'), [COSIGN])
    assert manifest_digest('valid') == SIGNED_DIGEST
    assert [accepted.as_dict() for accepted in verdict.require_verified()] == [{'key': COSIGN.key_id, 'digest': SIGNED_DIGEST, 'annotations': {}}]


def test_vector_valid_two_signatures_verifies_both() -> None:
    verdict = verify_signatures(folder_signatures('valid-two-signatures'), manifest_digest('valid-two-signatures'), [COSIGN])
    assert len(verdict.require_verified()) == 2
    assert not verdict.refusals


def test_vector_modified_manifest_is_refused_for_digest_mismatch() -> None:
    digest = manifest_digest('modified-manifest')
    verdict = verify_signatures(folder_signatures('modified-manifest'), digest, [COSIGN])
    assert _only_refusals(verdict) == (f'signature 1: digest mismatch: it covers {SIGNED_DIGEST}, not {digest}',)
    assert verdict.refusal_message() == (f'Image {digest} has no signature that verifies with the keys tried ({COSIGN.key_id}): '
                                         f'found 1 signature, none accepted: signature 1: digest mismatch: it covers {SIGNED_DIGEST}, not {digest}')


def test_vector_unknown_key_signature_is_refused_as_another_keys() -> None:
    verdict = verify_signatures([signature(vector_path('unknown-key-signature.json'))], SIGNED_DIGEST, [COSIGN])
    assert _only_refusals(verdict) == ('signature 1: wrong key: none of the keys tried made it',)


@pytest.mark.parametrize('vector', ['valid', 'valid-two-signatures', 'modified-manifest', 'unknown-key-signature.json'])
def test_every_vector_with_cosign2_pub_is_refused_as_wrong_key(vector: str) -> None:
    found = [signature(vector_path(vector))] if vector.endswith('.json') else folder_signatures(vector)
    digest = SIGNED_DIGEST if vector.endswith('.json') else manifest_digest(vector)
    verdict = verify_signatures(found, digest, [COSIGN2])
    assert all(reason.endswith('wrong key: none of the keys tried made it') for reason in _only_refusals(verdict))
    assert len(verdict.refusals) == len(found)
    assert COSIGN2.key_id in verdict.refusal_message()


def test_any_one_of_several_keys_is_enough_and_is_named() -> None:
    verdict = verify_signatures(folder_signatures('valid'), SIGNED_DIGEST, [COSIGN2, COSIGN])
    assert [accepted.key for accepted in verdict.require_verified()] == [COSIGN.key_id]


def test_accepted_and_refused_signatures_side_by_side() -> None:
    found = [signature(vector_path('unknown-key-signature.json')), VALID]
    verdict = verify_signatures(found, SIGNED_DIGEST, [COSIGN])
    assert len(verdict.require_verified()) == 1
    assert verdict.refusals == ('signature 1: wrong key: none of the keys tried made it',)


def test_identity_is_checked_only_when_asked() -> None:
    assert verify_signatures([VALID], SIGNED_DIGEST, [COSIGN], identity=parse_reference(SIGNED_REFERENCE + ':1.0')).verified
    verdict = verify_signatures([VALID], SIGNED_DIGEST, [COSIGN], identity=parse_reference('registry.test/other'))
    assert _only_refusals(verdict) == (f"signature 1: identity mismatch: it names {SIGNED_REFERENCE!r}, not 'registry.test/other'",)


@pytest.mark.parametrize('claimed', ['index.docker.io/library/envoy-filter', 'docker.io/library/envoy-filter', 'envoy-filter:1.0'])
def test_identity_matches_docker_hub_however_it_is_spelled(claimed: str) -> None:
    signing_key = load_private_key(private_pem(p256_key()), None, 'key')
    payload = build_payload(claimed, SIGNED_DIGEST)
    found = FoundSignature(payload, sign_payload(signing_key, payload))
    assert verify_signatures([found], SIGNED_DIGEST, [signing_key.verification_key()], identity=parse_reference('envoy-filter')).verified


def test_a_layer_that_cannot_be_a_signature_is_refused_with_its_problem() -> None:
    verdict = verify_signatures([FoundSignature(b'', None, 'the layer is 104857600 bytes'), VALID], SIGNED_DIGEST, [COSIGN])
    assert len(verdict.require_verified()) == 1
    assert verdict.refusals == ('signature 1: the layer is 104857600 bytes',)


def test_no_signatures_names_the_tag_looked_for() -> None:
    verdict = verify_signatures([], SIGNED_DIGEST, [COSIGN, COSIGN2])
    _only_refusals(verdict)
    assert verdict.refusal_message() == (f'Image {SIGNED_DIGEST} has no signature that verifies with the keys tried ({COSIGN.key_id}, '
                                         f'{COSIGN2.key_id}): found no signatures (nothing is tagged sha256-{SIGNED_DIGEST[7:]}.sig)')


def test_sign_then_verify_round_trip_with_a_fresh_key() -> None:
    signing_key = load_private_key(private_pem(p256_key()), None, 'key')
    payload = build_payload('registry.test/filters/auth', SIGNED_DIGEST, {'ci': 'pipeline 12'})
    found = FoundSignature(payload, sign_payload(signing_key, payload))
    verdict = verify_signatures([found], SIGNED_DIGEST, [COSIGN, signing_key.verification_key()],
                                identity=parse_reference('registry.test/filters/auth'))
    assert [accepted.as_dict() for accepted in verdict.require_verified()] == [
        {'key': signing_key.key_id, 'digest': SIGNED_DIGEST, 'annotations': {'ci': 'pipeline 12'}}]
    tampered = FoundSignature(payload.replace(b'12', b'13'), found.signature)
    assert _only_refusals(verify_signatures([tampered], SIGNED_DIGEST, [signing_key.verification_key()])) == (
        'signature 1: wrong key: none of the keys tried made it',)


def test_a_signed_but_malformed_payload_is_refused_as_malformed() -> None:
    signing_key = load_private_key(private_pem(p256_key()), None, 'key')
    payload = b'{"critical":{"type":"something else"},"optional":null}'
    verdict = verify_signatures([FoundSignature(payload, sign_payload(signing_key, payload))], SIGNED_DIGEST, [signing_key.verification_key()])
    assert _only_refusals(verdict) == (('signature 1: malformed payload: The signature payload\'s critical.type is not '
                                        '"cosign container image signature"'),)


@pytest.mark.parametrize(('annotation', 'reason'), [
    (None, 'no dev.cosignproject.cosign/signature annotation'),
    ('not base64!', 'the signature is not base64'),
    ('é', 'the signature is not base64'),
    ('MEYCIQD', 'the signature is not base64'),
    (base64.b64encode(b'not DER at all').decode(), 'the signature is not a DER ECDSA signature'),
    ('A' * 10_000, 'the signature is 10000 characters, longer than any ECDSA P-256 signature'),
])
def test_unusable_signature_annotations_are_refused_with_their_reason(annotation: str | None, reason: str) -> None:
    verdict = verify_signatures([FoundSignature(VALID.payload, annotation)], SIGNED_DIGEST, [COSIGN])
    assert _only_refusals(verdict) == (f'signature 1: {reason}',)


def test_ten_thousand_signatures_fail_fast_without_verifying_any() -> None:
    calls: list[int] = []
    counting = VerificationKey(COSIGN.key_id, _CountingKey(COSIGN.public_key, calls))
    started = time.monotonic()
    with pytest.raises(SignatureError, match=f'holds 10000 signatures, more than the {MAX_SIGNATURES} allowed; refusing it unread'):
        verify_signatures([VALID] * 10_000, SIGNED_DIGEST, [counting])
    assert not calls
    assert time.monotonic() - started < 1
    check_signature_count(MAX_SIGNATURES)
    assert len(verify_signatures([VALID] * MAX_SIGNATURES, SIGNED_DIGEST, [counting]).require_verified()) == MAX_SIGNATURES


class _CountingKey:
    def __init__(self, key: object, calls: list[int]) -> None:
        self.key = key
        self.calls = calls

    def verify(self, *args: object) -> None:
        self.calls.append(1)
        self.key.verify(*args)  # type: ignore[attr-defined]


def test_no_keys_is_refused() -> None:
    with pytest.raises(SigningKeyError, match='at least one public key'):
        verify_signatures([VALID], SIGNED_DIGEST, [])
