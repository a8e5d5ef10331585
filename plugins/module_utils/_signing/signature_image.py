# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The image cosign stores an image's key-based signatures in: tagged ``sha256-<hex>.sig``, one layer per signature.

Each layer's blob is a simple-signing payload and its annotation the signature over it. The image is written
the way cosign (through go-containerregistry) writes it, so ``cosign verify`` and cosign's own appending read
ours and keep other signers' layers exactly as they were.
"""

from __future__ import annotations

import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import canonical_json, sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import descriptor_list, parse_json_document
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import PAYLOAD_LIMIT
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import check_signature_count

# go-containerregistry's empty image has Go's zero time, and mutate.Append adds one history entry per layer.
_ZERO_TIME = '0001-01-01T00:00:00Z'


def signature_layers(data: bytes, what: str) -> list[dict[str, t.Any]]:
    """The layer descriptors of a ``.sig`` manifest, refused unread when there are more than any real image has."""
    layers = descriptor_list(parse_json_document(data, what), 'layers', what)
    check_signature_count(len(layers), what)
    return layers


def layer_problem(layer: dict[str, t.Any]) -> str | None:
    """Why ``layer`` cannot hold a key-based signature, known from its descriptor alone; None when it may."""
    if layer.get('mediaType') != mt.COSIGN_SIMPLE_SIGNING:
        return f'a layer of type {str(layer.get("mediaType"))[:100]!r}, not a simple-signing payload'
    if layer['size'] > PAYLOAD_LIMIT:
        return f'a payload of {layer["size"]} bytes, more than the {PAYLOAD_LIMIT} bytes a payload may have; not read'
    return None


def layer_signature(layer: dict[str, t.Any]) -> str | None:
    return (layer.get('annotations') or {}).get(mt.ANNOTATION_COSIGN_SIGNATURE)


def signature_layer(payload: bytes, signature: str) -> dict[str, t.Any]:
    """The descriptor of a new signature layer."""
    return {
        'mediaType': mt.COSIGN_SIMPLE_SIGNING,
        'size': len(payload),
        'digest': sha256_digest(payload),
        'annotations': {mt.ANNOTATION_COSIGN_SIGNATURE: signature},
    }


def signature_image(layers: list[dict[str, t.Any]]) -> tuple[bytes, bytes]:
    """The manifest and config of the ``.sig`` image holding ``layers``: ``(manifest, config)``."""
    config = canonical_json({
        'architecture': '',
        'config': {},
        'created': _ZERO_TIME,
        'history': [{'created': _ZERO_TIME} for _layer in layers],
        'os': '',
        # The payloads are stored uncompressed, so each layer's diff ID is its digest.
        'rootfs': {'type': 'layers', 'diff_ids': [layer['digest'] for layer in layers]},
    })
    manifest = canonical_json({
        'schemaVersion': 2,
        'mediaType': mt.OCI_MANIFEST,
        'config': {'mediaType': mt.OCI_IMAGE_CONFIG, 'size': len(config), 'digest': sha256_digest(config)},
        'layers': layers,
    })
    return manifest, config
