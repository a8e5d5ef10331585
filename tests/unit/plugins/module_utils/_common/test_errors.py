# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common import errors


@pytest.mark.parametrize(
    'error_class',
    [errors.InvalidReferenceError, errors.WasmModuleError, errors.RuntimeConfigError, errors.ImageFormatError, errors.LayoutError],
)
def test_every_error_is_a_wasm_oci_error_that_keeps_its_message(error_class: type[errors.WasmOciError]) -> None:
    assert issubclass(error_class, errors.WasmOciError)
    assert issubclass(error_class, Exception)
    assert str(error_class('what is wrong')) == 'what is wrong'


def test_errors_are_distinct() -> None:
    assert not issubclass(errors.LayoutError, errors.ImageFormatError)
    assert not issubclass(errors.RuntimeConfigError, errors.ImageFormatError)
