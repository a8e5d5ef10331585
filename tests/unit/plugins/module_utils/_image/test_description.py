# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import json

from ansible_collections.wasm.oci.plugins.module_utils._image.description import ImageDescription
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig

DIGEST = 'sha256:' + '1' * 64
INDEX_DIGEST = 'sha256:' + '2' * 64
WASM_DIGEST = 'sha256:' + '3' * 64


def _description(**overrides: object) -> ImageDescription:
    values: dict[str, object] = {
        'reference': 'oci:/srv/layout:1.0',
        'digest': DIGEST,
        'media_type': 'application/vnd.oci.image.manifest.v1+json',
        'variant': 'compat',
        'runtime': RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_2_1',), ('add_header',), {'k': 'v'}),
        'wasm_digest': WASM_DIGEST,
        'wasm_size': 512,
        'annotations': {'module.wasm.image/variant': 'compat'},
        'platform': {'os': 'wasi', 'architecture': 'wasm'},
        'index_digest': INDEX_DIGEST,
    }
    values.update(overrides)
    return ImageDescription(**values)  # type: ignore[arg-type]


def test_as_dict_is_the_image_structure_modules_return() -> None:
    assert _description().as_dict() == {
        'reference': 'oci:/srv/layout:1.0',
        'digest': DIGEST,
        'index_digest': INDEX_DIGEST,
        'media_type': 'application/vnd.oci.image.manifest.v1+json',
        'variant': 'compat',
        'runtime': {'type': 'envoy_proxy', 'abi_versions': ['proxy_abi_version_0_2_1'], 'root_ids': ['add_header'], 'config': {'k': 'v'}},
        'wasm': {'digest': WASM_DIGEST, 'size': 512},
        'annotations': {'module.wasm.image/variant': 'compat'},
        'platform': {'os': 'wasi', 'architecture': 'wasm'},
    }


def test_as_dict_keeps_missing_values_as_none() -> None:
    result = _description(platform=None, index_digest=None).as_dict()
    assert result['platform'] is None
    assert result['index_digest'] is None


def test_index_digest_defaults_to_none() -> None:
    values = _description().as_dict()
    description = ImageDescription(
        reference='r', digest=DIGEST, media_type='m', variant='oci', runtime=RuntimeConfig(None),
        wasm_digest=WASM_DIGEST, wasm_size=1, annotations={}, platform=None,
    )
    assert description.index_digest is None
    assert set(description.as_dict()) == set(values)


def test_as_dict_copies_so_callers_cannot_change_the_description() -> None:
    description = _description()
    result = description.as_dict()
    result['annotations']['x'] = 'y'
    result['platform']['os'] = 'linux'
    assert description.annotations == {'module.wasm.image/variant': 'compat'}
    assert description.platform == {'os': 'wasi', 'architecture': 'wasm'}


def test_as_dict_is_json_serialisable() -> None:
    assert json.loads(json.dumps(_description().as_dict())) == _description().as_dict()
