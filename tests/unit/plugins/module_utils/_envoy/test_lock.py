# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy import lock
from ansible_collections.wasm.oci.plugins.module_utils._envoy.lock import LOCK_FILE, envoy_lock


@contextlib.contextmanager
def _held(path: pathlib.Path) -> t.Iterator[None]:
    """Hold ``path`` locked from another open file description, as another run would."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _free(path: pathlib.Path) -> bool:
    """Whether another run could take the lock now."""
    try:
        with _held(path):
            return True
    except BlockingIOError:
        return False


def test_the_lock_is_held_in_the_block_and_released_after(tmp_path: pathlib.Path) -> None:
    with envoy_lock(str(tmp_path)):
        assert not _free(tmp_path / LOCK_FILE)
    assert _free(tmp_path / LOCK_FILE)
    assert os.stat(tmp_path / LOCK_FILE).st_mode & 0o777 == 0o644


def test_the_lock_is_released_when_the_block_fails(tmp_path: pathlib.Path) -> None:
    with pytest.raises(RuntimeError), envoy_lock(str(tmp_path)):
        raise RuntimeError('boom')
    assert _free(tmp_path / LOCK_FILE)


def test_a_second_run_gives_up_after_the_timeout(tmp_path: pathlib.Path, clock: t.Any) -> None:
    path = tmp_path / LOCK_FILE
    with _held(path), pytest.raises(WasmOciError) as caught, envoy_lock(str(tmp_path), timeout=3, clock=clock, sleep=clock.sleep):
        pytest.fail('took a held lock')
    assert str(caught.value) == (f'Another run has held {path} for over 3s, so it is still changing this Envoy; nothing was changed: '
                                 'run again once it is done')
    assert clock.sleeps == [lock._RETRY_INTERVAL] * 2
    assert _free(path)


def test_a_second_run_takes_the_lock_once_it_is_free(tmp_path: pathlib.Path, clock: t.Any) -> None:
    holder = _held(tmp_path / LOCK_FILE)
    holder.__enter__()
    clock.on_sleep = lambda: holder.__exit__(None, None, None)
    with envoy_lock(str(tmp_path), timeout=3, clock=clock, sleep=clock.sleep):
        assert not _free(tmp_path / LOCK_FILE)
    assert clock.sleeps == [lock._RETRY_INTERVAL]


def test_a_lock_file_that_cannot_be_opened_is_an_error(tmp_path: pathlib.Path) -> None:
    expected = f'^Cannot open the lock file {tmp_path}/absent/{LOCK_FILE}: No such file or directory$'
    with pytest.raises(WasmOciError, match=expected), envoy_lock(str(tmp_path / 'absent')):
        pytest.fail('locked in a missing directory')
