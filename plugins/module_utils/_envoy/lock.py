# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""One run at a time per Envoy: an exclusive flock on a file in its configuration directory.

Without it two runs could each take the other's counter bump as their own confirmation, and a
prune in one could remove a module the other is about to use. The kernel drops the lock when
its holder dies, so a killed run never leaves it behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError

LOCK_FILE = '.wasm-oci.lock'
DEFAULT_LOCK_TIMEOUT = 120.0
_RETRY_INTERVAL = 0.1


@contextlib.contextmanager
def envoy_lock(config_dir: str, timeout: float = DEFAULT_LOCK_TIMEOUT,
               clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> t.Iterator[None]:
    """Hold the lock of the Envoy configured in ``config_dir``, waiting at most ``timeout`` seconds for it."""
    path = os.path.join(config_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise WasmOciError(f'Cannot open the lock file {path}: {exc.strerror}') from None
    try:
        deadline = clock() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise WasmOciError(f'Another run has held {path} for over {timeout:g}s, so it is still changing this Envoy; '
                                       'nothing was changed: run again once it is done') from None
                sleep(_RETRY_INTERVAL)
        yield
    finally:
        os.close(fd)
