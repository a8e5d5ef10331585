# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, canonical_json, file_sha256_digest, sha256_digest, validate_digest

EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'


def test_sha256_digest_of_empty_input_is_the_well_known_value() -> None:
    assert sha256_digest(b'') == EMPTY_SHA256


def test_sha256_digest_matches_hashlib() -> None:
    data = bytes(range(256)) * 10
    assert sha256_digest(data) == 'sha256:' + hashlib.sha256(data).hexdigest()


def test_validate_digest_returns_a_good_digest() -> None:
    assert validate_digest(EMPTY_SHA256, 'Blob') is EMPTY_SHA256


@pytest.mark.parametrize(
    'digest',
    [
        'sha256:' + 'A' * 64,
        'sha256:' + 'a' * 63,
        'sha256:' + 'a' * 65,
        'sha512:' + 'a' * 128,
        'a' * 64,
        '',
        None,
        42,
        EMPTY_SHA256 + '\n',
    ],
)
def test_validate_digest_rejects_malformed_digests_naming_what_had_it(digest: t.Any) -> None:
    with pytest.raises(ImageFormatError, match=r'^Layer 3 of the manifest has digest') as caught:
        validate_digest(digest, 'Layer 3 of the manifest')
    assert repr(digest) in str(caught.value)


def test_canonical_json_sorts_keys_at_every_level_and_drops_whitespace() -> None:
    assert canonical_json({'b': 1, 'a': {'z': [3, {'y': 1, 'x': 2}], 'c': None}}) == b'{"a":{"c":null,"z":[3,{"x":2,"y":1}]},"b":1}'


def test_canonical_json_is_independent_of_insertion_order() -> None:
    first = {'type': 'envoy_proxy', 'config': {'root_ids': ['a'], 'k': 'v'}, 'abiVersions': []}
    second = {'abiVersions': [], 'config': {'k': 'v', 'root_ids': ['a']}, 'type': 'envoy_proxy'}
    assert canonical_json(first) == canonical_json(second)


def test_canonical_json_writes_unicode_as_utf8_not_escapes() -> None:
    encoded = canonical_json({'name': 'grüße ✓ 😀'})
    assert encoded == '{"name":"grüße ✓ 😀"}'.encode()
    assert json.loads(encoded.decode('utf-8')) == {'name': 'grüße ✓ 😀'}


def test_canonical_json_rejects_unserialisable_values() -> None:
    with pytest.raises(TypeError):
        canonical_json({'x': object()})


def _reader(data: bytes, digest: str | None = None, size: int | None = -1) -> DigestingReader:
    return DigestingReader(
        io.BytesIO(data), digest or sha256_digest(data), len(data) if size == -1 else size, 'Layer sha256:x of example',
    )


def test_digesting_reader_passes_the_stream_through_and_verifies() -> None:
    data = b'0123456789' * 1000
    reader = _reader(data)
    assert reader.read(3) == b'012'
    assert reader.read(7) == b'3456789'
    reader.verify()
    assert reader.size == len(data)


def test_digesting_reader_verify_reads_what_is_left() -> None:
    data = b'abc' * 5000
    reader = _reader(data)
    reader.read(10)
    reader.verify()
    assert reader.size == len(data)


def test_digesting_reader_without_expected_size_only_checks_the_digest() -> None:
    reader = _reader(b'hello', size=None)
    assert reader.read() == b'hello'
    reader.verify()


def test_digesting_reader_rejects_content_with_another_digest() -> None:
    other = sha256_digest(b'other')
    reader = _reader(b'hello', digest=other)
    with pytest.raises(ImageFormatError) as caught:
        reader.verify()
    message = str(caught.value)
    assert message.startswith('Layer sha256:x of example has digest ' + sha256_digest(b'hello'))
    assert other in message


def test_digesting_reader_fails_as_soon_as_the_stream_is_longer_than_declared() -> None:
    reader = _reader(b'0123456789', size=4)
    with pytest.raises(ImageFormatError, match=r'^Layer sha256:x of example is larger than the 4 bytes its descriptor declares'):
        reader.read()


def test_digesting_reader_allows_reading_exactly_the_declared_size() -> None:
    reader = _reader(b'0123')
    assert reader.read(5) == b'0123'
    reader.verify()


def test_digesting_reader_rejects_a_stream_shorter_than_declared() -> None:
    reader = _reader(b'0123', size=10)
    with pytest.raises(ImageFormatError, match=r'^Layer sha256:x of example has 4 bytes but its descriptor declares 10$'):
        reader.verify()


def test_digesting_reader_drain_consumes_everything() -> None:
    reader = _reader(b'x' * (3 * 1024 * 1024 + 5))
    reader.drain()
    assert reader.size == 3 * 1024 * 1024 + 5
    assert reader.read(1) == b''


@pytest.mark.parametrize('digest', ['sha256:' + 'a' * 4096, ['sha256:' + 'a' * 64] * 100, {'algorithm': 'sha256'}])
def test_a_long_or_structured_digest_is_named_by_its_type_not_copied_into_the_message(digest: t.Any) -> None:
    with pytest.raises(ImageFormatError, match=f'^Layer 3 has digest of type {type(digest).__name__}, which is not of the form') as caught:
        validate_digest(digest, 'Layer 3')
    assert len(str(caught.value)) < 200


def test_file_sha256_digest_reads_a_file_larger_than_one_chunk(tmp_path: pathlib.Path) -> None:
    data = bytes(range(256)) * (5 * 1024 + 3)
    path = tmp_path / 'module.wasm'
    path.write_bytes(data)
    assert file_sha256_digest(str(path)) == sha256_digest(data)
    (tmp_path / 'empty').write_bytes(b'')
    assert file_sha256_digest(str(tmp_path / 'empty')) == EMPTY_SHA256


def test_file_sha256_digest_leaves_a_missing_or_unreadable_file_to_its_caller(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        file_sha256_digest(str(tmp_path / 'none'))
    with pytest.raises(IsADirectoryError):
        file_sha256_digest(str(tmp_path))
