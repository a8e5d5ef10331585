# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import ecds_document, wasm_filter
from ansible_collections.wasm.oci.plugins.module_utils._envoy.filter_resource import module_file, plugin_name, wasm_filter_type


@pytest.mark.parametrize('filter_type', ['http', 'network'])
def test_a_wasm_filter_as_envoy_wasm_filters_writes_it(filter_type: str) -> None:
    resource = ecds_document(wasm_filter('add_header', '/srv/wasm/add_header.wasm', root_id='add_header', filter_type=filter_type))['resources'][0]
    assert (wasm_filter_type(resource), plugin_name(resource), module_file(resource)) == (filter_type, 'add_header', '/srv/wasm/add_header.wasm')


@pytest.mark.parametrize(('resource', 'filter_type'), [
    pytest.param(None, None, id='none'),
    pytest.param({}, None, id='empty'),
    pytest.param({'name': 'rbac', 'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC'}}, None, id='not-wasm'),
    pytest.param({'typed_config': 'junk'}, None, id='typed-config-not-a-mapping'),
    pytest.param({'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', 'config': ['junk']}}, 'http',
                 id='config-not-a-mapping'),
])
def test_malformed_resources_name_no_plugin_or_module(resource: t.Any, filter_type: str | None) -> None:
    assert (wasm_filter_type(resource), plugin_name(resource), module_file(resource)) == (filter_type, None, None)


def test_a_plugin_without_a_name_and_a_module_from_elsewhere() -> None:
    resource = {'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm',
                                 'config': {'name': '', 'vm_config': {'code': {'remote': {'http_uri': {'uri': 'https://example.com/m.wasm'}}}}}}}
    assert (wasm_filter_type(resource), plugin_name(resource), module_file(resource)) == ('network', None, None)
