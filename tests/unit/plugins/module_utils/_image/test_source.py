# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the name, layout and tag parameters ask for, and the content source of a local layout."""

from __future__ import annotations

import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError, LayoutError
from ansible_collections.wasm.oci.plugins.module_utils._image.builder import build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import resolve
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
from ansible_collections.wasm.oci.plugins.module_utils._image.source import LayoutDigestSource, open_source, requested_image
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, store_image
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import proxy_module

RUNTIME = RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_2_1',), ('add_header',))
DIGEST = 'sha256:' + 'ab' * 32


def _params(name: str | None = None, layout: str | None = None, tag: str = 'latest') -> dict[str, t.Any]:
    return {'name': name, 'layout': layout, 'tag': tag}


@pytest.mark.parametrize(('params', 'reference', 'digest'), [
    (_params('registry.example/filters/x', tag='2.0'), 'registry.example/filters/x:2.0', None),
    (_params(f'registry.example/filters/x@{DIGEST}'), f'registry.example/filters/x@{DIGEST}', DIGEST),
    (_params(layout='/srv/layout', tag='1.0'), 'oci:/srv/layout:1.0', None),
    (_params('oci:/srv/layout:1.0', tag='ignored'), 'oci:/srv/layout:1.0', None),
    (_params(f'oci:/srv/layout@{DIGEST}'), f'oci:/srv/layout@{DIGEST}', DIGEST),
], ids=['registry-tag', 'registry-digest', 'layout-and-tag', 'oci-name', 'oci-digest'])
def test_requested_image_names_it_and_its_pinned_digest_without_reading_anything(params: dict[str, t.Any], reference: str,
                                                                                 digest: str | None) -> None:
    requested = requested_image(params)
    assert (requested.reference, requested.digest) == (reference, digest)


def test_a_registry_name_stays_a_registry_reference() -> None:
    assert isinstance(requested_image(_params('localhost:5000/oci:1.0')).name, ImageReference)


def test_an_oci_name_without_a_tag_is_refused() -> None:
    with pytest.raises(InvalidReferenceError, match='names no tag of a local OCI layout'):
        requested_image(_params('oci:/srv/layout'))


def _layout(tmp_path: pathlib.Path) -> tuple[pathlib.Path, str]:
    image = build_image('oci', proxy_module(), RUNTIME, {})
    store_image(str(tmp_path / 'layout'), '1.0', image.descriptor, image.layout_blobs)
    return tmp_path / 'layout', image.digest


def test_an_oci_name_opens_its_layout_and_tag(tmp_path: pathlib.Path) -> None:
    layout, digest = _layout(tmp_path)
    source = open_source(None, requested_image(_params(f'oci:{layout}:1.0')))  # type: ignore[arg-type]  # no registry, no module
    assert isinstance(source, LayoutSource)
    assert source.reference == f'oci:{layout}:1.0'
    resolved = resolve(source, None)
    assert resolved is not None
    assert resolved.digest == digest


def test_an_oci_name_with_a_digest_opens_the_manifest_index_json_lists(tmp_path: pathlib.Path) -> None:
    layout, digest = _layout(tmp_path)
    source = open_source(None, requested_image(_params(f'oci:{layout}@{digest}')))  # type: ignore[arg-type]
    assert isinstance(source, LayoutDigestSource)
    assert source.reference == f'oci:{layout}@{digest}'
    resolved = resolve(source, None)
    assert resolved is not None
    assert resolved.digest == digest
    absent = open_source(None, requested_image(_params(f'oci:{layout}@{DIGEST}')))  # type: ignore[arg-type]
    assert absent is not None
    assert resolve(absent, None) is None


def test_an_oci_name_of_a_missing_layout_says_so(tmp_path: pathlib.Path) -> None:
    with pytest.raises(LayoutError, match=f'OCI layout {tmp_path}/nothing does not exist'):
        open_source(None, requested_image(_params(f'oci:{tmp_path}/nothing:1.0')))  # type: ignore[arg-type]
    assert open_source(None, requested_image(_params(f'oci:{tmp_path}/nothing:1.0')), missing_layout_ok=True) is None  # type: ignore[arg-type]
