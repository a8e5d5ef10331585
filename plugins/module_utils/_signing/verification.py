# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The verifier's core: the signatures found for an image, its manifest digest and the trusted keys -> a verdict.

A signature is accepted only when one of the keys verifies it over the exact payload bytes (ECDSA
P-256, SHA-256, as cosign signs) and the payload then names exactly the manifest digest being pulled
(and, when identity is checked, the repository). Everything else is a refusal with its reason.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import SignatureError, SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._oci.media_types import ANNOTATION_COSIGN_SIGNATURE
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference, names_repository, repository_name
from ansible_collections.wasm.oci.plugins.module_utils._signing import optional_cryptography as deps
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import VerificationKey
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import parse_payload, signature_tag

# cosign adds one layer per signing, so real images carry one per signer and re-signing: a handful. Each one costs a
# blob fetch and a verification per key; more than this is a hostile or broken .sig manifest, refused before any work.
MAX_SIGNATURES = 64
# A base64 DER ECDSA P-256 signature is at most 96 characters; the margin only spares the decoder hostile megabytes.
SIGNATURE_TEXT_LIMIT = 512
_SHOWN_LIMIT = 200


@dataclasses.dataclass(frozen=True)
class FoundSignature:
    """One layer of the ``.sig`` manifest: its payload blob and its signature annotation (None when it has none).

    ``problem`` says why the layer cannot be a signature at all (its type, its size), when it was not read for that.
    """

    payload: bytes
    signature: str | None
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class AcceptedSignature:
    key: str
    digest: str
    annotations: dict[str, t.Any]

    def as_dict(self) -> dict[str, t.Any]:
        return {'key': self.key, 'digest': self.digest, 'annotations': dict(self.annotations)}


@dataclasses.dataclass(frozen=True)
class Verdict:
    manifest_digest: str
    keys_tried: tuple[str, ...]
    accepted: tuple[AcceptedSignature, ...]
    refusals: tuple[str, ...]
    found: int

    @property
    def verified(self) -> bool:
        return bool(self.accepted)

    def refusal_message(self) -> str:
        keys = ', '.join(self.keys_tried)
        if not self.found:
            why = f'found no signatures (nothing is tagged {signature_tag(self.manifest_digest)})'
        else:
            why = f'found {self.found} signature{"s" if self.found > 1 else ""}, none accepted: ' + '; '.join(self.refusals)
        return f'Image {self.manifest_digest} has no signature that verifies with the keys tried ({keys}): {why}'

    def require_verified(self) -> tuple[AcceptedSignature, ...]:
        if not self.verified:
            raise SignatureError(self.refusal_message())
        return self.accepted


def check_signature_count(count: int, what: str = 'The signature manifest') -> None:
    """Refuse a ``.sig`` manifest with more layers than any real image has, before anything is fetched."""
    if count > MAX_SIGNATURES:
        raise SignatureError(f'{what} holds {count} signatures, more than the {MAX_SIGNATURES} allowed; refusing it unread')


def verify_signatures(found: t.Sequence[FoundSignature], manifest_digest: str, keys: t.Sequence[VerificationKey],
                      identity: ImageReference | None = None) -> Verdict:
    """Judge every signature found for ``manifest_digest``; ``identity`` also requires the payload to name its repository."""
    deps.require_cryptography()
    if not keys:
        raise SigningKeyError('Verification needs at least one public key')
    check_signature_count(len(found))
    accepted: list[AcceptedSignature] = []
    refusals: list[str] = []
    for number, signature in enumerate(found, start=1):
        try:
            accepted.append(_judge(signature, manifest_digest, keys, identity))
        except SignatureError as exc:
            refusals.append(f'signature {number}: {exc}')
    return Verdict(manifest_digest, tuple(key.key_id for key in keys), tuple(accepted), tuple(refusals), len(found))


def _judge(found: FoundSignature, manifest_digest: str, keys: t.Sequence[VerificationKey], identity: ImageReference | None) -> AcceptedSignature:
    if found.problem:
        raise SignatureError(found.problem)
    der = _decode_signature(found.signature)
    key = _signing_key(der, found.payload, keys)
    try:
        claim = parse_payload(found.payload)
    except SignatureError as exc:
        raise SignatureError(f'malformed payload: {exc}') from None
    if claim.manifest_digest != manifest_digest:
        raise SignatureError(f'digest mismatch: it covers {claim.manifest_digest}, not {manifest_digest}')
    if identity is not None and not names_repository(claim.docker_reference, identity):
        raise SignatureError(f'identity mismatch: it names {_shown(claim.docker_reference)}, not {repository_name(identity)!r}')
    return AcceptedSignature(key.key_id, claim.manifest_digest, claim.annotations)


def _decode_signature(signature: t.Any) -> bytes:
    if not isinstance(signature, str):
        raise SignatureError(f'no {ANNOTATION_COSIGN_SIGNATURE} annotation')
    if len(signature) > SIGNATURE_TEXT_LIMIT:
        raise SignatureError(f'the signature is {len(signature)} characters, longer than any ECDSA P-256 signature')
    try:
        der = base64.b64decode(signature.encode('ascii'), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise SignatureError('the signature is not base64') from None
    try:
        deps.decode_dss_signature(der)
    except ValueError:
        raise SignatureError('the signature is not a DER ECDSA signature') from None
    return der


def _signing_key(der: bytes, payload: bytes, keys: t.Sequence[VerificationKey]) -> VerificationKey:
    algorithm = deps.crypto_ec.ECDSA(deps.crypto_hashes.SHA256())
    for key in keys:
        try:
            key.public_key.verify(der, payload, algorithm)
        except deps.InvalidSignature:
            continue
        return key
    raise SignatureError('wrong key: none of the keys tried made it')


def _shown(text: str) -> str:
    return repr(text) if len(text) <= _SHOWN_LIMIT else f'{text[:_SHOWN_LIMIT]!r}...'
