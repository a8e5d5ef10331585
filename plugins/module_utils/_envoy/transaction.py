# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Apply every file change of one Envoy as one transaction: all confirmed by Envoy, or all put back.

Changes are applied in order. With Envoy running, each file it watches is confirmed
through its counters before the next is replaced; once all are, the health check
must pass. On a rejection, a timeout, a failed probe, a failed write or any other
exception, every file already replaced is put back, newest first, Envoy is given time
to take each old version again, and the error is raised.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import REJECTED, SUCCESS, EnvoyAdmin, UpdateCounters
from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck, wait_healthy

_NEVER_UPDATED = UpdateCounters(0, 0, '')


@dataclasses.dataclass(frozen=True)
class FileChange:
    """``path`` goes from ``old`` to ``new`` (None: no file).

    ``watch`` is where Envoy counts the file's updates ('' for a file it does not watch, such as a bootstrap or a
    removed file); ``version`` the version_info Envoy reports once it took ``new``. ``uses`` names, by stat prefix and
    description, the ECDS files the new version makes Envoy load: a listener that starts using a filter is only good
    once Envoy has accepted that filter too. ``hint`` says where Envoy logs why it rejected the file.
    """

    path: str
    old: bytes | None
    new: bytes | None
    what: str
    watch: str = ''
    version: str | None = None
    uses: tuple[tuple[str, str], ...] = ()
    hint: str = ''


class UpdateFailed(WasmOciError):
    """Envoy did not take a change, or the service was unhealthy with it; the old files are back."""


class RolledBack(UpdateFailed):
    """A failed transaction, after putting files back; ``unsettled`` names the files not provably back in Envoy."""

    def __init__(self, message: str, unsettled: list[str]) -> None:
        super().__init__(message)
        self.unsettled = unsettled


class Transaction:
    """``admin`` is None when Envoy is provably stopped: files are written unconfirmed, still undone on a failure.

    ``write(path, data)`` replaces a file atomically (``data`` None removes it)."""

    def __init__(self, admin: EnvoyAdmin | None, write: t.Callable[[str, bytes | None], None], timeout: float,
                 clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.admin = admin
        self.write = write
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._confirmed: set[str] = set()
        self._hints: dict[str, str] = {}

    def apply(self, changes: t.Sequence[FileChange], health_check: HealthCheck | None = None) -> list[FileChange]:
        """Apply ``changes``; the written files Envoy did not confirm (it is stopped, or does not use them)."""
        applied: list[FileChange] = []
        self._confirmed = set()
        self._hints = {change.watch: change.hint for change in changes if change.watch}
        try:
            for change in changes:
                self._replace(change, applied)
            if self.admin is not None and health_check is not None:
                problem = wait_healthy(health_check, self._clock, self._sleep)
                if problem:
                    raise UpdateFailed(f'Envoy applied the new {", ".join(change.what for change in changes if change.watch)}, but the '
                                       f'health check failed: {problem}')
        except BaseException as exc:
            undone, unsettled = self._roll_back(applied)
            if isinstance(exc, OSError):
                raise RolledBack(f'Cannot replace {exc.filename or "a file"}: {exc.strerror}; {undone}', unsettled) from None
            if isinstance(exc, WasmOciError):
                raise RolledBack(f'{exc}; {undone}', unsettled) from None
            raise
        return [change for change in changes if change.watch and change.new is not None and change.watch not in self._confirmed]

    def _replace(self, change: FileChange, applied: list[FileChange]) -> None:
        watching = self.admin if change.watch else None
        before = watching.counters(change.watch) if watching is not None else None
        # Filters Envoy does not load yet have no counters; they must load once the change is taken.
        newly_used = [(prefix, what) for prefix, what in change.uses if watching is not None and watching.counters(prefix) is None]
        applied.append(change)
        self.write(change.path, change.new)
        if watching is None or before is None:
            # Not watched, or this Envoy does not use the file: there is nothing to wait for.
            return
        self._confirm(watching, change.watch, before, f'the new {change.what}', change.version, change.hint)
        for prefix, what in newly_used:
            self._confirm(watching, prefix, _NEVER_UPDATED, f'{what}, which the new {change.what} use', None, self._hints.get(prefix, ''))

    def _confirm(self, admin: EnvoyAdmin, prefix: str, before: UpdateCounters, what: str, version: str | None, hint: str) -> None:
        outcome = admin.wait_for_update(prefix, before, self.timeout, version)
        if outcome == REJECTED:
            raise UpdateFailed(f'Envoy rejected {what}{hint}')
        if outcome != SUCCESS:
            raise UpdateFailed(f'Envoy did not apply {what} within {self.timeout:g}s')
        self._confirmed.add(prefix)

    def _roll_back(self, applied: list[FileChange]) -> tuple[str, list[str]]:
        """Put back every replaced file, newest first; say how that went, and which files are not provably back."""
        failures: list[str] = []
        unsettled: list[str] = []
        for change in reversed(applied):
            before = None
            if self.admin is not None and change.watch and change.old is not None:
                try:
                    before = self.admin.counters(change.watch)
                except WasmOciError:
                    failures.append(f'{change.path}: Envoy did not answer')
                    unsettled.append(change.path)
            try:
                self.write(change.path, change.old)
            except OSError as exc:
                failures.append(f'{change.path}: {exc.strerror}')
                unsettled.append(change.path)
                continue
            if before is not None and self.admin is not None:
                try:
                    taken = self.admin.wait_for_update(change.watch, before, self.timeout) == SUCCESS
                except WasmOciError:
                    taken = False
                if not taken:
                    failures.append(f'{change.path} is back, but Envoy did not confirm taking it within {self.timeout:g}s')
                    unsettled.append(change.path)
        if failures:
            return 'the previous files were put back, with problems: ' + '; '.join(failures), unsettled
        served = ' and Envoy serves the previous config' if self.admin is not None else ''
        return 'every file was put back as it was' + served, unsettled
