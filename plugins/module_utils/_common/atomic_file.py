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
import typing as t

DEFAULT_FILE_MODE = 0o644
# How much a large file gets written before its disk writes are started (see _WritebackFile).
WRITEBACK_STEP = 8 * 1024 * 1024


class _WritebackFile(io.BufferedWriter):
    """A file that starts writing itself to disk every WRITEBACK_STEP bytes, while the writer goes on.

    Left to itself the kernel writes a large file out only when the final fsync asks for it, and the writer waits for
    all of it then; started as the file grows, the disk works while the download does, and the fsync waits for the last
    few MiB. POSIX_FADV_DONTNEED starts the writes without waiting for them (Linux), and drops pages already written from
    the page cache. Where the call does not exist the file is written as any other.
    """

    _written = 0
    _started_up_to = 0

    def write(self, data: t.Any) -> int:
        count = super().write(data)
        self._written += count
        if self._written - self._started_up_to >= WRITEBACK_STEP and hasattr(os, 'posix_fadvise'):
            self.flush()
            # Only a hint: a filesystem that refuses it still writes the file, and the fsync makes it durable.
            with contextlib.suppress(OSError):
                os.posix_fadvise(self.fileno(), self._started_up_to, self._written - self._started_up_to, os.POSIX_FADV_DONTNEED)
            self._started_up_to = self._written
        return count


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
            stream.flush()
            os.fsync(stream.fileno())
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
