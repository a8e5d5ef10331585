# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Property: any layer bytes, raw or compressed, are scanned or refused with the collection's error, in bounded time and memory."""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import io
import tarfile

import pytest
from hypothesis import given, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image import optional_zstd
from ansible_collections.wasm.oci.plugins.module_utils._image.tar_layer import scan_layer
from ansible_collections.wasm.oci.tests.unit.property_support import PARSER_SETTINGS, bounded_memory_outcome, mutated

WHAT = 'Layer sha256:abcd of registry.example.com/filter:1'
WANTED = frozenset({'plugin.wasm', 'runtime-config.json'})
MAX_SIZE = 1024 * 1024
MEMORY_LIMIT = 8 * 1024 * 1024
NAMES = st.sampled_from(['plugin.wasm', 'runtime-config.json', './a/plugin.wasm', 'dir/', '../plugin.wasm', '/abs', 'x' * 120]) | st.text(max_size=40)
KINDS = st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE])
HEADER_TYPES = st.sampled_from([b'0', b'\0', b'1', b'2', b'5', b'7', b'x', b'g', b'X', b'L', b'K', b'S', b'A'])


@st.composite
def tar_archives(draw: st.DrawFn) -> bytes:
    """A tar as tarfile writes it, in any of its formats."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))) as archive:
        for _member in range(draw(st.integers(0, 4))):
            info = tarfile.TarInfo(draw(NAMES))
            info.type = draw(KINDS)
            data = draw(st.binary(max_size=600)) if info.type == tarfile.REGTYPE else b''
            info.size = len(data)
            info.linkname = draw(st.sampled_from(['', 'plugin.wasm', '../../etc/passwd']))
            info.pax_headers = draw(st.dictionaries(st.sampled_from(['comment', 'path', 'size', 'mtime', 'hdrcharset']),
                                                    st.text(max_size=20), max_size=2))
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _octal(value: int, digits: int) -> bytes:
    return (b'%0*o' % (digits - 1, value))[-(digits - 1):] + b'\0'


@st.composite
def raw_headers(draw: st.DrawFn) -> bytes:
    """Hand-made header blocks with a valid checksum, any type and size, and whatever data follows."""
    block = bytearray(draw(st.binary(min_size=512, max_size=512)) if draw(st.booleans()) else bytes(512))
    name = draw(NAMES).encode('utf-8', 'surrogateescape')[:100]
    block[0:100] = name.ljust(100, b'\0')
    size = draw(st.integers(0, 4096) | st.integers(0, 8**11 - 1))
    block[124:136] = _octal(size, 12) if draw(st.booleans()) else b'\x80' + size.to_bytes(11, 'big')
    block[156:157] = draw(HEADER_TYPES)
    block[257:265] = draw(st.sampled_from([b'ustar\x0000', b'ustar  \0', bytes(8)]))
    block[148:156] = b' ' * 8
    block[148:156] = b'%06o\0 ' % sum(block)
    pax_records = st.sampled_from([b'20 path=plugin.wasm\n', b'22 GNU.sparse.major=1\n', b'12 size=99\n', b'9' * 40, b'5 x=\n', b'2 '])
    follow = draw(st.one_of(st.binary(max_size=1024), st.lists(pax_records, max_size=6).map(b''.join)))
    return bytes(block) + follow


LAYERS = st.one_of(
    st.binary(max_size=2048),
    tar_archives(),
    mutated(tar_archives()),
    st.lists(raw_headers(), min_size=1, max_size=4).map(b''.join),
    st.builds(lambda headers, tail: headers + tail, st.lists(raw_headers(), max_size=3).map(b''.join), tar_archives()),
)


def _consume(data: bytes) -> list[tuple[str, int]]:
    return [(member.name, len(member.stream.read())) for member in scan_layer(io.BytesIO(data), WHAT, WANTED, MAX_SIZE)]


def _check(data: bytes) -> None:
    result = bounded_memory_outcome(MEMORY_LIMIT, _consume, data)
    assert isinstance(result, (list, WasmOciError))


@PARSER_SETTINGS
@given(LAYERS)
def test_any_tar_bytes_are_scanned_or_refused(data: bytes) -> None:
    _check(data)


@PARSER_SETTINGS
@given(LAYERS.map(lambda data: gzip.compress(data, mtime=0)) | mutated(LAYERS.map(lambda data: gzip.compress(data, mtime=0))))
def test_any_gzipped_tar_bytes_are_scanned_or_refused(data: bytes) -> None:
    _check(data)


@pytest.mark.skipif(optional_zstd.zstd_reader is None or importlib.util.find_spec('zstandard') is None,
                    reason='needs zstandard to write zstd layers and a zstd implementation to read them')
@PARSER_SETTINGS
@given(LAYERS, st.integers(0, 8))
def test_any_zstd_compressed_tar_bytes_are_scanned_or_refused(data: bytes, cut: int) -> None:
    zstandard = importlib.import_module('zstandard')
    _check(zstandard.ZstdCompressor().compress(data)[:-cut or None])
