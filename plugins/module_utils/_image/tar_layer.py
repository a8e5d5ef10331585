# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Tar layers of compat images: write them reproducibly, read them without extracting.

Reading never touches the disk: the stream is decompressed and walked member by
member, and only the bytes of the members a caller wants are read. Every decompressed
stream is bounded, so a decompression bomb fails instead of filling memory or disk.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import posixpath
import tarfile
import typing as t
import zlib

from ansible_collections.wasm.oci.plugins.module_utils._common import dependencies
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError

_GZIP_MAGIC = b'\x1f\x8b'
_ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
# Fixed member metadata keeps a rebuilt layer byte-for-byte identical.
_MEMBER_MODE = 0o644
_MEMBER_MTIME = 0


def build_tar_gzip_layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """Return ``(uncompressed_tar, gzipped_tar)`` holding ``files`` at the layer root, in the order given."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode='w', format=tarfile.USTAR_FORMAT) as archive:
        for name in files:
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = _MEMBER_MODE
            info.mtime = _MEMBER_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ''
            archive.addfile(info, io.BytesIO(files[name]))
    tar_bytes = tar_buffer.getvalue()
    gzip_buffer = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=gzip_buffer, mtime=0, compresslevel=9) as compressor:
        compressor.write(tar_bytes)
    return tar_bytes, gzip_buffer.getvalue()


class _BoundedReader:
    """Fail once more than ``limit`` bytes come out of a (decompressing) stream."""

    def __init__(self, stream: t.BinaryIO, limit: int, what: str) -> None:
        self._stream = stream
        self._limit = limit
        self._what = what
        self._count = 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b''
        if size is None or size < 0:
            size = self._limit + 1 - self._count
        chunk = self._stream.read(min(size, self._limit + 1 - self._count))
        self._count += len(chunk)
        if self._count > self._limit:
            raise ImageFormatError(
                f'{self._what} decompresses to more than max_size ({self._limit} bytes); '
                'refusing it (raise max_size if the image is genuine)'
            )
        return chunk


class _PeekableStream:
    """Let the compression be sniffed from the first bytes of a non-seekable stream."""

    def __init__(self, stream: t.BinaryIO) -> None:
        self._stream = stream
        self._head = b''

    def peek(self, size: int) -> bytes:
        while len(self._head) < size:
            chunk = self._stream.read(size - len(self._head))
            if not chunk:
                break
            self._head += chunk
        return self._head

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                chunk, self._head = self._head + self._stream.read(), b''
            else:
                chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._stream.read(size)


def _decompressed(stream: t.BinaryIO, what: str) -> t.BinaryIO:
    """Sniff the compression by magic bytes: tools label layers inconsistently."""
    peekable = _PeekableStream(stream)
    head = peekable.peek(4)
    if head.startswith(_GZIP_MAGIC):
        return t.cast(t.BinaryIO, gzip.GzipFile(fileobj=peekable, mode='rb'))
    if head.startswith(_ZSTD_MAGIC):
        if dependencies.zstd_reader is None:
            raise dependencies.MissingDependency('zstandard', f'Reading {what}, which is zstd-compressed,')
        return dependencies.zstd_reader(t.cast(t.BinaryIO, peekable))
    return t.cast(t.BinaryIO, peekable)


_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error) + dependencies.ZSTD_ERRORS


class _MemberReader:
    """A member's stream whose read errors are reported as a broken layer."""

    def __init__(self, stream: t.BinaryIO, what: str) -> None:
        self._stream = stream
        self._what = what

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except _READ_ERRORS as exc:
            raise ImageFormatError(f'{self._what} is not a readable tar layer: {exc}') from None


@dataclasses.dataclass
class LayerMember:
    name: str
    size: int
    stream: t.BinaryIO


def _escapes_root(name: str) -> bool:
    return name.startswith('/') or '..' in posixpath.normpath(name).split('/')


def scan_layer(stream: t.BinaryIO, what: str, wanted: t.Collection[str], max_size: int) -> t.Iterator[LayerMember]:
    """Yield the first member whose base name is in ``wanted``, for each such name.

    The caller must read a member's stream before asking for the next one. A member
    path that escapes the layer root, or a wanted name that is not a regular file,
    makes the whole layer fail: no legitimate Wasm image has either.
    """
    bounded = _BoundedReader(_decompressed(stream, what), max_size, what)
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=t.cast(t.IO[bytes], bounded), mode='r|') as archive:
            for member in archive:
                if _escapes_root(member.name):
                    raise ImageFormatError(f'{what} has a member {member.name!r} whose path escapes the layer root; refusing it')
                basename = posixpath.basename(member.name.rstrip('/'))
                if basename not in wanted or basename in seen:
                    continue
                if not member.isreg():
                    raise ImageFormatError(
                        f'{what} has {member.name!r} as a link or special file, not a regular file; refusing it'
                    )
                if member.size > max_size:
                    raise ImageFormatError(f'{what} member {member.name!r} is {member.size} bytes, more than max_size ({max_size})')
                seen.add(basename)
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise ImageFormatError(f'{what} member {member.name!r} has no readable content')
                yield LayerMember(name=basename, size=member.size, stream=t.cast(t.BinaryIO, _MemberReader(extracted, what)))
    except _READ_ERRORS as exc:
        raise ImageFormatError(f'{what} is not a readable tar layer: {exc}') from None
