# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Tar layers of compat images: write them reproducibly, read them without extracting.

Reading never touches the disk: the stream is decompressed and walked member by
member, and only the bytes of the members a caller wants are read. Every decompressed
stream is bounded, so a decompression bomb fails instead of filling memory or disk.

``tarfile`` parses what it reads, so each header block is looked at before it does:
on Pythons before 3.11.10 and 3.12.6 its PAX parser backtracks quadratically over
malformed records (CVE-2024-6232: a few MiB cost minutes of CPU), and chained
extended headers recurse once per header. Metadata members (PAX headers, GNU long
names) are therefore bounded in size and chain length, PAX records must be well
framed, and sparse files, which no Wasm layer has, are refused.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import posixpath
import re
import tarfile
import typing as t
import zlib

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, MissingDependency
from ansible_collections.wasm.oci.plugins.module_utils._image import optional_zstd
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import ByteStream

_GZIP_MAGIC = b'\x1f\x8b'
_ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
# Fixed member metadata keeps a rebuilt layer byte-for-byte identical.
_MEMBER_MODE = 0o644
_MEMBER_MTIME = 0
# A PAX header or GNU long name holds a path and a few attributes: hundreds of bytes, rarely more than PATH_MAX.
METADATA_MEMBER_LIMIT = 64 * 1024
# tarfile applies the global PAX records to every later member, so their size multiplies with the member count.
_GLOBAL_PAX_LIMIT = 4 * 1024
# Writers put at most a PAX header and GNU long name and link names before a member; tarfile recurses per header.
_MAX_CHAINED_HEADERS = 8
# Lengths and times need 20 digits; old tarfile searches digit runs quadratically.
_MAX_DIGIT_RUN = 64
_METADATA_KINDS = {
    tarfile.XHDTYPE: 'PAX extended header',
    tarfile.SOLARIS_XHDTYPE: 'PAX extended header',
    tarfile.XGLTYPE: 'PAX global header',
    tarfile.GNUTYPE_LONGNAME: 'GNU long name',
    tarfile.GNUTYPE_LONGLINK: 'GNU long link name',
}
_PAX_TYPES = frozenset({tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.XGLTYPE})
_PAX_LENGTH = re.compile(rb'([0-9]{1,20}) ')
_LONG_DIGIT_RUN = re.compile(rb'[0-9]{%d}' % (_MAX_DIGIT_RUN + 1))
_SPARSE_KEYWORD = b'GNU.sparse.'
_SKIP_CHUNK = 1024 * 1024
# How much compressed input a layer is read in; zlib's wbits for a gzip stream (16 + the largest window).
_INPUT_CHUNK = 1024 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def build_tar_gzip_layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """Return ``(uncompressed_tar, gzipped_tar)`` holding ``files`` at the layer root, in the order given."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode='w', format=tarfile.USTAR_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = _MEMBER_MODE
            info.mtime = _MEMBER_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ''
            archive.addfile(info, io.BytesIO(content))
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


class PeekableStream:
    """Let the compression be sniffed from the first bytes of a non-seekable stream."""

    def __init__(self, stream: t.BinaryIO) -> None:
        self._stream = stream
        self._head = b''

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer only at the end of the stream), left to be read again."""
        chunks, have = [self._head], len(self._head)
        while have < size:
            chunk = self._stream.read(size - have)
            if not chunk:
                break
            chunks.append(chunk)
            have += len(chunk)
        self._head = b''.join(chunks)
        return self._head[:size]

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes, fewer only at the end of the stream (tarfile relies on whole header blocks)."""
        if size is None or size < 0:
            chunk, self._head = self._head + self._stream.read(), b''
            return chunk
        if not self._head:
            # Nothing peeked at: pass the stream's bytes on as they are, without copying a large chunk twice.
            chunk = self._stream.read(size)
            if len(chunk) >= size or not chunk:
                return chunk
            self._head = chunk
        chunk = self.peek(size)
        self._head = self._head[len(chunk):]
        return chunk

    def read_some(self, size: int) -> bytes:
        """At most ``size`` bytes, as many as the stream gives at once: b'' only at its end."""
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._stream.read(size)


class GzipStream:
    """The decompressed bytes of a gzip stream, read forward, as ``gzip.GzipFile`` gives them, in large steps.

    GzipFile decompresses 8 KiB of input per step, each through every stream below it (the digest check, the download):
    for a layer of hundreds of MiB that overhead costs more than inflating. Here zlib reads the gzip framing itself
    (``wbits=31``: the header, then the CRC-32 and length of each member, which it checks). Like GzipFile (and
    ``gzip -d``), members that follow each other are read as one stream, and zero bytes after the last member are
    padding. A stream that ends inside a member raises EOFError; bytes that are not gzip raise zlib.error.
    Each ``read(size)`` returns at most ``size`` bytes (fewer before the end too), so a bomb is bounded by its reader.
    """

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._decompressor = zlib.decompressobj(_GZIP_WBITS)
        self._pending = b''  # input given to no decompressor yet
        self._started = False
        self._done = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b''.join(iter(lambda: self.read(_INPUT_CHUNK), b''))
        while size and not self._done:
            decompressor = self._decompressor
            if decompressor.eof:
                # What followed the member's end (zlib may also leave it in unconsumed_tail) is for the next one.
                self._next_member(decompressor.unused_data)
                continue
            if decompressor.unconsumed_tail:
                data = decompressor.decompress(decompressor.unconsumed_tail, size)
            else:
                compressed = self._pending or self._stream.read(_INPUT_CHUNK)
                self._pending = b''
                if not compressed and not self._started:
                    self._done = True  # no input at all: no member either, as GzipFile reads it
                    continue
                self._started = True
                # At the end of the input, zlib may still hold output that an earlier size limit kept back.
                data = decompressor.decompress(compressed, size)
                if not compressed and not data and not decompressor.eof:
                    raise EOFError('Compressed file ended before the end-of-stream marker was reached')
            if data:
                return data
        return b''

    def _next_member(self, rest: bytes) -> None:
        """After a member: the end of the stream, zero padding up to it, or the next member."""
        while True:
            rest = rest.lstrip(b'\0')
            if rest:
                self._decompressor = zlib.decompressobj(_GZIP_WBITS)
                self._pending = rest
                return
            rest = self._stream.read(_INPUT_CHUNK)
            if not rest:
                self._done = True
                return


def _decompressed(stream: t.BinaryIO, what: str) -> t.BinaryIO:
    """Sniff the compression by magic bytes: tools label layers inconsistently."""
    peekable = PeekableStream(stream)
    head = peekable.peek(4)
    if head.startswith(_GZIP_MAGIC):
        return t.cast(t.BinaryIO, GzipStream(peekable))
    if head.startswith(_ZSTD_MAGIC):
        if optional_zstd.zstd_reader is None:
            raise MissingDependency('zstandard', f'Reading {what}, which is zstd-compressed,')
        return optional_zstd.zstd_reader(t.cast(t.BinaryIO, peekable))
    return t.cast(t.BinaryIO, peekable)


_READ_ERRORS: tuple[type[Exception], ...] = (tarfile.TarError, EOFError, OSError, zlib.error, *optional_zstd.ZSTD_ERRORS)


def _check_pax_records(data: bytes, what: str) -> None:
    """Fail unless ``data`` (a PAX header's padded blocks) is a run of ``<length> <keyword>=<value>\\n`` records.

    Framed records with short digit runs are what makes tarfile's parse linear on every Python.
    """
    if _LONG_DIGIT_RUN.search(data):
        raise ImageFormatError(f'{what} has a PAX header with a run of more than {_MAX_DIGIT_RUN} digits; refusing it')
    position = 0
    while position < len(data) and data[position] != 0:
        match = _PAX_LENGTH.match(data, position)
        end = position + int(match.group(1)) - 1 if match else position
        if not match or end < match.end() or end >= len(data) or data[end] != 0x0A:
            raise ImageFormatError(f'{what} has a malformed PAX header record at byte {position}; refusing it')
        keyword, equals, _value = data[match.end():end].partition(b'=')
        if not keyword or not equals:
            raise ImageFormatError(f'{what} has a PAX header record without a keyword at byte {position}; refusing it')
        if keyword.startswith(_SPARSE_KEYWORD):
            raise ImageFormatError(f'{what} has a sparse file (PAX {keyword.decode("ascii", "replace")}); no Wasm layer has one, refusing it')
        position = end + 1


class _TarStream(PeekableStream):
    """The decompressed layer as tarfile reads it: forward only, each header looked at before tarfile parses it."""

    def __init__(self, stream: t.BinaryIO, what: str) -> None:
        super().__init__(stream)
        self._what = what
        self._position = 0
        self._chained = 0
        self._global_pax = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self._position += len(chunk)
        return chunk

    def read_some(self, size: int) -> bytes:
        chunk = super().read_some(size)
        self._position += len(chunk)
        return chunk

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or position < self._position:
            raise tarfile.StreamError('the layer is read as a stream and cannot go back')
        while self._position < position and self.read(min(position - self._position, _SKIP_CHUNK)):
            pass
        return self._position

    def check_next_header(self) -> None:
        """Refuse the header block tarfile is about to parse if parsing it (or what it announces) is unbounded."""
        try:
            header = tarfile.TarInfo.frombuf(self.peek(tarfile.BLOCKSIZE), tarfile.ENCODING, 'surrogateescape')
        except tarfile.HeaderError:
            return  # Not a header: tarfile ends the archive there or reports it.
        if header.size < 0:
            raise ImageFormatError(f'{self._what} has a member {header.name!r} with a negative size; refusing it')
        if header.type == tarfile.GNUTYPE_SPARSE:
            raise ImageFormatError(f'{self._what} has a sparse file {header.name!r}; no Wasm layer has one, refusing it')
        kind = _METADATA_KINDS.get(header.type)
        if kind is None:
            self._chained = 0
            return
        self._chained += 1
        if self._chained > _MAX_CHAINED_HEADERS:
            raise ImageFormatError(f'{self._what} chains more than {_MAX_CHAINED_HEADERS} extended tar headers; refusing it')
        if header.size > METADATA_MEMBER_LIMIT:
            raise ImageFormatError(
                f'{self._what} has a {kind} of {header.size} bytes, more than the {METADATA_MEMBER_LIMIT} bytes '
                'allowed for tar metadata; refusing it'
            )
        if header.type in _PAX_TYPES:
            if header.type == tarfile.XGLTYPE:
                self._global_pax += header.size
                if self._global_pax > _GLOBAL_PAX_LIMIT:
                    raise ImageFormatError(
                        f'{self._what} has PAX global headers of more than {_GLOBAL_PAX_LIMIT} bytes in all; refusing it'
                    )
            padded = -(-header.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            _check_pax_records(self.peek(tarfile.BLOCKSIZE + padded)[tarfile.BLOCKSIZE:], self._what)


class _CheckedTarInfo(tarfile.TarInfo):
    """TarInfo whose every header, chained ones included, passes ``_TarStream.check_next_header`` first."""

    __slots__ = ()

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> _CheckedTarInfo:  # pylint: disable=arguments-renamed  # 'tarfile' is the module
        t.cast(_TarStream, archive.fileobj).check_next_header()
        return super().fromtarfile(archive)


class _MemberContent:
    """The bytes of a regular member, read straight from the layer as the decompressor gives them.

    What tarfile's extractfile() would give, but its buffered file object wants each read whole, which costs two
    more copies of every MiB of a large module. tarfile still walks the headers: it seeks past what is left.
    """

    def __init__(self, layer: _TarStream, size: int) -> None:
        self._layer = layer
        self._left = size

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b''
        chunk = self._layer.read_some(self._left if size is None or size < 0 else min(size, self._left))
        if not chunk:
            raise tarfile.ReadError('unexpected end of data')
        self._left -= len(chunk)
        return chunk


class _MemberReader:
    """A member's stream whose read errors are reported as a broken layer."""

    def __init__(self, stream: ByteStream, what: str) -> None:
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
    path: str  # as the layer spells it, to tell two members of one name apart


def _escapes_root(name: str) -> bool:
    return name.startswith('/') or '..' in posixpath.normpath(name).split('/')


def scan_layer(stream: t.BinaryIO, what: str, wanted: t.Collection[str], max_size: int) -> t.Iterator[LayerMember]:
    """Yield every member whose base name is in ``wanted``, so a caller can see a name that occurs twice.

    The caller must read a member's stream before asking for the next one. A member
    path that escapes the layer root, or a wanted name that is not a regular file,
    makes the whole layer fail: no legitimate Wasm image has either.
    """
    layer = _TarStream(t.cast(t.BinaryIO, _BoundedReader(_decompressed(stream, what), max_size, what)), what)
    try:
        archive = tarfile.TarFile(fileobj=t.cast(t.IO[bytes], layer), mode='r', tarinfo=_CheckedTarInfo)
        while (member := archive.next()) is not None:
            # tarfile keeps every member it has read; a layer of millions of empty files must not fill memory.
            # The list is TarFile's undocumented attribute (getmembers() would read the whole layer), so typeshed lacks it.
            archive.members.clear()  # type: ignore[attr-defined]
            if _escapes_root(member.name):
                raise ImageFormatError(f'{what} has a member {member.name!r} whose path escapes the layer root; refusing it')
            basename = posixpath.basename(member.name.rstrip('/'))
            if basename not in wanted:
                continue
            if not member.isreg():
                raise ImageFormatError(
                    f'{what} has {member.name!r} as a link or special file, not a regular file; refusing it'
                )
            if member.size > max_size:
                raise ImageFormatError(f'{what} member {member.name!r} is {member.size} bytes, more than max_size ({max_size})')
            if layer.tell() != member.offset_data:
                raise ImageFormatError(f'{what} member {member.name!r} has no readable content')
            content = _MemberContent(layer, member.size)
            yield LayerMember(name=basename, size=member.size, stream=t.cast(t.BinaryIO, _MemberReader(content, what)), path=member.name)
        # What follows the end-of-archive blocks must still decompress: a truncated or corrupt stream is a broken layer.
        while layer.read(_SKIP_CHUNK):
            pass
    except _READ_ERRORS as exc:
        raise ImageFormatError(f'{what} is not a readable tar layer: {exc}') from None
