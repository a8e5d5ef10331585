# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.small_file import read_small_file


def test_a_file_up_to_the_limit_is_read_whole(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'key.pem'
    path.write_bytes(b'x' * 10)
    assert read_small_file(str(path), 10) == b'x' * 10


def test_a_larger_file_is_none_and_read_no_further_than_one_byte_past_the_limit(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'big'
    path.write_bytes(b'x' * 11)
    assert read_small_file(str(path), 10) is None


def test_a_missing_file_raises_the_os_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_small_file(str(tmp_path / 'missing'), 10)
