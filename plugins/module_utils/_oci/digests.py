# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Content digests and the canonical JSON encoding that keeps digests reproducible."""

from __future__ import annotations

import hashlib
import json
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError

SHA256_DIGEST = re.compile(r'sha256:[0-9a-f]{64}')
_CHUNK = 1024 * 1024
_SHOWN_LIMIT = 200


def sha256_digest(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def file_sha256_digest(path: str) -> str:
    """The sha256 digest of the file at ``path``, read in chunks so that a large module never sits in memory whole.

    Raises OSError when the file cannot be read: callers decide what a missing or unreadable file means.
    """
    hasher = hashlib.sha256()
    with open(path, 'rb') as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
    return 'sha256:' + hasher.hexdigest()


def validate_digest(digest: object, what: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest, else raise naming ``what``."""
    if not isinstance(digest, str) or not SHA256_DIGEST.fullmatch(digest):
        # A hostile document may hold megabytes here: show a short string, else only what kind of value it is.
        short = isinstance(digest, (int, float, type(None))) or (isinstance(digest, str) and len(digest) <= _SHOWN_LIMIT)
        shown = repr(digest) if short else f'of type {type(digest).__name__}'
        raise ImageFormatError(f'{what} has digest {shown}, which is not of the form sha256:<64 lowercase hex digits>')
    return digest


def canonical_json(value: t.Any) -> bytes:
    """Encode ``value`` the same way every time: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False, allow_nan=False).encode('utf-8')


class ByteStream(t.Protocol):
    """What a reader reads from: a file, an HTTP response body, a decompressor, or another reader."""

    def read(self, size: int = -1, /) -> bytes:
        """At most ``size`` bytes (all that is left when negative); b'' at the end."""


class DigestingReader:
    """Wrap a binary stream, hashing and counting what passes through.

    ``verify()`` then checks the whole stream against an expected digest and size, so a
    blob is checked while it streams instead of after it has been held in memory.
    """

    def __init__(self, stream: ByteStream, expected_digest: str, expected_size: int | None, what: str) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self._expected_digest = expected_digest
        self._expected_size = expected_size
        self._what = what
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._hash.update(chunk)
        self.size += len(chunk)
        if self._expected_size is not None and self.size > self._expected_size:
            raise ImageFormatError(f'{self._what} is larger than the {self._expected_size} bytes its descriptor declares')
        return chunk

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    def verify(self) -> None:
        """Read what is left and fail unless the stream matched its descriptor."""
        self.drain()
        if self._expected_size is not None and self.size != self._expected_size:
            raise ImageFormatError(
                f'{self._what} has {self.size} bytes but its descriptor declares {self._expected_size}'
            )
        actual = 'sha256:' + self._hash.hexdigest()
        if actual != self._expected_digest:
            raise ImageFormatError(f'{self._what} has digest {actual}, not the {self._expected_digest} it was stored under')
