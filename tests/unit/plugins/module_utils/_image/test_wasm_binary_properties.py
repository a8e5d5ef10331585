# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Property: any bytes are described as a module or refused with a WasmModuleError, in bounded time and memory."""

from __future__ import annotations

import typing as t

from hypothesis import given, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmModuleError
from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import WasmModuleInfo, inspect_wasm
from ansible_collections.wasm.oci.tests.unit.property_support import PARSER_SETTINGS, bounded_memory_outcome, mutated
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import WASM_HEADER, build_module, uleb128

MEMORY_LIMIT = 2 * 1024 * 1024


LEB128_VALUES = st.integers(0, 2**35)


@st.composite
def leb128(draw: st.DrawFn, value: st.SearchStrategy[int] = LEB128_VALUES) -> bytes:
    """A LEB128 of value, sometimes padded past five bytes or cut short."""
    encoded = bytearray(uleb128(draw(value)))
    for _padding in range(draw(st.integers(0, 5)) if draw(st.booleans()) else 0):
        encoded[-1] |= 0x80
        encoded.append(0)
    return bytes(encoded[:draw(st.integers(1, len(encoded)))] if draw(st.integers(0, 9)) == 0 else encoded)


@st.composite
def export_entries(draw: st.DrawFn) -> bytes:
    entries = []
    for _entry in range(draw(st.integers(0, 4))):
        raw_name = draw(st.text(max_size=12).map(str.encode) | st.binary(max_size=8))
        entries.append(draw(leb128(st.just(len(raw_name)))) + raw_name + bytes([draw(st.integers(0, 6))]) + draw(leb128()))
    return draw(leb128(st.integers(0, 8))) + b''.join(entries)


@st.composite
def sections(draw: st.DrawFn) -> bytes:
    section_id = draw(st.integers(0, 13) | st.integers(0, 255))
    body = draw(export_entries()) if section_id == 7 and draw(st.booleans()) else draw(st.binary(max_size=32))
    length = draw(leb128(st.just(len(body)) | st.integers(0, 2**32 + 5)))
    return bytes([section_id]) + length + body


PLAUSIBLE_MODULES = st.lists(sections(), max_size=5).map(lambda parts: WASM_HEADER + b''.join(parts))
EXPORT_NAMES = st.lists(st.text(max_size=12), max_size=6, unique=True)


def _check(data: bytes) -> t.Any:
    result = bounded_memory_outcome(MEMORY_LIMIT, inspect_wasm, data, 'filter.wasm')
    assert isinstance(result, (WasmModuleInfo, WasmModuleError))
    return result


@PARSER_SETTINGS
@given(st.binary(max_size=512) | mutated(st.just(build_module())))
def test_any_bytes_give_a_description_or_a_wasm_module_error(data: bytes) -> None:
    _check(data)


@PARSER_SETTINGS
@given(PLAUSIBLE_MODULES | mutated(PLAUSIBLE_MODULES))
def test_modules_with_odd_sections_and_integers_give_a_description_or_a_wasm_module_error(data: bytes) -> None:
    _check(data)


@PARSER_SETTINGS
@given(EXPORT_NAMES)
def test_a_valid_module_is_described_with_its_exports(names: list[str]) -> None:
    info = _check(build_module(function_exports=names, memory_exports=()))
    assert isinstance(info, WasmModuleInfo)
    assert info.exports == tuple(names)
