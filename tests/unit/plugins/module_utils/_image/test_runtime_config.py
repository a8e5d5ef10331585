# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RuntimeConfigError
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig, new_runtime_config, parse_runtime_config

SOURCE = 'layer sha256:1234 of registry.example.com/filter:1'
ABI = 'proxy_abi_version_0_2_1'


def _parse(document: t.Any) -> RuntimeConfig:
    return parse_runtime_config(json.dumps(document).encode('utf-8'), SOURCE)


@pytest.mark.parametrize(
    'document',
    [
        {'type': 'envoy_proxy', 'abiVersions': [ABI], 'config': {'root_ids': ['add_header']}},
        {'type': 'envoy_proxy', 'abi_versions': [ABI], 'config': {'root_ids': ['add_header']}},
        {'type': 'envoy_proxy', 'abi_version': ABI, 'config': {'root_ids': ['add_header']}},
        {'type': 'envoy_proxy', 'abi_version': [ABI], 'config': {'root_ids': ['add_header']}},
        {'type': 'envoy_proxy', 'abiVersions': [ABI], 'config': {'rootIds': ['add_header']}},
        {'type': 'envoy_proxy', 'abi_version': f' {ABI} ', 'config': {'rootIds': ['add_header']}},
    ],
    ids=['canonical', 'snake_case_list', 'singular_string', 'singular_key_with_list', 'camel_case_root_ids', 'padded_string'],
)
def test_every_spelling_reads_to_the_same_config(document: dict[str, t.Any]) -> None:
    assert _parse(document) == RuntimeConfig('envoy_proxy', (ABI,), ('add_header',), {})


def test_comma_joined_abi_version_string_is_split_and_trimmed() -> None:
    config = _parse({'type': 'envoy_proxy', 'abi_version': 'proxy_abi_version_0_1_0, proxy_abi_version_0_2_1,,'})
    assert config.abi_versions == ('proxy_abi_version_0_1_0', 'proxy_abi_version_0_2_1')


def test_empty_abi_version_string_means_no_versions() -> None:
    assert _parse({'abi_version': ''}).abi_versions == ()


def test_camel_case_abi_versions_given_as_a_string_is_read_like_the_singular_spelling() -> None:
    assert _parse({'abiVersions': 'a,b'}).abi_versions == ('a', 'b')


def test_abi_versions_list_order_is_kept() -> None:
    assert _parse({'abiVersions': ['b', 'a']}).abi_versions == ('b', 'a')


def test_camel_case_abi_versions_wins_over_other_spellings() -> None:
    config = _parse({'abiVersions': ['camel'], 'abi_versions': ['snake'], 'abi_version': 'singular'})
    assert config.abi_versions == ('camel',)


def test_snake_case_root_ids_win_and_neither_spelling_stays_in_the_extra_config() -> None:
    config = _parse({'config': {'root_ids': ['snake'], 'rootIds': ['camel'], 'other': 1}})
    assert config.root_ids == ('snake',)
    assert config.extra_config == {'other': 1}


def test_extra_config_keeps_everything_besides_root_ids() -> None:
    extra = {'vm_id': 'vm', 'nested': {'a': [1, 2, None]}, 'flag': True}
    config = _parse({'type': 'envoy_proxy', 'config': dict(extra, root_ids=['r'])})
    assert config.extra_config == extra


@pytest.mark.parametrize(
    'document',
    [{}, {'type': None}, {'config': None}, {'config': {}}],
)
def test_missing_fields_default_to_empty(document: dict[str, t.Any]) -> None:
    assert _parse(document) == RuntimeConfig(runtime_type=None, abi_versions=(), root_ids=(), extra_config={})


def test_unknown_top_level_fields_are_ignored() -> None:
    assert _parse({'type': 'wasi', 'created': '2024-01-01', 'author': 'me'}) == RuntimeConfig('wasi')


def test_to_json_writes_the_canonical_form_exactly() -> None:
    config = RuntimeConfig('envoy_proxy', (ABI,), ('add_header', 'second'), {'zeta': 1, 'alpha': {'b': 2, 'a': 'ü'}})
    assert config.to_json() == (
        '{"abiVersions":["proxy_abi_version_0_2_1"],'
        '"config":{"alpha":{"a":"ü","b":2},"root_ids":["add_header","second"],"zeta":1},'
        '"type":"envoy_proxy"}'
    ).encode()


def test_to_json_of_an_empty_config_still_has_abi_versions_and_root_ids() -> None:
    assert RuntimeConfig(None).to_json() == b'{"abiVersions":[],"config":{"root_ids":[]}}'


@pytest.mark.parametrize(
    'config',
    [
        RuntimeConfig('envoy_proxy', (ABI,), ('add_header',), {'k': ['v', 1, 2.5, None, True]}),
        RuntimeConfig('envoy_proxy', ('proxy_abi_version_0_1_0', ABI), ('a', 'b'), {}),
        RuntimeConfig(None, (), (), {}),
        RuntimeConfig('wasi', (), ('x',), {'ü': 'ß'}),
    ],
)
def test_to_json_round_trips_through_parse(config: RuntimeConfig) -> None:
    assert parse_runtime_config(config.to_json(), SOURCE) == config


@pytest.mark.parametrize(
    'spelled',
    [
        b'{"type":"envoy_proxy","abiVersions":["proxy_abi_version_0_2_1"],"config":{"rootIds":["r"],"x":1}}',
        b'{"config":{"x":1,"root_ids":["r"]},"abi_version":"proxy_abi_version_0_2_1","type":"envoy_proxy"}',
        b'{\n  "type": "envoy_proxy",\n  "abi_versions": ["proxy_abi_version_0_2_1"],\n  "config": {"x": 1, "root_ids": ["r"]}\n}',
    ],
)
def test_any_spelling_is_rewritten_to_the_same_canonical_bytes(spelled: bytes) -> None:
    expected = b'{"abiVersions":["proxy_abi_version_0_2_1"],"config":{"root_ids":["r"],"x":1},"type":"envoy_proxy"}'
    assert parse_runtime_config(spelled, SOURCE).to_json() == expected


def test_as_dict_is_the_runtime_part_of_the_image_structure() -> None:
    config = RuntimeConfig('envoy_proxy', (ABI,), ('r',), {'x': 1})
    assert config.as_dict() == {'type': 'envoy_proxy', 'abi_versions': [ABI], 'root_ids': ['r'], 'config': {'x': 1}}


def test_as_dict_returns_a_copy_of_the_extra_config() -> None:
    config = RuntimeConfig('envoy_proxy', extra_config={'x': 1})
    config.as_dict()['config']['x'] = 2
    assert config.extra_config == {'x': 1}


MALFORMED = [
    pytest.param(b'\xff\xfe{}', 'is not valid JSON', id='not_utf8'),
    pytest.param(b'{"type": "envoy_proxy", "config": {', 'is not valid JSON', id='truncated'),
    pytest.param(b'', 'is not valid JSON', id='empty'),
    pytest.param(b'{"type": "envoy_proxy"} trailing', 'is not valid JSON', id='trailing_garbage'),
    pytest.param(b'["envoy_proxy"]', 'must be a JSON object, not list', id='array'),
    pytest.param(b'"envoy_proxy"', 'must be a JSON object, not str', id='string'),
    pytest.param(b'null', 'must be a JSON object, not NoneType', id='null'),
    pytest.param(b'42', 'must be a JSON object, not int', id='number'),
    pytest.param(b'{"type": 1}', 'type must be a string, not 1', id='type_number'),
    pytest.param(b'{"type": ["envoy_proxy"]}', 'type must be a string', id='type_list'),
    pytest.param(b'{"abiVersions": {"a": 1}}', 'abiVersions must be a list of strings', id='abi_versions_object'),
    pytest.param(b'{"abiVersions": 5}', 'abiVersions must be a list of strings, not 5', id='abi_versions_number'),
    pytest.param(b'{"abiVersions": [1, 2]}', 'abiVersions must be a list of strings, not [1, 2]', id='abi_versions_numbers'),
    pytest.param(b'{"abi_versions": ["ok", null]}', 'abi_versions must be a list of strings', id='abi_versions_with_null'),
    pytest.param(b'{"abi_version": 3}', 'abi_version must be a list of strings', id='abi_version_number'),
    pytest.param(b'{"config": ["root"]}', 'config must be a JSON object, not ["root"]', id='config_list'),
    pytest.param(b'{"config": "root"}', 'config must be a JSON object', id='config_string'),
    pytest.param(b'{"config": {"root_ids": "add_header"}}', 'config.root_ids must be a list of strings', id='root_ids_string'),
    pytest.param(b'{"config": {"root_ids": [1]}}', 'config.root_ids must be a list of strings', id='root_ids_numbers'),
    pytest.param(b'{"config": {"rootIds": {"a": 1}}}', 'config.rootIds must be a list of strings', id='root_ids_camel_object'),
    pytest.param(b'{"config": {"root_ids": null}}', 'config.root_ids must be a list of strings', id='root_ids_null'),
]


@pytest.mark.parametrize(('blob', 'problem'), MALFORMED)
def test_malformed_runtime_config_is_rejected_naming_its_source(blob: bytes, problem: str) -> None:
    with pytest.raises(RuntimeConfigError) as caught:
        parse_runtime_config(blob, SOURCE)
    message = str(caught.value)
    assert message.startswith(f'Runtime config in {SOURCE}')
    assert problem in message


def test_new_runtime_config_builds_what_it_was_given() -> None:
    config = new_runtime_config('envoy_proxy', [ABI], ['add_header'], {'x': 1})
    assert config == RuntimeConfig('envoy_proxy', (ABI,), ('add_header',), {'x': 1})


def test_new_runtime_config_copies_the_extra_config() -> None:
    extra = {'x': 1}
    config = new_runtime_config('envoy_proxy', [], ['r'], extra)
    extra['x'] = 2
    assert config.extra_config == {'x': 1}


@pytest.mark.parametrize('extra', [None, {}])
def test_new_runtime_config_without_extra_config_has_an_empty_one(extra: dict[str, t.Any] | None) -> None:
    assert new_runtime_config('envoy_proxy', [], ['r'], extra).extra_config == {}


def test_new_runtime_config_allows_no_root_ids_for_other_runtimes() -> None:
    assert new_runtime_config('wasi', [], [], None).root_ids == ()


def test_new_runtime_config_requires_a_runtime_type() -> None:
    with pytest.raises(RuntimeConfigError, match=r'^runtime_type must not be empty; use envoy_proxy'):
        new_runtime_config('', [], ['r'], None)


def test_new_runtime_config_requires_root_ids_for_envoy_proxy() -> None:
    with pytest.raises(RuntimeConfigError, match=r'^root_ids is empty, but an envoy_proxy filter needs at least one'):
        new_runtime_config('envoy_proxy', [ABI], [], None)


@pytest.mark.parametrize('root_ids', [[''], ['good', '']])
def test_new_runtime_config_rejects_empty_root_ids(root_ids: list[str]) -> None:
    with pytest.raises(RuntimeConfigError, match=r'^root_ids must not contain empty strings'):
        new_runtime_config('envoy_proxy', [], root_ids, None)


@pytest.mark.parametrize(
    ('extra', 'named'),
    [({'root_ids': ['a']}, 'root_ids'), ({'rootIds': ['a']}, 'rootIds'), ({'rootIds': [], 'root_ids': []}, 'rootIds, root_ids')],
)
def test_new_runtime_config_refuses_root_ids_inside_config(extra: dict[str, t.Any], named: str) -> None:
    with pytest.raises(RuntimeConfigError, match=f'^config must not set {named}: give root IDs in the root_ids option'):
        new_runtime_config('envoy_proxy', [], ['r'], extra)


@pytest.mark.parametrize(
    'extra',
    [
        {'when': object()},
        {'values': {1, 2}},
        {'bytes': b'raw'},
        {(1, 2): 'tuple key'},
        {'nan': float('nan')},
        {'inf': float('inf')},
    ],
    ids=['object', 'set', 'bytes', 'tuple_key', 'nan', 'infinity'],
)
def test_new_runtime_config_rejects_config_that_is_not_json(extra: dict[t.Any, t.Any]) -> None:
    with pytest.raises(RuntimeConfigError, match=r'^config cannot be written as JSON'):
        new_runtime_config('envoy_proxy', [], ['r'], extra)
