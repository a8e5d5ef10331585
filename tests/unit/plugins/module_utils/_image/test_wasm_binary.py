# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmModuleError
from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import MAX_EXPORTS, WasmModuleInfo, inspect_wasm
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import (
    EXPORT_FUNC,
    EXPORT_GLOBAL,
    EXPORT_MEMORY,
    EXPORT_TABLE,
    PROXY_EXPORTS,
    SECTION_CUSTOM,
    SECTION_EXPORT,
    SECTION_TYPE,
    WASM_HEADER,
    build_module,
    export_entry,
    export_section,
    name,
    raw_module,
    section,
    uleb128,
    vector,
)

FILE = '/srv/filters/add_header.wasm'


def test_uleb128_helper_encodes_like_the_spec() -> None:
    assert uleb128(0) == b'\x00'
    assert uleb128(127) == b'\x7f'
    assert uleb128(128) == b'\x80\x01'
    assert uleb128(624485) == b'\xe5\x8e\x26'


def test_header_only_module_is_valid_and_has_no_exports() -> None:
    assert inspect_wasm(WASM_HEADER, FILE) == WasmModuleInfo(
        size=8, digest='sha256:' + hashlib.sha256(WASM_HEADER).hexdigest(), exports=(), abi_versions=(),
    )


def test_proxy_wasm_module_reports_exports_abi_size_and_digest() -> None:
    module = build_module(PROXY_EXPORTS)
    info = inspect_wasm(module, FILE)
    assert info.exports == (*PROXY_EXPORTS, 'memory')
    assert info.abi_versions == ('proxy_abi_version_0_2_1',)
    assert info.size == len(module)
    assert info.digest == 'sha256:' + hashlib.sha256(module).hexdigest()


def test_several_abi_exports_are_all_reported_sorted() -> None:
    module = build_module(['proxy_abi_version_0_2_1', 'proxy_on_vm_start', 'proxy_abi_version_0_1_0', 'proxy_abi_version_0_2_0'])
    assert inspect_wasm(module, FILE).abi_versions == ('proxy_abi_version_0_1_0', 'proxy_abi_version_0_2_0', 'proxy_abi_version_0_2_1')


def test_module_without_abi_export_has_no_abi_versions() -> None:
    info = inspect_wasm(build_module(['_start', 'proxy_on_vm_start']), FILE)
    assert info.abi_versions == ()
    assert info.exports == ('_start', 'proxy_on_vm_start', 'memory')


def test_abi_name_on_a_non_function_export_is_not_an_abi_version() -> None:
    module = build_module(['proxy_on_vm_start'], memory_exports=['proxy_abi_version_0_2_0'], global_exports=['proxy_abi_version_0_1_0'])
    info = inspect_wasm(module, FILE)
    assert info.abi_versions == ()
    assert 'proxy_abi_version_0_1_0' in info.exports
    assert 'proxy_abi_version_0_2_0' in info.exports


@pytest.mark.parametrize('export', ['proxy_abi_version_0_2', 'proxy_abi_version_a_b_c', 'xproxy_abi_version_0_2_1', 'proxy_abi_version_0_2_1_x'])
def test_names_that_only_resemble_the_abi_export_are_not_abi_versions(export: str) -> None:
    assert inspect_wasm(build_module([export]), FILE).abi_versions == ()


def test_custom_sections_are_skipped() -> None:
    module = build_module(['proxy_abi_version_0_2_1'], custom=b'\x00\x01\x02')
    assert inspect_wasm(module, FILE).abi_versions == ('proxy_abi_version_0_2_1',)


def test_every_known_export_kind_is_accepted() -> None:
    entries = [export_entry('f', EXPORT_FUNC), export_entry('t', EXPORT_TABLE), export_entry('m', EXPORT_MEMORY),
               export_entry('g', EXPORT_GLOBAL), export_entry('tag', 4)]
    assert inspect_wasm(raw_module(export_section(entries)), FILE).exports == ('f', 't', 'm', 'g', 'tag')


def test_unicode_export_names_are_decoded() -> None:
    module = raw_module(export_section([export_entry('grüße_✓', EXPORT_FUNC)]))
    assert inspect_wasm(module, FILE).exports == ('grüße_✓',)


def test_multi_byte_leb128_lengths_are_read() -> None:
    long_name = 'n' * 200
    module = raw_module(section(SECTION_CUSTOM, name('c') + b'\0' * 300), export_section([export_entry(long_name, EXPORT_FUNC, 300)]))
    assert inspect_wasm(module, FILE).exports == (long_name,)


def test_redundant_but_terminated_five_byte_leb128_is_accepted() -> None:
    module = WASM_HEADER + bytes([SECTION_CUSTOM]) + b'\x82\x80\x80\x80\x00' + b'\x01c'
    assert inspect_wasm(module, FILE).exports == ()


MALFORMED = [
    pytest.param(b'', 'does not start with the WebAssembly magic', id='empty'),
    pytest.param(b'\0ASM\x01\x00\x00\x00', 'does not start with the WebAssembly magic', id='wrong_magic'),
    pytest.param(b'(module\n  (func (export "proxy_abi_version_0_2_1"))\n)\n', 'does not start with the WebAssembly magic', id='text_file'),
    pytest.param(b'\0as', 'does not start with the WebAssembly magic', id='truncated_magic'),
    pytest.param(b'\0asm\x01\x00', 'unsupported binary version 0100', id='truncated_version'),
    pytest.param(b'\0asm', 'unsupported binary version , expected 01000000', id='magic_only'),
    pytest.param(b'\0asm\x02\x00\x00\x00', 'unsupported binary version 02000000', id='wrong_version'),
    pytest.param(b'\0asm\x0d\x00\x01\x00', 'it is a WebAssembly component, not a core module', id='component'),
    pytest.param(WASM_HEADER + b'\x01\x05\x01\x60', 'length 5 runs past the end of the data', id='section_past_end'),
    pytest.param(WASM_HEADER + b'\x01', 'unexpected end of data', id='section_without_length'),
    pytest.param(WASM_HEADER + b'\x01\x80', 'unexpected end of data', id='truncated_leb128'),
    pytest.param(WASM_HEADER + b'\x01\x80\x80\x80\x80\x80\x00', 'integer encoding longer than 5 bytes', id='leb128_too_long'),
    pytest.param(WASM_HEADER + b'\x01\xff\xff\xff\xff\x7f', 'integer out of u32 range', id='leb128_out_of_range'),
    pytest.param(WASM_HEADER + b'\x0e\x00', 'unknown section id 14', id='unknown_section_id'),
    pytest.param(WASM_HEADER + b'\xff\x00', 'unknown section id 255', id='section_id_255'),
    pytest.param(raw_module(export_section([export_entry(b'\xff\xfename', EXPORT_FUNC)])), 'export name is not UTF-8', id='export_name_not_utf8'),
    pytest.param(raw_module(export_section([export_entry('f', 5)])), 'unknown export kind 5', id='unknown_export_kind'),
    pytest.param(raw_module(export_section([export_entry('f', 0x40)])), 'unknown export kind 64', id='export_kind_64'),
    pytest.param(raw_module(section(SECTION_EXPORT, vector([export_entry('f', EXPORT_FUNC)]) + b'\x00')),
                 'export section has trailing bytes', id='export_section_trailing_bytes'),
    pytest.param(raw_module(section(SECTION_EXPORT, uleb128(2) + export_entry('f', EXPORT_FUNC))),
                 'unexpected end of data', id='export_count_too_high'),
    pytest.param(raw_module(section(SECTION_EXPORT, uleb128(1) + uleb128(10) + b'abc')),
                 'length 10 runs past the end of the data', id='export_name_past_section_end'),
    pytest.param(raw_module(section(SECTION_EXPORT, uleb128(1) + name('f'))), 'unexpected end of data', id='export_without_kind'),
    pytest.param(build_module(['proxy_abi_version_0_2_1'])[:-3], 'runs past the end of the data', id='truncated_module'),
    pytest.param(raw_module(section(SECTION_TYPE, b'')) + b'\x01', 'unexpected end of data', id='trailing_section_id'),
]


@pytest.mark.parametrize(('data', 'problem'), MALFORMED)
def test_malformed_module_is_rejected_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(WasmModuleError) as caught:
        inspect_wasm(data, FILE)
    message = str(caught.value)
    assert message.startswith(f'{FILE} is not a valid WebAssembly module: ')
    assert problem in message
    assert '(at byte ' in message


def test_more_exports_than_runtimes_accept_are_refused_before_they_are_read() -> None:
    # Each export here is 3 bytes; kept as Python objects they would take some 100 bytes each.
    body = uleb128(MAX_EXPORTS + 1) + export_entry('', EXPORT_FUNC) * (MAX_EXPORTS + 1)
    with pytest.raises(WasmModuleError, match=f'{MAX_EXPORTS + 1} exports, more than the {MAX_EXPORTS} WebAssembly runtimes accept'):
        inspect_wasm(raw_module(section(SECTION_EXPORT, body)), 'filter.wasm')


def test_as_many_exports_as_runtimes_accept_are_read() -> None:
    entries = [export_entry(f'e{index}', EXPORT_FUNC, index) for index in range(MAX_EXPORTS)]
    assert len(inspect_wasm(raw_module(export_section(entries)), 'filter.wasm').exports) == MAX_EXPORTS
