# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Inspect a WebAssembly binary in pure Python: header, sections, exports, proxy-wasm ABI."""

from __future__ import annotations

import dataclasses
import re

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmModuleError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import sha256_digest

WASM_MAGIC = b'\0asm'
_MODULE_VERSION = b'\x01\x00\x00\x00'
_COMPONENT_VERSION = b'\x0d\x00\x01\x00'
_EXPORT_SECTION = 7
_LAST_KNOWN_SECTION = 13
_FUNCTION_EXPORT = 0
_EXPORT_KINDS = 5
_PROXY_ABI_EXPORT = re.compile(r'^proxy_abi_version_\d+_\d+_\d+$')
# V8 (Envoy's runtime) and the JS embedding refuse modules with more exports; the cap bounds what is kept in memory.
MAX_EXPORTS = 100_000


@dataclasses.dataclass(frozen=True)
class WasmModuleInfo:
    size: int
    digest: str
    exports: tuple[str, ...]
    abi_versions: tuple[str, ...]


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self.offset = 0

    def fail(self, problem: str) -> WasmModuleError:
        return WasmModuleError(f'{self.name} is not a valid WebAssembly module: {problem} (at byte {self.offset})')

    def byte(self) -> int:
        if self.offset >= len(self.data):
            raise self.fail('unexpected end of data')
        value = self.data[self.offset]
        self.offset += 1
        return value

    def u32(self) -> int:
        """Unsigned LEB128, at most five bytes, as the binary format requires."""
        result = 0
        for shift in range(0, 35, 7):
            value = self.byte()
            result |= (value & 0x7F) << shift
            if not value & 0x80:
                if result > 0xFFFFFFFF:
                    raise self.fail('integer out of u32 range')
                return result
        raise self.fail('integer encoding longer than 5 bytes')

    def take(self, length: int) -> bytes:
        if length > len(self.data) - self.offset:
            raise self.fail(f'length {length} runs past the end of the data')
        chunk = self.data[self.offset:self.offset + length]
        self.offset += length
        return chunk


def _read_exports(section: _Reader) -> list[tuple[str, int]]:
    count = section.u32()
    if count > MAX_EXPORTS:
        raise section.fail(f'{count} exports, more than the {MAX_EXPORTS} WebAssembly runtimes accept')
    exports = []
    for _index in range(count):
        raw_name = section.take(section.u32())
        try:
            name = raw_name.decode('utf-8')
        except UnicodeDecodeError:
            raise section.fail('export name is not UTF-8') from None
        kind = section.byte()
        if kind >= _EXPORT_KINDS:
            raise section.fail(f'unknown export kind {kind}')
        section.u32()
        exports.append((name, kind))
    if section.offset != len(section.data):
        raise section.fail('export section has trailing bytes')
    return exports


def inspect_wasm(data: bytes, name: str) -> WasmModuleInfo:
    """Validate the module structure of ``data`` (named ``name`` in errors) and describe it."""
    reader = _Reader(data, name)
    if data[:4] != WASM_MAGIC:
        raise reader.fail('it does not start with the WebAssembly magic bytes \\0asm')
    version = data[4:8]
    if version == _COMPONENT_VERSION:
        raise reader.fail('it is a WebAssembly component, not a core module; proxy-wasm needs a core module')
    if version != _MODULE_VERSION:
        raise reader.fail(f'unsupported binary version {version.hex()}, expected 01000000')
    reader.offset = 8

    exports: list[tuple[str, int]] = []
    while reader.offset < len(data):
        section_id = reader.byte()
        if section_id > _LAST_KNOWN_SECTION:
            raise reader.fail(f'unknown section id {section_id}')
        body = reader.take(reader.u32())
        if section_id == _EXPORT_SECTION:
            exports = _read_exports(_Reader(body, name))

    abi_versions = sorted(
        export for export, kind in exports if kind == _FUNCTION_EXPORT and _PROXY_ABI_EXPORT.match(export)
    )
    return WasmModuleInfo(
        size=len(data),
        digest=sha256_digest(data),
        exports=tuple(export for export, _kind in exports),
        abi_versions=tuple(abi_versions),
    )
