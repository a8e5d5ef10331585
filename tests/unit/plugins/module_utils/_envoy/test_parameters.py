# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.parameters import envoy_binary, file_mode, group_id


@pytest.mark.parametrize(('given', 'mode'), [('0640', 0o640), ('600', 0o600), (0o644, 0o644)])
def test_file_modes_are_octal(given: object, mode: int) -> None:
    assert file_mode(given) == mode


def test_a_mode_that_is_not_octal_is_refused() -> None:
    with pytest.raises(WasmOciError, match="mode='rw' is not an octal file mode"):
        file_mode('rw')


def test_groups_by_name_or_number() -> None:
    assert group_id(None) is None
    assert group_id('0') == 0
    assert group_id('root') == 0
    with pytest.raises(WasmOciError, match='no such group'):
        group_id('no-such-group-here')


def test_a_validation_binary_asked_for_and_missing_is_an_error() -> None:
    assert envoy_binary(None, lambda name: None) is None
    assert envoy_binary('envoy', lambda name: '/usr/bin/envoy') == '/usr/bin/envoy'
    with pytest.raises(WasmOciError, match='validate_with=envoy: no such Envoy binary'):
        envoy_binary('envoy', lambda name: None)
