# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Replace files atomically, so a failure never leaves a partial file or a damaged old one."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import threading
import typing as t

DEFAULT_FILE_MODE = 0o644
# How much of a large file is written between two syncs started beside the writer (see _WritebackFile).
WRITEBACK_STEP = 2 * 1024 * 1024


class _StepSyncer:
    """A thread that fsyncs one file each time it is asked to, while the file's writer goes on."""

    def __init__(self, fd: int) -> None:
        self.error: OSError | None = None
        self._fd = fd
        self._asked = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def ask(self) -> None:
        """Sync what the file holds now; asking again while a sync runs asks for one more after it."""
        self._asked.set()

    def _run(self) -> None:
        while True:
            self._asked.wait()
            self._asked.clear()
            if self._stopping:
                return
            try:
                os.fsync(self._fd)
            except OSError as error:
                self.error = error
                return

    def stop(self) -> None:
        """Wait for the sync that runs, then end the thread (the file's descriptor is then free to close)."""
        self._stopping = True
        self._asked.set()
        self._thread.join()


class _WritebackFile(io.BufferedWriter):
    """A file that a second thread syncs every WRITEBACK_STEP bytes, while the writer goes on.

    Left to the final fsync, a large file makes the writer wait for the whole flush at the end: about 20 ms per 16 MiB
    on a virtual disk, and only a little less when the kernel's writes were started early (posix_fadvise), as the disk
    still flushes on the fsync. Synced in steps beside a download, the flush overlaps the network, and the final fsync
    waits for the last step only. A step that fails is raised by sync(): Linux reports a failed writeback to one fsync
    only, so the final one might not see it.
    """

    _written = 0
    _synced_up_to = 0
    _syncer: _StepSyncer | None = None

    def write(self, data: t.Any) -> int:
        count = super().write(data)
        self._written += count
        if self._written - self._synced_up_to >= WRITEBACK_STEP:
            self.flush()
            self._synced_up_to = self._written
            if self._syncer is None:
                self._syncer = _StepSyncer(self.fileno())
            self._syncer.ask()
        return count

    def sync(self) -> None:
        """Make every byte written durable, or raise why it is not."""
        self.flush()
        if self._syncer is not None:
            self._syncer.stop()
            if self._syncer.error is not None:
                raise self._syncer.error
        os.fsync(self.fileno())

    def close(self) -> None:
        if self._syncer is not None:
            self._syncer.stop()
        super().close()


def _existing(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _keep_owner(temp_path: str, existing: os.stat_result | None, group: int | None) -> None:
    """Give the new file the old one's owner and group (or ``group``), so a service reading it as another user still can.

    Only root can give a file away; anyone else writes files they own, as before. A ``group`` that cannot be set
    is an error: the file would not be readable by those meant to read it.
    """
    if existing is not None and (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(PermissionError):
            os.chown(temp_path, existing.st_uid, existing.st_gid)
    if group is not None:
        os.chown(temp_path, -1, group)


@contextlib.contextmanager
def atomic_writer(path: str, mode: int | None = None, group: int | None = None) -> t.Iterator[t.BinaryIO]:
    """Yield a file beside ``path``; on success it is synced and renamed over ``path``.

    The new file keeps the owner, group and mode of the one it replaces (the mode unless
    ``mode`` is given, the group unless ``group`` is). The temporary file is never more
    open than the final one. On any exception it is removed and ``path`` is left as it was.
    """
    existing = _existing(path)
    if mode is None:
        mode = DEFAULT_FILE_MODE if existing is None else stat.S_IMODE(existing.st_mode)
    directory, name = os.path.split(os.path.abspath(path))
    handle, temp_path = tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp', dir=directory)
    try:
        with _WritebackFile(io.FileIO(handle, 'wb')) as stream:
            yield stream
            stream.sync()
        _keep_owner(temp_path, existing, group)
        os.chmod(temp_path, mode)
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)
        raise
    _fsync_directory(directory)


def write_atomically(path: str, data: bytes, mode: int | None = None, group: int | None = None) -> None:
    with atomic_writer(path, mode, group) as stream:
        stream.write(data)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable; some filesystems cannot sync a directory."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
