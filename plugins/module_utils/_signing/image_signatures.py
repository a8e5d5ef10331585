# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""An image's cosign signatures, read from beside it (its registry repository, or the layout it was copied into),
and judged against the keys a user trusts before anything of the image is used."""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import ContentSource, read_small_blob
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import VerificationKey, load_public_key
from ansible_collections.wasm.oci.plugins.module_utils._signing.signature_image import layer_problem, layer_signature, signature_layers
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import signature_tag
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import FoundSignature, Verdict, verify_signatures


class SignedSource(ContentSource, t.Protocol):
    def tagged(self, tag: str) -> ContentSource:
        """The source of ``tag`` in the same repository or layout."""


@dataclasses.dataclass(frozen=True)
class Trust:
    """The keys an image must be signed with, and the repository its signature must name (None: any)."""

    keys: tuple[VerificationKey, ...]
    identity: ImageReference | None


def trust_from(verify_keys: list[str] | None, verify_identity: bool, reference: ImageReference | None, option: str = 'verify_keys') -> Trust | None:
    """The trust the options ask for (None without keys); ``reference`` is None for an image in a local layout."""
    if not verify_keys:
        if verify_identity:
            raise SigningKeyError(f'verify_identity needs {option}: give the public keys the signatures must verify with')
        return None
    if verify_identity and reference is None:
        raise SigningKeyError('verify_identity compares the repository a signature names with the image\'s, and an image in a '
                              'local layout has no repository; leave verify_identity out for layouts')
    keys = tuple(load_public_key(source, f'{option}[{number}]') for number, source in enumerate(verify_keys))
    return Trust(keys, reference if verify_identity else None)


@dataclasses.dataclass(frozen=True)
class StoredSignatures:
    """The layers of an image's ``.sig`` manifest as they are, and each read as a signature (in the same order)."""

    layers: list[dict[str, t.Any]]
    found: list[FoundSignature]


def stored_signatures(source: SignedSource, manifest_digest: str) -> StoredSignatures:
    """What the ``.sig`` manifest of the image ``manifest_digest`` holds; nothing when there is none.

    A payload is read only when its descriptor shows it may be a signature, so a hostile layer costs no download.
    """
    signatures = source.tagged(signature_tag(manifest_digest))
    descriptor = signatures.root_descriptor()
    if descriptor is None:
        return StoredSignatures([], [])
    layers = signature_layers(signatures.read_manifest(descriptor), f'Signature manifest {signatures.reference}')
    found = []
    for layer in layers:
        problem = layer_problem(layer)
        if problem:
            found.append(FoundSignature(b'', None, problem))
        else:
            payload = read_small_blob(signatures, layer, f'Signature payload of {signatures.reference}')
            found.append(FoundSignature(payload, layer_signature(layer)))
    return StoredSignatures(layers, found)


def verify_image(source: SignedSource, manifest_digest: str, trust: Trust) -> Verdict:
    """The verdict on the image ``manifest_digest`` names (the index digest when the reference named an index)."""
    return verify_signatures(stored_signatures(source, manifest_digest).found, manifest_digest, trust.keys, trust.identity)


def verified_signatures(source: SignedSource, manifest_digest: str, trust: Trust | None) -> list[dict[str, t.Any]] | None:
    """The accepted signatures as modules return them, or a ``SignatureError`` naming every refusal; None without trust."""
    if trust is None:
        return None
    return [accepted.as_dict() for accepted in verify_image(source, manifest_digest, trust).require_verified()]


def verification_argument_spec() -> dict[str, dict[str, t.Any]]:
    """Argument spec of the options the wasm.oci.signatures doc fragment documents."""
    return dict(
        verify_keys=dict(type='list', elements='str', no_log=False),
        verify_identity=dict(type='bool', default=False),
    )
