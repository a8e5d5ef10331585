# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Property: any text is a reference that prints back as itself, or an InvalidReferenceError."""

from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference, parse_reference, validate_tag
from ansible_collections.wasm.oci.tests.unit.property_support import PARSER_SETTINGS, outcome

REGISTRIES = st.sampled_from(['', 'localhost/', 'localhost:5000/', 'registry.example.com/', '[::1]:5000/', '[fe80::1', 'docker.io/',
                              'index.docker.io/', 'host:99999/', 'a..b/', '-x.io/', 'x.io:/'])
COMPONENTS = st.lists(st.sampled_from(['a', 'b0', 'x9y', '.', '_', '__', '-', '--', 'Z', '/', ':']), min_size=1, max_size=6).map(''.join) | st.text(max_size=12)
TAGS = st.sampled_from(['', ':latest', ':1.0', ':', ':-x', ':' + 'a' * 129]) | st.text(max_size=12).map(lambda text: ':' + text)
DIGESTS = st.sampled_from(['', '@sha256:' + 'a' * 64, '@sha256:' + 'A' * 64, '@sha512:' + 'a' * 128, '@']) | st.text(max_size=8).map(lambda text: '@' + text)
REFERENCE_LIKE = st.builds(
    lambda registry, components, tag, digest: registry + '/'.join(components) + tag + digest,
    REGISTRIES, st.lists(COMPONENTS, min_size=0, max_size=4), TAGS, DIGESTS,
)


@PARSER_SETTINGS
@given(st.text(max_size=300) | REFERENCE_LIKE)
def test_any_text_is_a_reference_that_reparses_to_itself_or_an_invalid_reference_error(text: str) -> None:
    result = outcome(parse_reference, text)
    if isinstance(result, InvalidReferenceError):
        return
    assert isinstance(result, ImageReference)
    assert parse_reference(str(result)) == result


@PARSER_SETTINGS
@given(st.text(max_size=200) | st.builds(lambda head, tail: head + tail, st.sampled_from('aZ9_.-'), st.text('aZ9_.-', max_size=130)))
def test_any_text_is_a_valid_tag_or_an_invalid_reference_error(text: str) -> None:
    result = outcome(validate_tag, text)
    assert (result == text and len(text) <= 128) or isinstance(result, InvalidReferenceError)
