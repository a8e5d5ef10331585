# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Property: manifests, indexes and descriptors of any shape give a dict or an ImageFormatError, nothing else."""

from __future__ import annotations

import json
import typing as t

from hypothesis import given, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import check_descriptor, descriptor_list, parse_json_document
from ansible_collections.wasm.oci.tests.unit.property_support import JSON_BYTES, JSON_VALUES, PARSER_SETTINGS, outcome

WHAT = 'Manifest of registry.example.com/filter:1'
MEDIA_TYPES = st.sampled_from(sorted([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.WASM_CONFIG,
                                      mt.WASM_CONTENT_LAYER, mt.OCI_LAYER_TAR_GZIP, mt.WASM_ARTIFACT_LAYER]))
DIGESTS = st.binary(min_size=32, max_size=32).map(lambda raw: 'sha256:' + raw.hex())
PLATFORMS = st.fixed_dictionaries({}, optional={
    'os': st.sampled_from(['linux', 'wasi', 'wasip1']) | JSON_VALUES,
    'architecture': st.sampled_from(['amd64', 'arm64', 'wasm']) | JSON_VALUES,
    'variant': st.sampled_from(['v7', 'v8']) | JSON_VALUES,
    'os.features': st.lists(st.text(max_size=8), max_size=2) | JSON_VALUES,
})
DESCRIPTORS = st.fixed_dictionaries(
    {'mediaType': MEDIA_TYPES | JSON_VALUES, 'digest': DIGESTS | JSON_VALUES, 'size': st.integers(-1, 2**63) | JSON_VALUES},
    optional={
        'platform': PLATFORMS | JSON_VALUES,
        'annotations': st.dictionaries(st.text(max_size=12), st.text(max_size=12) | JSON_VALUES, max_size=3) | JSON_VALUES,
        'artifactType': MEDIA_TYPES | JSON_VALUES,
        'urls': st.lists(st.text(max_size=12), max_size=2) | JSON_VALUES,
    },
) | JSON_VALUES
DOCUMENTS = st.fixed_dictionaries({}, optional={
    'schemaVersion': st.just(2) | JSON_VALUES,
    'mediaType': MEDIA_TYPES | JSON_VALUES,
    'artifactType': MEDIA_TYPES | JSON_VALUES,
    'config': DESCRIPTORS,
    'layers': st.lists(DESCRIPTORS, max_size=3) | JSON_VALUES,
    'manifests': st.lists(DESCRIPTORS, max_size=3) | JSON_VALUES,
    'subject': DESCRIPTORS,
    'annotations': st.dictionaries(st.text(max_size=12), st.text(max_size=12) | JSON_VALUES, max_size=3) | JSON_VALUES,
})


def _read(data: bytes) -> t.Any:
    document = parse_json_document(data, WHAT)
    assert isinstance(document, dict)
    for field in ('mediaType', 'artifactType'):
        assert isinstance(document.get(field), (str, type(None)))
    for key in ('layers', 'manifests'):
        outcome(descriptor_list, document, key, WHAT)
    for key in ('config', 'subject'):
        if key in document:
            outcome(check_descriptor, document[key], WHAT)
    return document


@PARSER_SETTINGS
@given(JSON_BYTES)
def test_any_bytes_give_a_document_or_an_image_format_error(data: bytes) -> None:
    result = outcome(_read, data)
    assert isinstance(result, (dict, ImageFormatError))


@PARSER_SETTINGS
@given(DOCUMENTS)
def test_documents_of_any_field_types_give_a_document_or_an_image_format_error(document: dict[str, t.Any]) -> None:
    result = outcome(_read, json.dumps(document).encode())
    assert isinstance(result, (dict, ImageFormatError))


@PARSER_SETTINGS
@given(DESCRIPTORS)
def test_an_accepted_descriptor_has_the_types_the_reader_relies_on(descriptor: t.Any) -> None:
    result = outcome(check_descriptor, descriptor, WHAT)
    if isinstance(result, ImageFormatError):
        return
    assert isinstance(result['digest'], str)
    assert isinstance(result['size'], int)
    assert result['size'] >= 0
    for field in ('mediaType', 'artifactType'):
        assert isinstance(result.get(field), (str, type(None)))
    assert isinstance(result.get('platform'), (dict, type(None)))
    assert all(isinstance(value, str) for value in (result.get('annotations') or {}).values())
