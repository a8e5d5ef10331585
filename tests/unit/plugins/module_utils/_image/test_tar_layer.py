# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import gzip
import io
import random
import tarfile
import time
import tracemalloc
import typing as t
import zlib

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, MissingDependency
from ansible_collections.wasm.oci.plugins.module_utils._image import optional_zstd
from ansible_collections.wasm.oci.plugins.module_utils._image.tar_layer import GzipStream, build_tar_gzip_layer, scan_layer
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import TarEntry, gzip_bytes, proxy_module, tar_bytes

WHAT = 'Layer sha256:abcd of registry.example.com/filter:1'
WANTED = frozenset({'plugin.wasm', 'runtime-config.json'})
MODULE = proxy_module()
NOISY_MODULE = b'\0asm\x01\x00\x00\x00' + random.Random(0).randbytes(64 * 1024)
RUNTIME = b'{"abiVersions":[],"config":{"root_ids":["r"]},"type":"envoy_proxy"}'


def _scan(data: bytes, max_size: int = 1024 * 1024, wanted: t.Collection[str] = WANTED) -> dict[str, tuple[int, bytes]]:
    """Read the layer the way callers must: each member's stream before the next member."""
    return {member.name: (member.size, member.stream.read()) for member in scan_layer(io.BytesIO(data), WHAT, wanted, max_size)}


def test_built_layer_is_reproducible_byte_for_byte() -> None:
    files = {'runtime-config.json': RUNTIME, 'plugin.wasm': MODULE}
    assert build_tar_gzip_layer(files) == build_tar_gzip_layer(dict(files))


def test_built_layer_members_keep_their_order_as_regular_files_with_fixed_metadata() -> None:
    tar_data, gzipped = build_tar_gzip_layer({'runtime-config.json': RUNTIME, 'plugin.wasm': MODULE, 'a.txt': b'a'})
    assert gzip.decompress(gzipped) == tar_data
    with tarfile.open(fileobj=io.BytesIO(tar_data)) as archive:
        members = archive.getmembers()
        assert [member.name for member in members] == ['runtime-config.json', 'plugin.wasm', 'a.txt']
        for member in members:
            assert member.isreg()
            assert (member.mode, member.mtime, member.uid, member.gid, member.uname, member.gname) == (0o644, 0, 0, 0, '', '')
        assert archive.extractfile('plugin.wasm').read() == MODULE  # type: ignore[union-attr]


def test_built_layer_gzip_header_has_no_timestamp_or_file_name() -> None:
    _tar_data, gzipped = build_tar_gzip_layer({'plugin.wasm': MODULE})
    assert gzipped[:2] == b'\x1f\x8b'
    flags, mtime = gzipped[3], gzipped[4:8]
    assert mtime == b'\0\0\0\0'
    assert not flags & 0x08


def test_different_content_gives_a_different_layer() -> None:
    assert build_tar_gzip_layer({'plugin.wasm': MODULE}) != build_tar_gzip_layer({'plugin.wasm': proxy_module(marker='other')})


def test_scan_reads_a_layer_built_here() -> None:
    _tar_data, gzipped = build_tar_gzip_layer({'plugin.wasm': MODULE, 'runtime-config.json': RUNTIME})
    assert _scan(gzipped) == {'plugin.wasm': (len(MODULE), MODULE), 'runtime-config.json': (len(RUNTIME), RUNTIME)}


@pytest.mark.parametrize('path', ['plugin.wasm', './plugin.wasm', 'dir/plugin.wasm', './a/b/c/plugin.wasm'])
def test_scan_finds_the_module_by_base_name(path: str) -> None:
    assert _scan(tar_bytes([(path, MODULE)])) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_scan_yields_every_member_of_a_wanted_name_with_its_path() -> None:
    layer = tar_bytes([
        ('README', b'ignored'),
        ('./plugin.wasm', MODULE),
        ('other/plugin.wasm', b'second'),
        ('runtime-config.json', RUNTIME),
        ('plugin.wasm', b'third'),
    ])
    members = [(member.name, member.path, member.stream.read()) for member in scan_layer(io.BytesIO(layer), WHAT, WANTED, 1024 * 1024)]
    assert members == [
        ('plugin.wasm', './plugin.wasm', MODULE),
        ('plugin.wasm', 'other/plugin.wasm', b'second'),
        ('runtime-config.json', 'runtime-config.json', RUNTIME),
        ('plugin.wasm', 'plugin.wasm', b'third'),
    ]


def test_a_link_after_the_first_occurrence_is_refused_too() -> None:
    layer = tar_bytes([('plugin.wasm', MODULE), TarEntry('x/plugin.wasm', kind=tarfile.SYMTYPE, linkname='/etc/passwd')])
    with pytest.raises(ImageFormatError, match=r"'x/plugin\.wasm' as a link or special file"):
        _scan(layer)


def test_scan_ignores_names_that_are_not_wanted() -> None:
    layer = tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME)])
    assert _scan(layer, wanted={'plugin.wasm'}) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_scan_ignores_links_and_directories_with_other_names() -> None:
    layer = tar_bytes([
        TarEntry('etc', kind=tarfile.DIRTYPE),
        TarEntry('etc/link', kind=tarfile.SYMTYPE, linkname='/etc/passwd'),
        TarEntry('hard', kind=tarfile.LNKTYPE, linkname='etc/link'),
        ('plugin.wasm', MODULE),
    ])
    assert _scan(layer) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_scan_of_a_layer_without_wanted_members_yields_nothing() -> None:
    assert _scan(gzip_bytes(tar_bytes([('bin/sh', b'#!')]))) == {}


@pytest.mark.parametrize(
    'tar_format', [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=['ustar', 'gnu', 'pax'],
)
def test_scan_reads_plain_and_gzipped_tar_in_every_format(tar_format: int) -> None:
    layer = tar_bytes([('./plugin.wasm', MODULE)], tar_format)
    assert _scan(layer) == {'plugin.wasm': (len(MODULE), MODULE)}
    assert _scan(gzip_bytes(layer)) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_scan_reads_a_long_nested_path() -> None:
    path = '/'.join(['d' * 60] * 5) + '/plugin.wasm'
    assert _scan(tar_bytes([(path, MODULE)])) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_scan_works_on_a_stream_that_returns_short_reads() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self._data.read(min(size, 7) if size and size > 0 else 7)

    layer = gzip_bytes(tar_bytes([('plugin.wasm', MODULE)]))
    members = {member.name: member.stream.read() for member in scan_layer(Trickle(layer), WHAT, WANTED, 1024 * 1024)}  # type: ignore[arg-type]
    assert members == {'plugin.wasm': MODULE}


_TEXT_MEMBER = gzip.compress(b'hello wasm ' * 3000, mtime=0)
_NOISE_MEMBER = gzip.compress(NOISY_MODULE, mtime=0)
GZIP_FORMS = {
    'one member': _TEXT_MEMBER,
    'incompressible': _NOISE_MEMBER,
    'two members': _TEXT_MEMBER + _NOISE_MEMBER,
    'zero padding': _TEXT_MEMBER + b'\0' * 100,
    'padding between members': _TEXT_MEMBER + b'\0' * 3 + _NOISE_MEMBER,
    'empty member': gzip.compress(b'', mtime=0),
    'empty input': b'',
    'truncated': _NOISE_MEMBER[:-5],
    'header only': _TEXT_MEMBER[:10],
    'wrong crc': _TEXT_MEMBER[:-8] + b'\0\0\0\0' + _TEXT_MEMBER[-4:],
    'wrong length': _TEXT_MEMBER[:-4] + b'\1\0\0\0',
    'garbage after a member': _TEXT_MEMBER + b'garbage',
    'a partial second header': _TEXT_MEMBER + _NOISE_MEMBER[:5],
}


def _gunzip(stream: t.Any, size: int) -> bytes:
    chunks = []
    while chunk := stream.read(size):
        assert len(chunk) <= size
        chunks.append(chunk)
    return b''.join(chunks)


@pytest.mark.parametrize('size', [1, 4096, 1024 * 1024])
@pytest.mark.parametrize('form', sorted(GZIP_FORMS))
def test_gzip_stream_reads_what_gzipfile_reads_and_refuses_what_it_refuses(form: str, size: int) -> None:
    # GzipStream replaces GzipFile for speed (1 MiB of input per step, not 8 KiB): same bytes, same refusals.
    data = GZIP_FORMS[form]
    if size == 1 and len(data) > 20_000:
        pytest.skip('byte by byte through a large member proves nothing more')
    try:
        expected: t.Any = gzip.GzipFile(fileobj=io.BytesIO(data)).read()
    except (EOFError, OSError, zlib.error):
        expected = 'refused'
    try:
        actual: t.Any = _gunzip(GzipStream(io.BytesIO(data)), size)
    except (EOFError, OSError, zlib.error):
        actual = 'refused'
    assert actual == expected


def test_gzip_stream_reads_the_compressed_stream_in_large_steps() -> None:
    class Counting(io.BytesIO):
        reads = 0

        def read(self, size: int | None = -1) -> bytes:
            Counting.reads += 1
            return super().read(size)

    data = gzip.compress(random.Random(1).randbytes(4 * 1024 * 1024), mtime=0)
    assert len(_gunzip(GzipStream(Counting(data)), 1024 * 1024)) == 4 * 1024 * 1024
    assert Counting.reads <= 8, 'GzipFile would read the 4 MiB in 512 steps of 8 KiB'


def test_scan_reads_zstd_when_the_python_supports_it() -> None:
    zstandard = pytest.importorskip('zstandard')
    if optional_zstd.zstd_reader is None:
        pytest.skip('tar_layer found no zstd implementation')
    layer = zstandard.ZstdCompressor().compress(tar_bytes([('plugin.wasm', MODULE)]))
    assert _scan(layer) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_zstd_without_support_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optional_zstd, 'zstd_reader', None)
    with pytest.raises(MissingDependency, match='which is zstd-compressed, needs the Python package zstandard') as caught:
        _scan(b'\x28\xb5\x2f\xfd' + b'\0' * 64)
    assert WHAT in str(caught.value)
    assert 'pip install zstandard' in str(caught.value)


@pytest.mark.parametrize(
    'entry',
    [
        TarEntry('plugin.wasm', kind=tarfile.SYMTYPE, linkname='/etc/passwd'),
        TarEntry('./plugin.wasm', kind=tarfile.SYMTYPE, linkname='other.wasm'),
        TarEntry('plugin.wasm', kind=tarfile.LNKTYPE, linkname='other.wasm'),
        TarEntry('plugin.wasm', kind=tarfile.DIRTYPE),
        TarEntry('plugin.wasm', kind=tarfile.FIFOTYPE),
        TarEntry('runtime-config.json', kind=tarfile.SYMTYPE, linkname='/proc/self/environ'),
    ],
    ids=['symlink_absolute', 'symlink_relative', 'hardlink', 'directory', 'fifo', 'runtime_config_symlink'],
)
def test_wanted_name_that_is_not_a_regular_file_is_refused(entry: TarEntry) -> None:
    layer = tar_bytes([('other.wasm', MODULE), entry, ('later/plugin.wasm', MODULE)])
    with pytest.raises(ImageFormatError, match='as a link or special file, not a regular file; refusing it') as caught:
        _scan(layer)
    assert str(caught.value).startswith(WHAT)
    assert repr(entry.path) in str(caught.value)


@pytest.mark.parametrize(
    'path',
    ['../plugin.wasm', '/plugin.wasm', 'a/../../plugin.wasm', '../../etc/passwd', '/etc/passwd', 'dir/../../x'],
)
def test_member_path_escaping_the_layer_root_is_refused(path: str) -> None:
    layer = tar_bytes([(path, MODULE), ('plugin.wasm', MODULE)])
    with pytest.raises(ImageFormatError, match='whose path escapes the layer root; refusing it') as caught:
        _scan(layer)
    assert str(caught.value).startswith(WHAT)
    assert repr(path) in str(caught.value)


def test_link_target_outside_the_root_is_not_itself_an_escaping_path() -> None:
    layer = tar_bytes([TarEntry('lib', kind=tarfile.SYMTYPE, linkname='../../lib'), ('plugin.wasm', MODULE)])
    assert _scan(layer) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_dot_dot_that_stays_inside_the_root_is_accepted() -> None:
    assert _scan(tar_bytes([('a/../plugin.wasm', MODULE)])) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_decompression_bomb_of_zero_bytes_is_refused() -> None:
    bomb = gzip_bytes(tar_bytes([('zeros.bin', b'\0' * (4 * 1024 * 1024)), ('plugin.wasm', MODULE)]))
    assert len(bomb) < 8 * 1024
    with pytest.raises(ImageFormatError, match=r'decompresses to more than max_size \(4096 bytes\)') as caught:
        _scan(bomb, max_size=4096)
    assert str(caught.value).startswith(WHAT)


def test_huge_unwanted_member_before_the_module_is_bounded() -> None:
    layer = gzip_bytes(tar_bytes([('padding.bin', b'\0' * (2 * 1024 * 1024)), ('plugin.wasm', MODULE)]))
    with pytest.raises(ImageFormatError, match=r'decompresses to more than max_size \(65536 bytes\)'):
        _scan(layer, max_size=64 * 1024)


def test_wanted_member_larger_than_max_size_is_refused_before_it_is_read() -> None:
    big = b'\0asm' + b'\0' * (100 * 1024)
    layer = gzip_bytes(tar_bytes([('plugin.wasm', big)]))
    with pytest.raises(ImageFormatError, match=rf"member 'plugin.wasm' is {len(big)} bytes, more than max_size \(20480\)") as caught:
        _scan(layer, max_size=20 * 1024)
    assert str(caught.value).startswith(WHAT)


def test_layer_within_max_size_is_read() -> None:
    layer = tar_bytes([('plugin.wasm', MODULE)])
    assert _scan(layer, max_size=len(layer)) == {'plugin.wasm': (len(MODULE), MODULE)}


@pytest.mark.parametrize(
    'data',
    [
        b'',
        b'hello',
        b'this is not a tar archive\n' * 100,
        bytes(range(256)) * 8,
        b'\x1f\x8b' + b'not really gzip' * 10,
        gzip_bytes(b'gzip of text that is not a tar' * 30),
        gzip_bytes(tar_bytes([('plugin.wasm', MODULE)]))[:-20],
        tar_bytes([('plugin.wasm', MODULE)])[:700],
        gzip_bytes(tar_bytes([('plugin.wasm', NOISY_MODULE)]))[:32 * 1024],
    ],
    ids=['empty', 'short_text', 'text', 'binary', 'bad_gzip', 'gzip_of_text', 'truncated_gzip', 'truncated_tar_inside_module',
         'truncated_gzip_inside_module'],
)
def test_garbage_is_not_a_readable_tar_layer(data: bytes) -> None:
    with pytest.raises(ImageFormatError) as caught:
        _scan(data)
    message = str(caught.value)
    assert message.startswith(WHAT)
    assert 'is not a readable tar layer' in message


# -- Tar headers are looked at before tarfile parses them (CVE-2024-6232 and friends) --

def _header(name: str, kind: bytes, size: int, tar_format: int = tarfile.USTAR_FORMAT) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(tar_format)


def _member(name: str, kind: bytes, payload: bytes) -> bytes:
    return _header(name, kind, len(payload)) + payload + b'\0' * (-len(payload) % tarfile.BLOCKSIZE)


def _pax_record(keyword: str, value: str) -> bytes:
    body = f' {keyword}={value}\n'.encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def _layer_with(*metadata: bytes) -> bytes:
    """``metadata`` members, then plugin.wasm, then the end-of-archive blocks."""
    return b''.join(metadata) + _member('plugin.wasm', tarfile.REGTYPE, MODULE) + b'\0' * (2 * tarfile.BLOCKSIZE)


def _refusal(data: bytes) -> str:
    started = time.monotonic()
    with pytest.raises(ImageFormatError) as caught:
        _scan(data, max_size=16 * 1024 * 1024)
    assert time.monotonic() - started < 1
    assert str(caught.value).startswith(WHAT)
    return str(caught.value)


def test_multi_mib_pax_header_is_refused_before_tarfile_parses_it() -> None:
    # On Python 3.11.7 tarfile spends minutes on these 4 MiB of digits; the refusal takes milliseconds.
    layer = gzip_bytes(_layer_with(_member('././@PaxHeader', tarfile.XHDTYPE, b'9' * (4 * 1024 * 1024))))
    assert 'has a PAX extended header of 4194304 bytes, more than the 65536 bytes allowed for tar metadata' in _refusal(layer)


@pytest.mark.parametrize(('kind', 'name'), [(tarfile.XGLTYPE, 'PAX global header'), (tarfile.GNUTYPE_LONGNAME, 'GNU long name'),
                                            (tarfile.GNUTYPE_LONGLINK, 'GNU long link name')])
def test_every_oversized_metadata_member_is_refused(kind: bytes, name: str) -> None:
    assert f'has a {name} of 1048576 bytes' in _refusal(_layer_with(_member('meta', kind, b'a' * (1024 * 1024))))


@pytest.mark.parametrize('payload', [b'9' * (60 * 1024), (b'2 ' * (30 * 1024))[:-1] + b'=', b'30 path=plugin.wasm\n'],
                         ids=['digits', 'unframed', 'wrong_length'])
def test_malformed_pax_records_within_the_size_limit_are_refused_fast(payload: bytes) -> None:
    # The first two cost tarfile seconds on Python 3.11.7 even at 60 KiB.
    assert 'PAX header' in _refusal(_layer_with(_member('././@PaxHeader', tarfile.XHDTYPE, payload)))


def test_chained_extended_headers_are_refused() -> None:
    headers = [_member('././@PaxHeader', tarfile.XHDTYPE, _pax_record('comment', str(index))) for index in range(9)]
    assert 'chains more than 8 extended tar headers' in _refusal(_layer_with(*headers))


def test_sparse_files_are_refused() -> None:
    assert 'has a sparse file' in _refusal(_layer_with(_header('holes', tarfile.GNUTYPE_SPARSE, 0, tarfile.GNU_FORMAT)))
    pax = _pax_record('GNU.sparse.major', '1') + _pax_record('GNU.sparse.minor', '0')
    assert 'has a sparse file (PAX GNU.sparse.major)' in _refusal(_layer_with(_member('././@PaxHeader', tarfile.XHDTYPE, pax)))


def test_global_pax_headers_are_bounded_in_all() -> None:
    global_header = _member('pax_global_header', tarfile.XGLTYPE, _pax_record('comment', 'x' * 3000))
    assert 'PAX global headers of more than 4096 bytes in all' in _refusal(_layer_with(global_header, global_header))


def test_negative_member_size_is_refused() -> None:
    assert 'with a negative size' in _refusal(_layer_with(_header('back', tarfile.REGTYPE, -4096, tarfile.GNU_FORMAT)))


def test_well_formed_metadata_of_real_writers_is_read() -> None:
    long_path = '/'.join(['dïr' * 20] * 20) + '/plugin.wasm'
    pax_layer = tar_bytes([(long_path, MODULE)], tarfile.PAX_FORMAT)
    gnu_layer = tar_bytes([(long_path, MODULE)], tarfile.GNU_FORMAT)
    git_archive = _layer_with(_member('pax_global_header', tarfile.XGLTYPE, _pax_record('comment', 'a' * 40)))
    for layer in (pax_layer, gnu_layer, git_archive):
        assert _scan(layer) == {'plugin.wasm': (len(MODULE), MODULE)}


def test_many_members_do_not_accumulate_in_memory() -> None:
    layer = tar_bytes([(f'f{index}', b'') for index in range(3000)] + [('plugin.wasm', MODULE)], tarfile.USTAR_FORMAT)
    tracemalloc.start()
    try:
        assert _scan(layer, max_size=len(layer)) == {'plugin.wasm': (len(MODULE), MODULE)}
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024  # tarfile's own member list would hold about 1.3 MB
