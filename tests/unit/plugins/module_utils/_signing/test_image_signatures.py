# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""An image's signatures read from beside it (here: the local OCI layout it was copied into), and the trust options."""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, LayoutError, SignatureError, SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout, open_or_create_layout
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import (
    StoredSignatures,
    Trust,
    stored_signatures,
    trust_from,
    verification_argument_spec,
    verified_signatures,
    verify_image,
)
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import load_private_key, load_public_key
from ansible_collections.wasm.oci.plugins.module_utils._signing.signature_image import signature_image, signature_layer
from ansible_collections.wasm.oci.plugins.module_utils._signing.signer import sign_payload
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import build_payload, signature_tag
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import MAX_SIGNATURES, FoundSignature
from ansible_collections.wasm.oci.tests.unit.signing_fixtures import p256_key, private_pem, public_pem

REPOSITORY = 'registry.test/filters/x'
IMAGE_MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'
DIGEST = sha256_digest(IMAGE_MANIFEST)
SIGNER = p256_key()
STRANGER = p256_key()
SIGNING_KEY = load_private_key(private_pem(SIGNER), None, 'key')
SIGNER_PUB = public_pem(SIGNER)
STRANGER_PUB = public_pem(STRANGER)


def _signed_layer(digest: str = DIGEST, reference: str = REPOSITORY, annotations: dict[str, str] | None = None) -> tuple[dict, bytes]:
    payload = build_payload(reference, digest, annotations)
    return signature_layer(payload, sign_payload(SIGNING_KEY, payload)), payload


def _layout(path: pathlib.Path, layers: list[dict] | None = None, blobs: tuple[bytes, ...] = ()) -> LayoutSource:
    """A layout holding the image under ``v1`` and, when ``layers`` is given, its ``.sig`` image; only ``blobs`` are stored."""
    with open_or_create_layout(str(path)) as layout:
        layout.write_blob(DIGEST, IMAGE_MANIFEST)
        layout.set_tag('v1', {'mediaType': mt.OCI_MANIFEST, 'digest': DIGEST, 'size': len(IMAGE_MANIFEST)})
        if layers is not None:
            manifest, config = signature_image(layers)
            for blob in (config, manifest, *blobs):
                layout.write_blob(sha256_digest(blob), blob)
            layout.set_tag(signature_tag(DIGEST), {'mediaType': mt.OCI_MANIFEST, 'digest': sha256_digest(manifest), 'size': len(manifest)})
    return LayoutSource(OciLayout(str(path)), 'v1')


# -- trust_from ------------------------------------------------------------------------------------------


@pytest.mark.parametrize('keys', [None, []])
def test_without_keys_nothing_is_verified(keys: list[str] | None) -> None:
    assert trust_from(keys, False, parse_reference(f'{REPOSITORY}:1')) is None
    assert trust_from(keys, False, None) is None


@pytest.mark.parametrize('reference', [parse_reference(f'{REPOSITORY}:1'), None])
def test_verify_identity_without_keys_is_refused(reference: object) -> None:
    with pytest.raises(SigningKeyError, match=r'^verify_identity needs verify_keys: give the public keys'):
        trust_from(None, True, reference)  # type: ignore[arg-type]
    with pytest.raises(SigningKeyError, match=r'^verify_identity needs envoy_filter_verify_keys'):
        trust_from([], True, reference, option='envoy_filter_verify_keys')  # type: ignore[arg-type]


def test_verify_identity_for_a_layout_is_refused_before_any_key_is_read() -> None:
    with pytest.raises(SigningKeyError, match='an image in a local layout has no repository; leave verify_identity out for layouts'):
        trust_from(['/no/such/key.pub'], True, None)


def test_keys_are_loaded_in_order_from_paths_and_text(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'signer.pub'
    path.write_text(SIGNER_PUB, encoding='ascii')
    trust = trust_from([str(path), STRANGER_PUB], False, parse_reference(f'{REPOSITORY}:1'))
    assert trust is not None
    assert trust.identity is None
    assert [key.key_id for key in trust.keys] == [SIGNING_KEY.key_id, load_public_key(STRANGER_PUB, 'x').key_id]


def test_identity_is_the_reference_only_when_asked() -> None:
    reference = parse_reference(f'{REPOSITORY}:1')
    checked, unchecked = trust_from([SIGNER_PUB], True, reference), trust_from([SIGNER_PUB], False, reference)
    assert unchecked is not None
    assert unchecked.identity is None
    assert checked == Trust(unchecked.keys, reference)
    layout_trust = trust_from([SIGNER_PUB], False, None)
    assert layout_trust is not None
    assert layout_trust.identity is None


def test_a_bad_key_is_named_by_its_option_and_position() -> None:
    with pytest.raises(SigningKeyError, match=r'^verify_keys\[1\] \(PEM text\) is a private key'):
        trust_from([SIGNER_PUB, private_pem(STRANGER)], False, None)
    with pytest.raises(SigningKeyError, match=r'^envoy_filter_verify_keys\[0\] \(/no/such/key.pub\) cannot be read'):
        trust_from(['/no/such/key.pub'], False, None, option='envoy_filter_verify_keys')


def test_the_argument_spec_is_the_documented_options() -> None:
    assert verification_argument_spec() == {
        'verify_keys': {'type': 'list', 'elements': 'str', 'no_log': False},
        'verify_identity': {'type': 'bool', 'default': False},
    }


# -- stored_signatures on a layout -----------------------------------------------------------------------


def test_an_image_without_a_signature_tag_has_no_signatures(tmp_path: pathlib.Path) -> None:
    assert stored_signatures(_layout(tmp_path / 'layout'), DIGEST) == StoredSignatures([], [])


def test_each_layer_is_read_as_a_signature_in_order(tmp_path: pathlib.Path) -> None:
    first, first_payload = _signed_layer(annotations={'n': '1'})
    second, second_payload = _signed_layer(annotations={'n': '2'})
    stored = stored_signatures(_layout(tmp_path / 'layout', [first, second], (first_payload, second_payload)), DIGEST)
    assert stored.layers == [first, second]
    assert stored.found == [FoundSignature(first_payload, first['annotations'][mt.ANNOTATION_COSIGN_SIGNATURE]),
                            FoundSignature(second_payload, second['annotations'][mt.ANNOTATION_COSIGN_SIGNATURE])]


def test_layers_that_cannot_be_signatures_are_never_read(tmp_path: pathlib.Path) -> None:
    # Neither payload is in the layout: reading either would fail.
    valid, payload = _signed_layer()
    other_type = dict(valid, mediaType='application/vnd.oci.image.layer.v1.tar', digest=sha256_digest(b'other'))
    huge = dict(valid, size=100 * 1024 * 1024, digest=sha256_digest(b'huge'))
    stored = stored_signatures(_layout(tmp_path / 'layout', [other_type, huge, valid], (payload,)), DIGEST)
    assert [found.problem for found in stored.found] == [
        "a layer of type 'application/vnd.oci.image.layer.v1.tar', not a simple-signing payload",
        f'a payload of {100 * 1024 * 1024} bytes, more than the 65536 bytes a payload may have; not read',
        None,
    ]
    assert stored.found[2].payload == payload
    assert [found.payload for found in stored.found[:2]] == [b'', b'']


def test_a_signature_manifest_with_too_many_layers_is_refused_before_any_payload_is_read(tmp_path: pathlib.Path) -> None:
    layer, _payload = _signed_layer()
    source = _layout(tmp_path / 'layout', [layer] * (MAX_SIGNATURES + 1))
    with pytest.raises(SignatureError, match=f'holds {MAX_SIGNATURES + 1} signatures'):
        stored_signatures(source, DIGEST)


def test_a_payload_that_is_not_the_blob_its_layer_names_is_refused(tmp_path: pathlib.Path) -> None:
    layer, payload = _signed_layer()
    source = _layout(tmp_path / 'layout', [layer], (payload,))
    # Tamper with the stored blob, keeping its size.
    path = pathlib.Path(source.layout.blob_path(layer['digest']))
    path.write_bytes(payload.replace(b'sha256:', b'sha256-'))
    with pytest.raises(ImageFormatError, match='has digest'):
        stored_signatures(source, DIGEST)


def test_a_missing_payload_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    layer, _payload = _signed_layer()
    with pytest.raises(LayoutError, match='is missing from OCI layout'):
        stored_signatures(_layout(tmp_path / 'layout', [layer]), DIGEST)


# -- verify_image and verified_signatures ----------------------------------------------------------------


def test_an_image_signed_with_a_trusted_key_verifies_from_its_layout(tmp_path: pathlib.Path) -> None:
    layer, payload = _signed_layer(annotations={'ci': '7'})
    source = _layout(tmp_path / 'layout', [layer], (payload,))
    trust = trust_from([STRANGER_PUB, SIGNER_PUB], False, None)
    assert trust is not None
    assert verify_image(source, DIGEST, trust).verified
    assert verified_signatures(source, DIGEST, trust) == [{'key': SIGNING_KEY.key_id, 'digest': DIGEST, 'annotations': {'ci': '7'}}]


def test_without_trust_the_source_is_not_even_asked() -> None:
    assert verified_signatures(object(), DIGEST, None) is None  # type: ignore[arg-type]


def test_an_unsigned_image_is_refused_naming_the_signature_tag(tmp_path: pathlib.Path) -> None:
    trust = trust_from([SIGNER_PUB], False, None)
    with pytest.raises(SignatureError) as caught:
        verified_signatures(_layout(tmp_path / 'layout'), DIGEST, trust)
    assert str(caught.value) == (f'Image {DIGEST} has no signature that verifies with the keys tried ({SIGNING_KEY.key_id}): '
                                 f'found no signatures (nothing is tagged {signature_tag(DIGEST)})')


def test_a_signature_by_another_key_is_refused_naming_the_keys_tried(tmp_path: pathlib.Path) -> None:
    layer, payload = _signed_layer()
    trust = trust_from([STRANGER_PUB], False, None)
    stranger_id = load_public_key(STRANGER_PUB, 'x').key_id
    with pytest.raises(SignatureError, match=f'keys tried \\({stranger_id}\\): found 1 signature, none accepted: signature 1: wrong key'):
        verified_signatures(_layout(tmp_path / 'layout', [layer], (payload,)), DIGEST, trust)


def test_a_signature_of_another_digest_is_refused(tmp_path: pathlib.Path) -> None:
    other = sha256_digest(b'another image')
    layer, payload = _signed_layer(digest=other)
    with pytest.raises(SignatureError, match=f'digest mismatch: it covers {other}, not {DIGEST}'):
        verified_signatures(_layout(tmp_path / 'layout', [layer], (payload,)), DIGEST, trust_from([SIGNER_PUB], False, None))


def test_identity_requires_the_signature_to_name_the_repository(tmp_path: pathlib.Path) -> None:
    layer, payload = _signed_layer()
    source = _layout(tmp_path / 'layout', [layer], (payload,))
    same = trust_from([SIGNER_PUB], True, parse_reference(f'{REPOSITORY}@{DIGEST}'))
    assert len(verified_signatures(source, DIGEST, same) or []) == 1
    other = trust_from([SIGNER_PUB], True, parse_reference('registry.test/filters/y:1'))
    with pytest.raises(SignatureError, match=f"identity mismatch: it names '{REPOSITORY}', not 'registry.test/filters/y'"):
        verified_signatures(source, DIGEST, other)


def test_one_good_signature_among_refused_ones_is_enough(tmp_path: pathlib.Path) -> None:
    wrong_digest, wrong_payload = _signed_layer(digest=sha256_digest(b'another image'))
    good, good_payload = _signed_layer()
    hostile = dict(good, mediaType='application/json', digest=sha256_digest(b'never stored'))
    source = _layout(tmp_path / 'layout', [wrong_digest, hostile, good], (wrong_payload, good_payload))
    verdict = verify_image(source, DIGEST, trust_from([SIGNER_PUB], False, None))  # type: ignore[arg-type]
    assert len(verdict.accepted) == 1
    assert verdict.found == 3
    assert len(verdict.refusals) == 2
