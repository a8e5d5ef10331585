# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The frame every change of one Envoy runs in, whatever planned it: a rollout (deployment.py) or a rollback (rollback.py).

Under the Envoy's lock: find out whether Envoy runs (and that it is this bootstrap's Envoy), confirm the files
earlier runs wrote while it was stopped, then apply one transaction, recording each file Envoy has to confirm
before it is written and forgetting it once Envoy did. A subclass plans the changes in :meth:`HostChange._locked`.
"""

from __future__ import annotations

import contextlib
import os
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.atomic_file import write_atomically
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import SUCCESS, EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck, wait_healthy
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import load_document, read_bytes
from ansible_collections.wasm.oci.plugins.module_utils._envoy.lock import LOCK_FILE, envoy_lock
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import read_unconfirmed, take_pending_restart, write_unconfirmed
from ansible_collections.wasm.oci.plugins.module_utils._envoy.running import admin_address, current_bootstrap, running_envoy
from ansible_collections.wasm.oci.plugins.module_utils._envoy.transaction import FileChange, RolledBack, Transaction

# What atomic_writer leaves behind when its process is killed between creating and renaming.
_STALE_TEMPORARY = re.compile(r'\..+\.(yaml|yaml\.previous|json)\.[A-Za-z0-9_]{8}\.tmp')

Result = t.TypeVar('Result')


class Connected(t.NamedTuple):
    """What a run found out about its Envoy before planning anything."""

    bootstrap: t.Any
    # Files written but not confirmed by Envoy yet, by path, with the stat prefix Envoy counts their updates under.
    unconfirmed: dict[str, str]
    # None when provably nothing runs the bootstrap.
    admin: EnvoyAdmin | None


class HostChange(t.Generic[Result]):
    def __init__(self, paths: Paths, given_admin_address: str, verify_timeout: float, health_check: HealthCheck | None,
                 check_mode: bool) -> None:
        self.paths = paths
        self.given_admin_address = given_admin_address
        self.verify_timeout = verify_timeout
        self.health_check = health_check
        self.check_mode = check_mode

    def run(self) -> Result:
        self._prepare()
        # Check mode creates nothing, not even the lock file: where there is none, no run has ever held it.
        if self.check_mode and not os.path.exists(os.path.join(self.paths.config_dir, LOCK_FILE)):
            return self._locked()
        with envoy_lock(self.paths.config_dir):
            if not self.check_mode:
                self._remove_stale_temporaries()
            return self._locked()

    def _prepare(self) -> None:
        """Check or make, outside check mode, what must exist before the lock is taken: its file is created in the
        configuration directory."""

    def _locked(self) -> Result:
        raise NotImplementedError

    def _ownership(self, path: str) -> tuple[int | None, int | None]:
        """The mode and group a file written at ``path`` gets (None: those of the file it replaces)."""
        raise NotImplementedError

    def _connect(self, managed_node: str | None) -> Connected:
        """Read the bootstrap and the record of unconfirmed files, and find the running Envoy of the bootstrap.

        ``managed_node`` is the node ID of a bootstrap this run writes, None for one it only reads."""
        bootstrap = current_bootstrap(self.paths.bootstrap, managed_node is not None)
        unconfirmed = read_unconfirmed(self.paths.config_dir)
        previous_admin = take_pending_restart(unconfirmed, self.paths.bootstrap)
        admin = running_envoy(self.paths.bootstrap, bootstrap, self.given_admin_address, managed_node, previous_admin)
        if previous_admin is not None and not self.check_mode:
            # The Envoy of the old admin address is gone: it restarted with the bootstrap, or stopped.
            write_unconfirmed(self.paths.config_dir, unconfirmed)
        return Connected(bootstrap, unconfirmed, admin)

    def _write(self, path: str, data: bytes | None) -> None:
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            write_atomically(path, data, *self._ownership(path))

    def _confirm_earlier(self, admin: EnvoyAdmin, pending: dict[str, str], unconfirmed: dict[str, str],
                         changing: set[str]) -> dict[str, str]:
        """Check the files written while Envoy was stopped (or by a run that was killed) against what Envoy runs.

        A file this run replaces only counts as confirmed (so it may become ``.previous``) when Envoy runs it already."""
        remaining = dict(unconfirmed)
        for path, watch in pending.items():
            data = read_bytes(path)
            document = load_document(path) if data is not None else None
            version = document.get('version_info') if isinstance(document, dict) else None
            before = admin.counters(watch)
            if data is None or (before is not None and before.version == version):
                del remaining[path]
                continue
            if path in changing:
                continue
            if before is None:
                raise WasmOciError(f'Envoy runs, but does not use {path}, written while it was stopped: its bootstrap gained the '
                                   'entry after Envoy started. Restart Envoy so it reads its bootstrap, then run again; nothing was changed')
            if admin.wait_for_update(watch, before, self.verify_timeout, version) != SUCCESS:
                running = before.version if before else 'nothing'
                raise WasmOciError(f'{path} was written while Envoy was stopped or busy, and Envoy now runs {running or "nothing"} '
                                   f'from it, not version {version}: it rejected the file, or its bootstrap does not use it. '
                                   'Envoy logs why; fix the filter and run again; nothing was changed')
            del remaining[path]
        if remaining != unconfirmed and self.health_check is not None and not changing:
            # Envoy took these files when it started, unchecked: the health check is as due as after a swap (which, when
            # this run changes files, checks them all).
            problem = wait_healthy(self.health_check)
            if problem:
                raise WasmOciError(f'Envoy runs the files written while it was stopped ({", ".join(sorted(set(unconfirmed) - set(remaining)))}), '
                                   f'but the health check fails: {problem}; nothing was changed, and they stay unconfirmed')
        if remaining != unconfirmed and not self.check_mode:
            write_unconfirmed(self.paths.config_dir, remaining)
        return remaining

    def _transact(self, changes: t.Sequence[FileChange], admin: EnvoyAdmin | None,
                  unconfirmed: dict[str, str]) -> tuple[list[FileChange], dict[str, str]]:
        """Apply ``changes`` as one transaction, each file Envoy must confirm recorded before it is written.

        Returns the written files Envoy did not confirm (it is stopped, or does not use them), and the record as it is
        once the transaction is done, which the caller writes (it may add to it first)."""
        intent = dict(unconfirmed, **{change.path: change.watch for change in changes if change.watch and change.new is not None})
        write_unconfirmed(self.paths.config_dir, intent)
        try:
            left = Transaction(admin, self._write, self.verify_timeout).apply(changes, self.health_check)
        except RolledBack as exc:
            # Files Envoy may not have taken back stay recorded, so the next run checks them.
            write_unconfirmed(self.paths.config_dir, dict(unconfirmed, **{path: intent[path] for path in exc.unsettled if path in intent}))
            raise
        except BaseException:
            write_unconfirmed(self.paths.config_dir, unconfirmed)
            raise
        left_paths = {change.path for change in left}
        changing = {change.path for change in changes}
        remaining = {path: watch for path, watch in intent.items() if path in left_paths or path not in changing}
        return left, remaining

    def stopped_warning(self, bootstrap: t.Any) -> str:
        return (f'Envoy is not running (nothing listens on {admin_address(bootstrap, self.given_admin_address)}, the admin address '
                'of its bootstrap): the files were written unconfirmed; the next run with Envoy running checks them')

    @staticmethod
    def unused_warning(left: t.Sequence[FileChange]) -> str:
        return ('Envoy runs, but does not use ' + ', '.join(change.path for change in left) +
                ' (no counters): its bootstrap does not reference them yet; they stay unconfirmed')

    def _remove_stale_temporaries(self) -> None:
        # Only the directories this lock guards; a module directory may be shared with other Envoys.
        for directory in (self.paths.config_dir, self.paths.ecds_dir):
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(directory):
                    if _STALE_TEMPORARY.fullmatch(name):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(os.path.join(directory, name))
