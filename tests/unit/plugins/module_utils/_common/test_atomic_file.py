# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import errno
import os
import pathlib
import stat
import threading

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common import atomic_file
from ansible_collections.wasm.oci.plugins.module_utils._common.atomic_file import DEFAULT_FILE_MODE, atomic_writer, write_atomically


class _Boom(Exception):
    pass


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomically_creates_a_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'out.bin'
    write_atomically(str(target), b'content')
    assert target.read_bytes() == b'content'
    assert _mode(target) == DEFAULT_FILE_MODE == 0o644
    assert os.listdir(tmp_path) == ['out.bin']


def test_write_atomically_replaces_an_existing_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'out.bin'
    target.write_bytes(b'old content that is longer')
    inode_before = target.stat().st_ino
    write_atomically(str(target), b'new')
    assert target.read_bytes() == b'new'
    assert os.listdir(tmp_path) == ['out.bin']
    assert target.stat().st_ino != inode_before


def test_replacing_does_not_disturb_a_reader_of_the_old_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'out.bin'
    target.write_bytes(b'old')
    with open(target, 'rb') as reader:
        write_atomically(str(target), b'new')
        assert reader.read() == b'old'
    assert target.read_bytes() == b'new'


@pytest.mark.parametrize('mode', [0o600, 0o640, 0o755, 0o444])
def test_mode_is_applied_regardless_of_umask(tmp_path: pathlib.Path, mode: int) -> None:
    target = tmp_path / 'out.bin'
    old_umask = os.umask(0o077)
    try:
        write_atomically(str(target), b'x', mode)
    finally:
        os.umask(old_umask)
    assert _mode(target) == mode


def test_mode_is_applied_when_replacing(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'out.bin'
    target.write_bytes(b'old')
    target.chmod(0o600)
    write_atomically(str(target), b'new', 0o644)
    assert _mode(target) == 0o644


def test_atomic_writer_streams_several_writes(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'out.bin'
    with atomic_writer(str(target)) as stream:
        stream.write(b'one ')
        stream.write(b'two')
        assert not target.exists()
    assert target.read_bytes() == b'one two'


def test_a_large_file_is_synced_in_steps_beside_the_writer_and_keeps_every_byte(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    synced: list[tuple[str, int]] = []
    stepped = threading.Semaphore(0)
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append((threading.current_thread().name, os.fstat(fd).st_size))
        real_fsync(fd)
        if threading.current_thread() is not threading.main_thread():
            stepped.release()

    monkeypatch.setattr(atomic_file, 'WRITEBACK_STEP', 1000)
    monkeypatch.setattr(os, 'fsync', recording_fsync)
    target = tmp_path / 'large.bin'
    chunks = [bytes([index]) * 600 for index in range(7)]
    with atomic_writer(str(target)) as stream:
        for index, chunk in enumerate(chunks):
            stream.write(chunk)
            if index in (1, 3):  # the writer went past a step: a sync of all it holds runs beside it
                assert stepped.acquire(timeout=5)
    assert target.read_bytes() == b''.join(chunks)
    # Each step syncs what was written when it was asked for; the writer's own sync (then the directory's) comes last.
    assert [size for name, size in synced if name != threading.main_thread().name][:2] == [1200, 2400]
    assert synced[-2] == (threading.main_thread().name, 4200)


def test_a_failed_step_fails_the_write_and_leaves_no_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Linux reports a failed writeback to one fsync only: the writer's final fsync may succeed after a step failed.
    real_fsync = os.fsync
    step_failed = threading.Event()

    def failing_in_steps(fd: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            step_failed.set()
            raise OSError(errno.EIO, 'Input/output error')
        real_fsync(fd)

    monkeypatch.setattr(atomic_file, 'WRITEBACK_STEP', 10)
    monkeypatch.setattr(os, 'fsync', failing_in_steps)
    target = tmp_path / 'file.bin'
    target.write_bytes(b'old')

    def write_until_a_step_failed() -> None:
        with atomic_writer(str(target)) as stream:
            stream.write(b'x' * 100)
            step_failed.wait(5)

    with pytest.raises(OSError, match='Input/output error'):
        write_until_a_step_failed()
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['file.bin']


def test_a_writer_that_fails_waits_for_its_step_before_the_file_is_closed(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    real_fsync = os.fsync
    descriptor_open_in_step: list[bool] = []

    def slow_step(fd: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            started.set()
            release.wait(5)
            descriptor_open_in_step.append(os.fstat(fd).st_size == 100)
        real_fsync(fd)

    monkeypatch.setattr(atomic_file, 'WRITEBACK_STEP', 10)
    monkeypatch.setattr(os, 'fsync', slow_step)

    def write_then_fail() -> None:
        with atomic_writer(str(tmp_path / 'out.bin')) as stream:
            stream.write(b'x' * 100)
            started.wait(5)
            threading.Timer(0.05, release.set).start()
            raise ValueError('broken')

    with pytest.raises(ValueError, match='broken'):
        write_then_fail()
    assert descriptor_open_in_step == [True]
    assert not os.listdir(tmp_path)


def test_temp_file_lives_beside_the_target_until_the_end(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'out.bin'
    with atomic_writer(str(target)) as stream:
        stream.write(b'x')
        (temp_name,) = os.listdir(tmp_path)
        assert temp_name.startswith('.out.bin.')
        assert temp_name.endswith('.tmp')
    assert os.listdir(tmp_path) == ['out.bin']


def test_relative_path_is_written_in_the_current_directory(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_atomically('relative.bin', b'x')
    assert (tmp_path / 'relative.bin').read_bytes() == b'x'
    assert os.listdir(tmp_path) == ['relative.bin']


def _write_then_fail(path: pathlib.Path, data: bytes, *mode: int) -> None:
    with atomic_writer(str(path), *mode) as stream:
        stream.write(data)
        raise _Boom


def test_exception_leaves_the_old_file_untouched_and_no_temp_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'out.bin'
    target.write_bytes(b'old')
    target.chmod(0o600)
    with pytest.raises(_Boom):
        _write_then_fail(target, b'partial new content', 0o644)
    assert target.read_bytes() == b'old'
    assert _mode(target) == 0o600
    assert os.listdir(tmp_path) == ['out.bin']


def test_exception_without_an_old_file_leaves_nothing(tmp_path: pathlib.Path) -> None:
    with pytest.raises(_Boom):
        _write_then_fail(tmp_path / 'out.bin', b'partial')
    assert os.listdir(tmp_path) == []


def test_keyboard_interrupt_also_cleans_up(tmp_path: pathlib.Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_writer(str(tmp_path / 'out.bin')):
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_exception_after_the_writer_closed_the_stream_cleans_up(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match='closed file'), atomic_writer(str(tmp_path / 'out.bin')) as stream:
        stream.close()
    assert os.listdir(tmp_path) == []


def test_missing_directory_raises_and_creates_nothing(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomically(str(tmp_path / 'missing' / 'out.bin'), b'x')
    assert os.listdir(tmp_path) == []


def test_target_that_is_a_directory_is_not_replaced(tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'dir'
    target.mkdir()
    (target / 'keep').write_text('x')
    with pytest.raises(IsADirectoryError):
        write_atomically(str(target), b'x')
    assert (target / 'keep').read_text() == 'x'
    assert os.listdir(tmp_path) == ['dir']


@pytest.mark.skipif(os.geteuid() != 0, reason='only root can give a file to another user')
def test_owner_and_group_of_the_replaced_file_are_kept(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'envoy.yaml'
    path.write_bytes(b'old')
    os.chown(path, 65534, 65534)
    path.chmod(0o640)
    write_atomically(str(path), b'new')
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), path.read_bytes()) == (65534, 65534, 0o640, b'new')
