# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Reading a file that should be small (a key, a layout index) without reading a large one given by mistake."""

from __future__ import annotations


def read_small_file(path: str, limit: int) -> bytes | None:
    """The bytes of the file at ``path``, or None when it has more than ``limit``; an OSError passes as it comes."""
    with open(path, 'rb') as stream:
        data = stream.read(limit + 1)
    return data if len(data) <= limit else None
