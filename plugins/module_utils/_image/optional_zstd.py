# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""A zstd decompressor for zstd layers: the standard library's from Python 3.14, else the managed host's optional
package zstandard (in the pull and info modules), imported here and nowhere else (see _registry/optional_requests.py
for why each optional package has a file of its own)."""

from __future__ import annotations

import typing as t

ZstdReader = t.Callable[[t.BinaryIO], t.BinaryIO]
zstd_reader: ZstdReader | None
ZSTD_ERRORS: tuple[type[Exception], ...]
try:
    from compression import zstd as _zstd  # Python 3.14+
except ImportError:
    try:
        import zstandard as _zstandard
    except ImportError:
        zstd_reader = None
        ZSTD_ERRORS = ()
    else:
        def zstd_reader(stream: t.BinaryIO) -> t.BinaryIO:
            reader: t.BinaryIO = _zstandard.ZstdDecompressor().stream_reader(stream)
            return reader

        ZSTD_ERRORS = (_zstandard.ZstdError,)
else:
    zstd_reader = _zstd.ZstdFile
    ZSTD_ERRORS = (_zstd.ZstdError,)

__all__ = ['ZSTD_ERRORS', 'zstd_reader']
