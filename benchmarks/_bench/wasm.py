"""Wasm custom sections, with which the benchmarks make modules of a given size or new blobs of one filter."""

from __future__ import annotations

WASM_HEADER = b'\0asm\x01\x00\x00\x00'
_CUSTOM_SECTION_ID = b'\x00'


def leb128(value: int) -> bytes:
    """``value`` as an unsigned LEB128 number, as Wasm writes lengths."""
    encoded = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        encoded.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(encoded)


def custom_section(name: bytes, content: bytes = b'') -> bytes:
    """A custom section (id 0) named ``name`` holding ``content``: any Wasm module may carry it, and runtimes ignore it."""
    payload = leb128(len(name)) + name + content
    return _CUSTOM_SECTION_ID + leb128(len(payload)) + payload
