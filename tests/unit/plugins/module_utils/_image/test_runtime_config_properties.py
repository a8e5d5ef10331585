# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Property: any bytes are a runtime config (with string lists where the spec has them) or a RuntimeConfigError."""

from __future__ import annotations

import json
import typing as t

from hypothesis import given, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RuntimeConfigError
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig, parse_runtime_config
from ansible_collections.wasm.oci.tests.unit.property_support import JSON_BYTES, JSON_VALUES, PARSER_SETTINGS, outcome

STRINGS = st.lists(st.text(max_size=8), max_size=3)
CONFIGS = st.fixed_dictionaries({}, optional={
    'type': st.just('envoy_proxy') | JSON_VALUES,
    'abiVersions': STRINGS | JSON_VALUES,
    'abi_versions': STRINGS | JSON_VALUES,
    'abi_version': st.text(max_size=30) | JSON_VALUES,
    'config': st.fixed_dictionaries({}, optional={'root_ids': STRINGS | JSON_VALUES, 'rootIds': STRINGS | JSON_VALUES,
                                                  'extra': JSON_VALUES}) | JSON_VALUES,
})


def _check(result: t.Any) -> None:
    if isinstance(result, RuntimeConfigError):
        return
    assert isinstance(result, RuntimeConfig)
    assert isinstance(result.runtime_type, (str, type(None)))
    assert all(isinstance(item, str) for item in result.abi_versions + result.root_ids)
    json.dumps(result.as_dict())


@PARSER_SETTINGS
@given(JSON_BYTES)
def test_any_bytes_give_a_runtime_config_or_a_runtime_config_error(data: bytes) -> None:
    _check(outcome(parse_runtime_config, data, 'the config of registry.example.com/filter:1'))


@PARSER_SETTINGS
@given(CONFIGS)
def test_configs_of_any_field_types_give_a_runtime_config_or_a_runtime_config_error(document: dict[str, t.Any]) -> None:
    _check(outcome(parse_runtime_config, json.dumps(document).encode(), 'the config of registry.example.com/filter:1'))
