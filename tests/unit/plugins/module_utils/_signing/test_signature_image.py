# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The ``.sig`` image: the manifest and config cosign writes, and what a layer's descriptor alone says about it."""

from __future__ import annotations

import hashlib
import json

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, SignatureError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._signing.signature_image import (
    layer_problem,
    layer_signature,
    signature_image,
    signature_layer,
    signature_layers,
)
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import PAYLOAD_LIMIT
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import MAX_SIGNATURES
from ansible_collections.wasm.oci.tests.unit.cosign_vectors import folder_signatures, vector_path

VALID = folder_signatures('valid')[0]
ZERO_TIME = '0001-01-01T00:00:00Z'


def _sha256(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _layers(count: int) -> list[dict]:
    return [signature_layer(VALID.payload + b' ' * number, 'c2lnbmF0dXJl') for number in range(count)]


def test_a_signature_layer_is_the_payload_blob_with_its_signature_annotation() -> None:
    layer = signature_layer(VALID.payload, VALID.signature)
    vector = json.loads(vector_path('valid', 'signature-1.json').read_text(encoding='utf-8'))
    assert layer == {
        'mediaType': vector['mimeType'],
        'size': len(VALID.payload),
        'digest': _sha256(VALID.payload),
        'annotations': vector['annotations'],
    }


def test_the_manifest_has_the_media_types_cosign_writes_and_names_its_config() -> None:
    layers = _layers(2)
    manifest, config = signature_image(layers)
    document = json.loads(manifest)
    assert document == {
        'schemaVersion': 2,
        'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'size': len(config), 'digest': _sha256(config)},
        'layers': layers,
    }
    assert {layer['mediaType'] for layer in document['layers']} == {'application/vnd.dev.cosign.simplesigning.v1+json'}


def test_the_config_is_go_containerregistrys_empty_image_with_one_history_entry_per_layer() -> None:
    layers = _layers(3)
    _manifest, config = signature_image(layers)
    assert json.loads(config) == {
        'architecture': '',
        'config': {},
        'created': ZERO_TIME,
        'history': [{'created': ZERO_TIME}] * 3,
        'os': '',
        'rootfs': {'type': 'layers', 'diff_ids': [layer['digest'] for layer in layers]},
    }


def test_an_image_without_layers_is_still_well_formed() -> None:
    manifest, config = signature_image([])
    assert json.loads(manifest)['layers'] == []
    assert json.loads(config)['rootfs'] == {'type': 'layers', 'diff_ids': []}
    assert json.loads(config)['history'] == []


def test_the_same_layers_make_the_same_bytes() -> None:
    # The registry stores what is written; signing the same layers twice must not make a new manifest digest.
    layers = _layers(2)
    assert signature_image(layers) == signature_image([dict(layer) for layer in layers])
    for document in signature_image(layers):
        assert document == json.dumps(json.loads(document), sort_keys=True, separators=(',', ':')).encode()


def test_signature_layers_reads_back_what_signature_image_wrote() -> None:
    layers = [signature_layer(VALID.payload, VALID.signature)]
    manifest, _config = signature_image(layers)
    read = signature_layers(manifest, 'Signature manifest r.test/x:sha256-0.sig')
    assert read == layers
    assert layer_problem(read[0]) is None
    assert layer_signature(read[0]) == VALID.signature


def test_as_many_layers_as_allowed_are_read() -> None:
    manifest, _config = signature_image(_layers(MAX_SIGNATURES))
    assert len(signature_layers(manifest, 'Signature manifest')) == MAX_SIGNATURES


@pytest.mark.parametrize('count', [MAX_SIGNATURES + 1, 10_000])
def test_more_layers_than_allowed_are_refused_unread(count: int) -> None:
    layer = signature_layer(VALID.payload, VALID.signature)
    manifest = json.dumps({'schemaVersion': 2, 'mediaType': mt.OCI_MANIFEST, 'layers': [layer] * count}).encode()
    with pytest.raises(SignatureError, match=f'holds {count} signatures, more than the {MAX_SIGNATURES} allowed; refusing it unread'):
        signature_layers(manifest, 'Signature manifest')


@pytest.mark.parametrize(('manifest', 'message'), [
    (b'not json', 'Signature manifest'),
    (b'[]', 'must be a JSON object'),
    (b'{"schemaVersion": 2}', 'has no valid layers list'),
    (b'{"layers": {"mediaType": "x"}}', 'has no valid layers list'),
    (b'{"layers": [{"mediaType": "x", "size": 1}]}', 'An entry of Signature manifest'),
    (b'{"layers": [{"mediaType": "x", "size": -1, "digest": "sha256:' + b'0' * 64 + b'"}]}', 'has no valid size'),
])
def test_a_malformed_signature_manifest_is_refused_naming_it(manifest: bytes, message: str) -> None:
    with pytest.raises(ImageFormatError, match=message):
        signature_layers(manifest, 'Signature manifest')


def test_a_simple_signing_layer_within_the_limit_may_be_a_signature() -> None:
    assert layer_problem(signature_layer(VALID.payload, VALID.signature)) is None
    at_limit = dict(signature_layer(VALID.payload, VALID.signature), size=PAYLOAD_LIMIT)
    assert layer_problem(at_limit) is None


def test_a_payload_larger_than_the_limit_is_refused_by_its_descriptor() -> None:
    layer = dict(signature_layer(VALID.payload, VALID.signature), size=100 * 1024 * 1024)
    assert layer_problem(layer) == f'a payload of {100 * 1024 * 1024} bytes, more than the {PAYLOAD_LIMIT} bytes a payload may have; not read'
    assert layer_problem(dict(layer, size=PAYLOAD_LIMIT + 1)) is not None


@pytest.mark.parametrize('media_type', [mt.OCI_MANIFEST, 'application/vnd.oci.image.layer.v1.tar', 'application/json', ''])
def test_a_layer_of_another_type_is_no_signature(media_type: str) -> None:
    layer = dict(signature_layer(VALID.payload, VALID.signature), mediaType=media_type)
    assert layer_problem(layer) == f'a layer of type {media_type!r}, not a simple-signing payload'


def test_a_layer_without_a_type_or_with_a_huge_one_is_named_briefly() -> None:
    layer = signature_layer(VALID.payload, VALID.signature)
    del layer['mediaType']
    assert layer_problem(layer) == "a layer of type 'None', not a simple-signing payload"
    problem = layer_problem(dict(layer, mediaType='x' * 100_000))
    assert problem is not None
    assert len(problem) < 200


def test_the_signature_is_the_cosign_annotation_or_none() -> None:
    layer = signature_layer(VALID.payload, VALID.signature)
    assert layer_signature(layer) == VALID.signature
    assert layer_signature(dict(layer, annotations={'other': 'x'})) is None
    assert layer_signature(dict(layer, annotations=None)) is None
    without = dict(layer)
    del without['annotations']
    assert layer_signature(without) is None
