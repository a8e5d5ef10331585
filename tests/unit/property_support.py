# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Shared by the property-based tests of the parsers of untrusted input.

The property every parser keeps: it returns, or raises one of the collection's errors
(a WasmOciError), within a bounded time and, where it reads binary data, bounded memory.
Examples are derived from each test's own source (``derandomize``), so CI runs the same ones every time.
"""

from __future__ import annotations

import datetime
import json
import tracemalloc
import typing as t

from hypothesis import HealthCheck, settings, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError

PARSER_SETTINGS = settings(
    max_examples=200,
    # Generous, so a loaded CI machine does not fail it, yet a parser that blows up on its input still does.
    deadline=datetime.timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=16)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def outcome(call: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
    """What ``call`` returns, or the WasmOciError it raises; any other exception fails the test."""
    try:
        return call(*args, **kwargs)
    except WasmOciError as exc:
        return exc


def bounded_memory_outcome(limit: int, call: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
    """``outcome``, failing the test when the call's traced memory peaks above ``limit`` bytes."""
    tracemalloc.start()
    try:
        result = outcome(call, *args, **kwargs)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= limit, f'peak memory {peak} bytes, more than {limit}'
    return result


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes], max_mutations: int = 4) -> bytes:
    """``base`` bytes with a few bytes replaced, inserted or deleted, or the tail cut off."""
    data = bytearray(draw(base))
    for _step in range(draw(st.integers(0, max_mutations))):
        operation = draw(st.sampled_from(('replace', 'insert', 'delete', 'truncate')))
        position = draw(st.integers(0, len(data)))
        if operation == 'replace' and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif operation == 'insert':
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == 'delete':
            del data[position:position + draw(st.integers(1, 16))]
        elif operation == 'truncate':
            del data[position:]
    return bytes(data)


def deeply_nested(depth: int, opener: str = '[') -> bytes:
    closer = {'[': ']', '{': '}'}[opener]
    inner = '"k":' if opener == '{' else ''
    return ((opener + inner) * depth + '0' + closer * depth).encode()


JSON_BYTES = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    mutated(JSON_VALUES.map(lambda value: json.dumps(value).encode())),
    st.binary(max_size=256),
    st.builds(deeply_nested, st.integers(0, 200_000), st.sampled_from('[{')),
)
