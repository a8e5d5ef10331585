# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import json
import time
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, LayoutError
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import JSON_DEPTH_LIMIT, check_descriptor, descriptor_list, load_json, parse_json_document
from ansible_collections.wasm.oci.tests.unit.property_support import deeply_nested

DIGEST = 'sha256:' + 'a' * 64
WHAT = 'Manifest of registry.example.com/filter:1'


def _descriptor(**extra: t.Any) -> dict[str, t.Any]:
    return {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': DIGEST, 'size': 10, **extra}


@pytest.mark.parametrize('opener', ['[', '{'])
def test_a_document_nested_100000_levels_deep_is_a_clear_error_not_a_recursion_error(opener: str) -> None:
    started = time.monotonic()
    with pytest.raises(ImageFormatError, match=f'^{WHAT} nests arrays or objects more than {JSON_DEPTH_LIMIT} levels deep'):
        parse_json_document(deeply_nested(100_000, opener), WHAT)
    assert time.monotonic() - started < 1


def test_nesting_up_to_the_limit_is_read_and_brackets_in_strings_do_not_count() -> None:
    assert load_json(deeply_nested(JSON_DEPTH_LIMIT), WHAT) is not None
    assert load_json(b'{"a": "' + b'[' * 1000 + b'\\"{"}', WHAT) == {'a': '[' * 1000 + '"{'}
    with pytest.raises(ImageFormatError, match='more than 100 levels deep'):
        load_json(deeply_nested(JSON_DEPTH_LIMIT + 1), WHAT)


def test_load_json_raises_the_error_class_it_is_given() -> None:
    with pytest.raises(LayoutError, match=r'^index\.json is not valid JSON'):
        load_json(b'{"manifests": [', 'index.json', LayoutError)
    with pytest.raises(LayoutError, match=r'^index\.json is not valid JSON'):
        load_json(b'\xff\xfe', 'index.json', LayoutError)


@pytest.mark.parametrize('field', ['mediaType', 'artifactType'])
@pytest.mark.parametrize('value', [['application/vnd.oci.image.index.v1+json'], {'a': 1}, 7, True])
def test_a_document_whose_own_media_type_is_not_a_string_is_refused(field: str, value: t.Any) -> None:
    data = f'{{"schemaVersion": 2, "{field}": {json.dumps(value)}, "manifests": []}}'.encode()
    with pytest.raises(ImageFormatError, match=f'^{WHAT} has a {field} that is not a string: an? '):
        parse_json_document(data, WHAT)


@pytest.mark.parametrize(('extra', 'message'), [
    ({'mediaType': ['a', 'b']}, 'has a mediaType that is not a string: an array'),
    ({'artifactType': {'x': 1}}, 'has a artifactType that is not a string: an object'),
    ({'platform': ['linux']}, 'has a platform that is not an object: an array'),
    ({'platform': 'linux/amd64'}, 'has a platform that is not an object: a string'),
    ({'platform': {'os': 'linux', 'architecture': ['amd64']}}, 'has a platform architecture that is not a string: an array'),
    ({'platform': {'os': 'windows', 'architecture': 'amd64', 'os.features': 'win32k'}},
     'has a platform os.features that is not a list of strings: a string'),
    ({'annotations': ['a=b']}, 'has annotations that are not an object: an array'),
    ({'annotations': {'org.opencontainers.image.title': 5}},
     "has an annotation 'org.opencontainers.image.title' whose value is not a string: a number"),
])
def test_descriptor_fields_of_the_wrong_type_are_refused(extra: dict[str, t.Any], message: str) -> None:
    with pytest.raises(ImageFormatError, match=f'^An entry of {WHAT} {message}'):
        descriptor_list({'manifests': [_descriptor(**extra)]}, 'manifests', WHAT)


def test_well_typed_optional_descriptor_fields_are_accepted() -> None:
    descriptor = _descriptor(artifactType='application/wasm', annotations={'a': 'b'},
                             platform={'os': 'windows', 'architecture': 'amd64', 'os.version': '10', 'os.features': ['win32k']})
    assert check_descriptor(descriptor, WHAT) is descriptor


def test_a_document_with_annotations_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ImageFormatError, match=f"^{WHAT} has an annotation 'a' whose value is not a string: null"):
        parse_json_document(b'{"annotations": {"a": null}}', WHAT)
