# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""cosign's simple-signing payload: what a key-based cosign signature signs, and where cosign stores it.

The payload names the image's repository and manifest digest; the signature covers its exact bytes,
so a payload we write is serialised as cosign's Go code serialises it, and a payload we read is
checked field by field before anything in it is trusted.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import SignatureError
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import load_json

SIGNATURE_TYPE = 'cosign container image signature'
# cosign writes a few hundred bytes; annotations add a little. A payload larger than this is not a signature.
PAYLOAD_LIMIT = 64 * 1024
_SHA256_DIGEST = re.compile(r'sha256:[0-9a-f]{64}')
# Go's encoding/json escapes these inside strings; doing the same keeps our payloads byte-for-byte cosign's.
_GO_ESCAPES = {'<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029'}
_GO_ESCAPED = re.compile('[<>&\u2028\u2029]')


@dataclasses.dataclass(frozen=True)
class SignedClaim:
    """What a payload says: this repository's image with this manifest digest, with these annotations."""

    docker_reference: str
    manifest_digest: str
    annotations: dict[str, t.Any]


def signature_tag(manifest_digest: str) -> str:
    """The tag cosign stores an image's signatures under: ``sha256-<hex>.sig``."""
    if not isinstance(manifest_digest, str) or not _SHA256_DIGEST.fullmatch(manifest_digest):
        raise SignatureError(f'Cannot name the signature tag of {str(manifest_digest)[:100]!r}: it is not a sha256:<64 hex> digest')
    return manifest_digest.replace(':', '-', 1) + '.sig'


def build_payload(docker_reference: str, manifest_digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """The payload cosign would sign for ``docker_reference`` at ``manifest_digest``, byte for byte."""
    signature_tag(manifest_digest)
    document = {
        'critical': {
            'identity': {'docker-reference': docker_reference},
            'image': {'docker-manifest-digest': manifest_digest},
            'type': SIGNATURE_TYPE,
        },
        'optional': dict(annotations) if annotations else None,
    }
    # Go marshals struct fields in declaration order and map keys sorted; here both orders are alphabetical.
    text = json.dumps(document, sort_keys=True, separators=(',', ':'), ensure_ascii=False, allow_nan=False)
    return _GO_ESCAPED.sub(lambda found: _GO_ESCAPES[found.group()], text).encode('utf-8')


def parse_payload(payload: bytes) -> SignedClaim:
    """Read an untrusted payload; anything but the simple-signing shape is a ``SignatureError``."""
    if len(payload) > PAYLOAD_LIMIT:
        raise SignatureError(f'The signature payload is {len(payload)} bytes, more than the {PAYLOAD_LIMIT} bytes a payload may have')
    document = load_json(payload, 'The signature payload', SignatureError)
    if not isinstance(document, dict):
        raise SignatureError('The signature payload is not a JSON object')
    critical = _object(document.get('critical'), 'critical')
    if critical.get('type') != SIGNATURE_TYPE:
        raise SignatureError(f'The signature payload\'s critical.type is not "{SIGNATURE_TYPE}"')
    reference = _object(critical.get('identity'), 'critical.identity').get('docker-reference')
    digest = _object(critical.get('image'), 'critical.image').get('docker-manifest-digest')
    if not isinstance(reference, str):
        raise SignatureError('The signature payload\'s critical.identity.docker-reference is not a string')
    if not isinstance(digest, str) or not _SHA256_DIGEST.fullmatch(digest):
        raise SignatureError('The signature payload\'s critical.image.docker-manifest-digest is not a sha256:<64 hex> digest')
    optional = document.get('optional')
    if optional is not None and not isinstance(optional, dict):
        raise SignatureError('The signature payload\'s optional is neither an object nor null')
    return SignedClaim(docker_reference=reference, manifest_digest=digest, annotations=dict(optional or {}))


def _object(value: t.Any, what: str) -> dict[str, t.Any]:
    if not isinstance(value, dict):
        raise SignatureError(f'The signature payload\'s {what} is not a JSON object')
    return value
