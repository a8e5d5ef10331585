# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""sign_image's decisions (what is added, what is kept, when nothing changes), with the real registry client talking
to an in-memory Distribution. The same flows run against a real registry in tests/integration/test_signing.py."""

from __future__ import annotations

import hashlib
import json
import typing as t
import urllib.parse

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError, SignatureError, SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signer import check_annotations, sign_image
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import SigningKey, load_private_key
from ansible_collections.wasm.oci.plugins.module_utils._signing.signature_image import signature_image, signature_layer
from ansible_collections.wasm.oci.plugins.module_utils._signing.signer import sign_payload
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import build_payload, parse_payload, signature_tag
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import MAX_SIGNATURES, FoundSignature, verify_signatures
from ansible_collections.wasm.oci.tests.unit.plugins.module_utils._registry.scripted_registry import REGISTRY, FakeResponse, make_client
from ansible_collections.wasm.oci.tests.unit.signing_fixtures import p256_key, private_pem

REPOSITORY_PATH = '/v2/filters/x/'
SIGNED_AS = 'registry.example.com/filters/x'
IMAGE = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}'
KEY = load_private_key(private_pem(p256_key()), None, 'key')
OTHER_KEY = load_private_key(private_pem(p256_key()), None, 'key')


def _digest(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


DIGEST = _digest(IMAGE)
TAG = signature_tag(DIGEST)


class MemoryDistribution:
    """The Distribution API of registry.example.com/filters/x, in memory: the scripted client's connections."""

    def __init__(self) -> None:
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.sent: list[tuple[str, str]] = []
        self.uploaded: list[str] = []
        self.put_manifest('1', mt.OCI_MANIFEST, IMAGE)

    def put_manifest(self, version: str, media_type: str, data: bytes) -> None:
        self.manifests[version] = self.manifests[_digest(data)] = (media_type, data)

    def send(self, deadline: t.Any, method: str, url: str, headers: dict[str, str], data: t.Any, timeout: float) -> FakeResponse:
        parts = urllib.parse.urlsplit(url)
        assert parts.path.startswith(REPOSITORY_PATH), url
        kind, _slash, name = parts.path[len(REPOSITORY_PATH):].partition('/')
        self.sent.append((method, f'{kind}/{name}'))
        body = data.read() if hasattr(data, 'read') else data
        if kind == 'manifests':
            return self._manifest(method, url, name, headers, body)
        if name.startswith('uploads/'):
            if method == 'POST':
                return FakeResponse(url, 202, {'Location': f'{REGISTRY}{REPOSITORY_PATH}blobs/uploads/session'})
            digest = urllib.parse.parse_qs(parts.query)['digest'][0]
            assert method == 'PUT'
            assert _digest(body) == digest
            self.blobs[digest] = body
            self.uploaded.append(digest)
            return FakeResponse(url, 201)
        blob = self.blobs.get(name)
        if blob is None:
            return FakeResponse(url, 404)
        return FakeResponse(url, 200, {'Content-Length': str(len(blob))}, b'' if method == 'HEAD' else blob)

    def _manifest(self, method: str, url: str, version: str, headers: dict[str, str], body: bytes | None) -> FakeResponse:
        if method == 'PUT':
            assert body is not None
            self.put_manifest(version, headers['Content-Type'], body)
            return FakeResponse(url, 201, {'Docker-Content-Digest': _digest(body)})
        found = self.manifests.get(version)
        if found is None:
            return FakeResponse(url, 404)
        media_type, data = found
        answer = {'Content-Type': media_type, 'Docker-Content-Digest': _digest(data), 'Content-Length': str(len(data))}
        return FakeResponse(url, 200, answer, b'' if method == 'HEAD' else data)

    def signature_manifest(self) -> dict[str, t.Any] | None:
        found = self.manifests.get(TAG)
        return None if found is None else json.loads(found[1])

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.sent if method in ('PUT', 'POST', 'PATCH', 'DELETE')]


@pytest.fixture
def registry() -> MemoryDistribution:
    return MemoryDistribution()


def _client(registry: MemoryDistribution, reference: str | None = None) -> RegistryClient:
    client, _connections, _sleeps = make_client(lambda method, url, headers: FakeResponse(url, 500), credentials=False)
    client.sender.connections = registry  # type: ignore[assignment]
    if reference is not None:
        client.reference = parse_reference(reference)
    return client


def _sign(registry: MemoryDistribution, key: SigningKey = KEY, annotations: dict[str, str] | None = None, check_mode: bool = False,
          reference: str | None = None) -> t.Any:
    return sign_image(_client(registry, reference), key, annotations or {}, check_mode)


def _claims(registry: MemoryDistribution) -> list[tuple[t.Any, FoundSignature]]:
    manifest = registry.signature_manifest()
    assert manifest is not None
    found = [FoundSignature(registry.blobs[layer['digest']], layer['annotations'][mt.ANNOTATION_COSIGN_SIGNATURE]) for layer in manifest['layers']]
    return [(parse_payload(signature.payload), signature) for signature in found]


def _store_signatures(registry: MemoryDistribution, layers: list[dict[str, t.Any]], payloads: list[bytes]) -> bytes:
    manifest, config = signature_image(layers)
    for blob in (config, *payloads):
        registry.blobs[_digest(blob)] = blob
    registry.put_manifest(TAG, mt.OCI_MANIFEST, manifest)
    return manifest


def test_a_tag_is_resolved_and_its_digest_signed(registry: MemoryDistribution) -> None:
    outcome = _sign(registry, annotations={'ci': '1'})
    assert (outcome.changed, outcome.digest, outcome.signature_tag) == (True, DIGEST, TAG)
    [(claim, found)] = _claims(registry)
    assert (claim.docker_reference, claim.manifest_digest, claim.annotations) == (SIGNED_AS, DIGEST, {'ci': '1'})
    assert found.payload == build_payload(SIGNED_AS, DIGEST, {'ci': '1'})
    assert verify_signatures([found], DIGEST, [KEY.verification_key()]).verified
    assert outcome.before == []
    assert outcome.after == [_digest(found.payload)]
    manifest = registry.signature_manifest()
    assert manifest is not None
    assert registry.manifests[TAG][0] == mt.OCI_MANIFEST
    assert manifest['config']['digest'] in registry.blobs


def test_a_digest_reference_signs_that_digest(registry: MemoryDistribution) -> None:
    outcome = _sign(registry, reference=f'{SIGNED_AS}@{DIGEST}')
    assert outcome.changed
    assert outcome.digest == DIGEST
    assert _claims(registry)[0][0].manifest_digest == DIGEST


def test_a_missing_image_is_refused_and_nothing_is_written(registry: MemoryDistribution) -> None:
    with pytest.raises(RegistryError, match=r'registry.example.com/filters/x:2 does not exist: no such tag or digest; push the image'):
        _sign(registry, reference=f'{SIGNED_AS}:2')
    assert registry.writes() == []


def test_signing_again_with_the_same_key_and_annotations_writes_nothing(registry: MemoryDistribution) -> None:
    first = _sign(registry, annotations={'ci': '1'})
    stored = registry.manifests[TAG]
    registry.sent.clear()
    again = _sign(registry, annotations={'ci': '1'})
    assert not again.changed
    assert again.before == again.after == first.after
    assert registry.writes() == []
    assert registry.manifests[TAG] == stored


def test_new_annotations_add_a_layer_and_keep_the_first_byte_for_byte(registry: MemoryDistribution) -> None:
    _sign(registry, annotations={'ci': '1'})
    first = registry.signature_manifest()
    outcome = _sign(registry, annotations={'ci': '2'})
    final = registry.signature_manifest()
    assert first is not None
    assert final is not None
    assert outcome.changed
    assert final['layers'][0] == first['layers'][0]
    assert len(final['layers']) == 2
    assert outcome.before == [first['layers'][0]['digest']]
    assert outcome.after == [layer['digest'] for layer in final['layers']]
    assert [claim.annotations for claim, _found in _claims(registry)] == [{'ci': '1'}, {'ci': '2'}]


def test_fewer_annotations_are_a_new_claim_too(registry: MemoryDistribution) -> None:
    _sign(registry, annotations={'ci': '1', 'by': 'me'})
    assert _sign(registry, annotations={'ci': '1'}).changed


def test_another_signer_is_added_and_both_verify(registry: MemoryDistribution) -> None:
    _sign(registry)
    assert _sign(registry, key=OTHER_KEY).changed
    found = [signature for _claim, signature in _claims(registry)]
    verdict = verify_signatures(found, DIGEST, [KEY.verification_key(), OTHER_KEY.verification_key()])
    assert [accepted.key for accepted in verdict.accepted] == [KEY.key_id, OTHER_KEY.key_id]
    # And the first signer signing again is still a no-op.
    assert not _sign(registry).changed


def test_check_mode_reports_the_layer_it_would_add_and_writes_nothing(registry: MemoryDistribution) -> None:
    checked = _sign(registry, annotations={'ci': '1'}, check_mode=True)
    assert checked.changed
    assert checked.before == []
    assert registry.writes() == []
    assert TAG not in registry.manifests
    signed = _sign(registry, annotations={'ci': '1'})
    # The payload is deterministic, so check mode names exactly the layer signing then adds.
    assert checked.after == signed.after


def test_check_mode_over_existing_signatures_keeps_them(registry: MemoryDistribution) -> None:
    _sign(registry)
    stored = registry.manifests[TAG]
    registry.sent.clear()
    checked = _sign(registry, key=OTHER_KEY, check_mode=True)
    assert checked.changed
    assert len(checked.after) == 2
    assert checked.after[0] == checked.before[0]
    assert registry.writes() == []
    assert registry.manifests[TAG] == stored


def test_layers_this_signer_did_not_write_are_kept_as_they_are(registry: MemoryDistribution) -> None:
    # A layer of another type and a signature with a bad annotation: not ours to judge or drop.
    foreign = {'mediaType': 'application/vnd.example.attestation+json', 'size': 2, 'digest': _digest(b'{}'),
               'annotations': {'example': 'kept'}}
    payload = build_payload(SIGNED_AS, DIGEST)
    broken = signature_layer(payload, 'not base64!')
    _store_signatures(registry, [foreign, broken], [b'{}', payload])
    outcome = _sign(registry)
    final = registry.signature_manifest()
    assert final is not None
    assert outcome.changed
    assert final['layers'][:2] == [foreign, broken]
    assert len(final['layers']) == 3


def test_a_signature_copied_from_another_repository_does_not_count_as_signed_here(registry: MemoryDistribution) -> None:
    payload = build_payload('registry.example.com/filters/elsewhere', DIGEST)
    _store_signatures(registry, [signature_layer(payload, sign_payload(KEY, payload))], [payload])
    assert _sign(registry).changed
    assert [claim.docker_reference for claim, _found in _claims(registry)] == ['registry.example.com/filters/elsewhere', SIGNED_AS]


def test_the_payload_and_config_are_uploaded_before_the_manifest_names_them(registry: MemoryDistribution) -> None:
    outcome = _sign(registry)
    manifest = registry.signature_manifest()
    assert manifest is not None
    assert registry.uploaded == [outcome.after[0], manifest['config']['digest']]
    assert [method for method, _path in registry.writes()][-1] == 'PUT'
    assert registry.writes()[-1][1] == f'manifests/{TAG}'


def test_blobs_the_registry_has_are_not_uploaded_again(registry: MemoryDistribution) -> None:
    payload = build_payload(SIGNED_AS, DIGEST)
    registry.blobs[_digest(payload)] = payload
    _sign(registry)
    manifest = registry.signature_manifest()
    assert manifest is not None
    assert registry.uploaded == [manifest['config']['digest']]


def test_a_hostile_signature_manifest_stops_signing_before_anything_is_written(registry: MemoryDistribution) -> None:
    payload = build_payload(SIGNED_AS, DIGEST)
    layer = signature_layer(payload, sign_payload(KEY, payload))
    registry.put_manifest(TAG, mt.OCI_MANIFEST, json.dumps({'schemaVersion': 2, 'mediaType': mt.OCI_MANIFEST, 'layers': [layer] * 65}).encode())
    registry.sent.clear()
    with pytest.raises(SignatureError, match='holds 65 signatures'):
        _sign(registry)
    assert registry.writes() == []


def _signed_many(registry: MemoryDistribution, count: int) -> None:
    payloads = [build_payload(SIGNED_AS, DIGEST, {'n': str(number)}) for number in range(count)]
    _store_signatures(registry, [signature_layer(payload, sign_payload(KEY, payload)) for payload in payloads], payloads)


def test_the_last_signature_a_verifier_reads_may_be_added(registry: MemoryDistribution) -> None:
    _signed_many(registry, MAX_SIGNATURES - 1)
    assert _sign(registry, annotations={'n': 'last'}).changed
    found = [signature for _claim, signature in _claims(registry)]
    assert len(verify_signatures(found, DIGEST, [KEY.verification_key()]).accepted) == MAX_SIGNATURES


def test_an_existing_claim_is_recognised_in_a_full_signature_manifest(registry: MemoryDistribution) -> None:
    _signed_many(registry, MAX_SIGNATURES)
    registry.sent.clear()
    assert not _sign(registry, annotations={'n': '0'}).changed
    assert registry.writes() == []


# A 65th layer would make every verification (and signing) of the image refuse the .sig manifest as too large.
def test_a_signature_beyond_what_verifiers_read_is_refused_and_nothing_is_written(registry: MemoryDistribution) -> None:
    _signed_many(registry, MAX_SIGNATURES)
    registry.sent.clear()
    with pytest.raises(SignatureError, match=str(MAX_SIGNATURES)):
        _sign(registry, annotations={'n': 'one too many'})
    assert registry.writes() == []


def test_annotations_are_strings() -> None:
    assert check_annotations(None) == {}
    assert check_annotations({}) == {}
    given = {'ci': '1', 'commit': 'abc'}
    checked = check_annotations(given)
    assert checked == given
    assert checked is not given
    with pytest.raises(SigningKeyError, match=r'^annotations.build must be a string, not int; quote it \(for example build: "7"\)'):
        check_annotations({'ci': '1', 'build': 7})
    with pytest.raises(SigningKeyError, match=r'annotations\.nested must be a string, not dict'):
        check_annotations({'nested': {'a': 'b'}})
