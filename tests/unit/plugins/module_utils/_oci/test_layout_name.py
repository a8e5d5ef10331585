# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Names of images in local OCI layouts, as skopeo writes them."""

from __future__ import annotations

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import layout_reference
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout_name import LayoutName, is_layout_name, parse_layout_name

DIGEST = 'sha256:' + '0123456789abcdef' * 4


@pytest.mark.parametrize(('name', 'expected'), [
    ('oci:/srv/layout:1.0.0', LayoutName('/srv/layout', tag='1.0.0')),
    ('oci:relative/layout:v1', LayoutName('relative/layout', tag='v1')),
    # Tags have no colon, so the last one ends the path.
    ('oci:/srv/a:b/layout:latest', LayoutName('/srv/a:b/layout', tag='latest')),
    ('oci:/srv/at@home/layout:1.0', LayoutName('/srv/at@home/layout', tag='1.0')),
    (f'oci:/srv/layout@{DIGEST}', LayoutName('/srv/layout', digest=DIGEST)),
])
def test_names_skopeo_writes_are_parsed(name: str, expected: LayoutName) -> None:
    assert is_layout_name(name)
    assert parse_layout_name(name) == expected
    assert str(parse_layout_name(name)) == name


def test_the_name_of_a_layout_tag_is_what_layout_reference_writes() -> None:
    assert str(LayoutName('/srv/layout', tag='1.0')) == layout_reference('/srv/layout', '1.0') == 'oci:/srv/layout:1.0'


@pytest.mark.parametrize('name', ['registry.example/filters/x:1.0', 'localhost:5000/oci:1.0', 'docker://x', 'OCI:/srv/layout:1'])
def test_registry_references_are_no_layout_names(name: str) -> None:
    assert not is_layout_name(name)


@pytest.mark.parametrize(('name', 'message'), [
    ('oci:/srv/layout', ("^Image 'oci:/srv/layout' names no tag of a local OCI layout; write oci:<layout path>:<tag> or "
                         'oci:<layout path>@sha256:<manifest digest>, as skopeo does$')),
    ('oci:', 'names no tag of a local OCI layout'),
    ('oci::1.0', "^Image 'oci::1.0' names no layout directory; write oci:<layout path>:<tag>"),
    (f'oci:@{DIGEST}', 'names no layout directory'),
    ('oci:/srv/layout:', 'is not a valid tag'),
    ('oci:/srv/layout:-x', 'is not a valid tag'),
    ('oci:/srv/layout@sha256:abc', "has an invalid digest 'sha256:abc'; expected sha256:<64 lowercase hex digits>"),
    (f'oci:/srv/layout@{DIGEST.upper().replace("SHA256", "sha256")}', 'has an invalid digest'),
])
def test_malformed_layout_names_are_refused_with_what_to_write(name: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        parse_layout_name(name)


@pytest.mark.parametrize('rest', ['', ':', '@', '::', '/:x', 'a@b:c', 'a@sha256:', '\x00:1', 'a:\n', ' :1', 'a:' + 'x' * 200,
                                  '\u00e9:\u00e9', 'a@sha256:' + 'g' * 64, f'a@{DIGEST}:1'])
def test_odd_text_after_the_transport_parses_back_to_itself_or_is_refused_clearly(rest: str) -> None:
    try:
        parsed = parse_layout_name('oci:' + rest)
    except WasmOciError:
        return
    assert parsed.path
    assert (parsed.tag is None) != (parsed.digest is None)
    assert str(parsed) == 'oci:' + rest
