# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Signing an image in its registry as cosign does: one more layer in the image's ``.sig`` manifest.

The reference is resolved once and that manifest digest is what the payload names. Other signers' layers
stay as they are; a signature this key already made over the same claim makes signing again a no-op (ECDSA
signatures differ each time, so comparing bytes would add a layer on every run).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError, SignatureError, SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference, repository_name
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.source import RegistrySource
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import stored_signatures
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import SigningKey
from ansible_collections.wasm.oci.plugins.module_utils._signing.signature_image import signature_image, signature_layer
from ansible_collections.wasm.oci.plugins.module_utils._signing.signer import sign_payload
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import build_payload, signature_tag
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import MAX_SIGNATURES, FoundSignature, verify_signatures


@dataclasses.dataclass(frozen=True)
class SigningOutcome:
    changed: bool
    digest: str
    signature_tag: str
    # The payload digests of the signature layers before and after, for the diff.
    before: list[str]
    after: list[str]


def check_annotations(annotations: dict[str, t.Any] | None) -> dict[str, str]:
    """The user's annotations, which cosign keeps as strings and a verifier compares exactly."""
    for name, value in (annotations or {}).items():
        if not isinstance(value, str):
            raise SigningKeyError(f'annotations.{name} must be a string, not {type(value).__name__}; quote it (for example {name}: "{value}")')
    return dict(annotations or {})


def sign_image(client: RegistryClient, key: SigningKey, annotations: dict[str, str], check_mode: bool) -> SigningOutcome:
    reference = client.reference
    # The manifest itself, hashed here: the digest signed is never only what a header says.
    found = client.get_manifest(reference.version)
    if found is None:
        raise RegistryError(f'{reference} does not exist: no such tag or digest; push the image before signing it')
    image = found[0]
    tag = signature_tag(image.digest)
    source = RegistrySource(client)
    stored = stored_signatures(source, image.digest)
    before = [layer['digest'] for layer in stored.layers]
    if _already_signed(stored.found, image.digest, key, annotations, reference):
        return SigningOutcome(False, image.digest, tag, before, before)
    if len(stored.layers) >= MAX_SIGNATURES:
        raise SignatureError(f'{reference.registry}/{reference.repository}:{tag} already holds {len(stored.layers)} signatures, the most a '
                             f'verifier reads ({MAX_SIGNATURES}); one more would make every signature of the image unverifiable. Delete '
                             'the signature tag (or sign a new image) first')

    payload = build_payload(repository_name(reference), image.digest, annotations)
    layers = [*stored.layers, signature_layer(payload, sign_payload(key, payload))]
    outcome = SigningOutcome(True, image.digest, tag, before, [*before, layers[-1]['digest']])
    if check_mode:
        return outcome
    manifest, config = signature_image(layers)
    for blob in (payload, config):
        digest = sha256_digest(blob)
        if not client.has_blob(digest, len(blob)):
            client.upload_blob(digest, len(blob), functools.partial(io.BytesIO, blob))
    client.put_manifest(tag, mt.OCI_MANIFEST, manifest)
    return outcome


def _already_signed(found: list[FoundSignature], digest: str, key: SigningKey, annotations: dict[str, str],
                    reference: ImageReference) -> bool:
    verdict = verify_signatures(found, digest, [key.verification_key()], reference)
    return any(accepted.annotations == annotations for accepted in verdict.accepted)
