# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Replace the files a running Envoy watches, confirm it applied them, and undo it if not.

Envoy reports every file update it takes in an ``update_success`` or ``update_rejected``
counter (ECDS, LDS and CDS alike). Changes are applied in order, each confirmed before
the next; when Envoy rejects one, does not take it in time, or the optional health
probe fails afterwards, every file already replaced is put back, newest first, and
Envoy is given time to take the old version again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import time
import typing as t
import urllib.error

from ansible.module_utils.urls import open_url

from ansible_collections.wasm.oci.plugins.module_utils.atomic_file import write_atomically
from ansible_collections.wasm.oci.plugins.module_utils.envoy_admin import REJECTED, SUCCESS, EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmOciError

_PROBE_INTERVAL = 0.25


@dataclasses.dataclass(frozen=True)
class FileChange:
    """``path`` goes from ``old`` to ``new`` (None: no file); Envoy counts the update under ``stat_prefix``.

    ``uses`` names the ECDS files the new version makes Envoy load, by stat prefix and description: a listener
    that starts using a filter is only good once Envoy has also accepted that filter's config.
    """

    path: str
    old: bytes | None
    new: bytes | None
    stat_prefix: str
    what: str
    uses: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    """A request that must answer ``status`` with ``headers`` (names case-insensitive) once the change is live."""

    url: str
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    timeout: float = 10.0


@dataclasses.dataclass(frozen=True)
class UpdateReport:
    verified: bool
    message: str


class UpdateFailed(WasmOciError):
    """Envoy did not take a change, or the service was unhealthy with it; the old files are back."""

    def __init__(self, message: str, rejected: bool) -> None:
        super().__init__(message)
        self.rejected = rejected


def replace_file(path: str, data: bytes | None) -> None:
    """Write ``data`` to ``path`` atomically, or remove ``path`` when ``data`` is None."""
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        write_atomically(path, data)


def probe(check: HealthCheck, timeout: float = 5.0) -> str | None:
    """None when ``check`` passes once; otherwise what was wrong with the answer."""
    try:
        with open_url(check.url, timeout=timeout, use_proxy=False, follow_redirects='none') as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        return f'{check.url} did not answer: {getattr(exc, "reason", exc)}'
    if status != check.status:
        return f'{check.url} answered {status}, not {check.status}'
    for name, expected in check.headers.items():
        actual = headers.get(name)
        if actual != expected:
            return f'{check.url} answered header {name}: {actual!r}, not {expected!r}'
    return None


class EnvoyUpdater:
    """Applies changes in order; ``admin`` None (nothing to ask) or an unwatched change (empty ``stat_prefix``,
    such as a bootstrap or a removal) is written without waiting, but still undone when a later change fails."""

    def __init__(self, admin: EnvoyAdmin | None, timeout: float, clock: t.Callable[[], float] = time.monotonic,
                 sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.admin = admin
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep

    def _wait_healthy(self, check: HealthCheck) -> str | None:
        deadline = self._clock() + check.timeout
        while True:
            problem = probe(check)
            if problem is None or self._clock() >= deadline:
                return problem
            self._sleep(_PROBE_INTERVAL)

    def _roll_back(self, applied: list[FileChange]) -> None:
        for change in reversed(applied):
            before = self.admin.counters(change.stat_prefix) if self.admin and change.stat_prefix else None
            replace_file(change.path, change.old)
            if before:
                self.admin.wait_for_update(change.stat_prefix, before, self.timeout)

    def _replace_confirmed(self, changes: t.Sequence[FileChange], applied: list[FileChange], running: bool) -> list[str]:
        """Replace each file, waiting for Envoy to take it when it runs; the ``what`` of files Envoy does not use."""
        unused: list[str] = []
        for change in changes:
            watched = running and bool(change.stat_prefix)
            before = self.admin.counters(change.stat_prefix) if watched else None
            # Filters Envoy does not load yet have no counters; they must load once the change is taken.
            newly_used = [(prefix, what) for prefix, what in change.uses if watched and not self.admin.counters(prefix)]
            replace_file(change.path, change.new)
            applied.append(change)
            if not watched:
                continue
            if not before:
                # No counters: this Envoy does not use the file (yet), so there is nothing to wait for.
                unused.append(change.what)
                continue
            self._confirm(change.stat_prefix, before, f'the new {change.what}')
            for prefix, what in newly_used:
                self._confirm(prefix, {SUCCESS: 0, REJECTED: 0}, f'{what}, which the new {change.what} use')
        return unused

    def _confirm(self, prefix: str, before: dict[str, int], what: str) -> None:
        outcome = self.admin.wait_for_update(prefix, before, self.timeout)
        if outcome != SUCCESS:
            verdict = 'rejected' if outcome == REJECTED else f'did not apply within {self.timeout:g}s'
            raise UpdateFailed(f'Envoy {verdict} {what}; the previous files were restored and Envoy keeps serving the old config',
                               rejected=outcome == REJECTED)

    def apply(self, changes: t.Sequence[FileChange], health_check: HealthCheck | None = None) -> UpdateReport | None:
        """Replace each file and wait for Envoy to take it; on any failure undo all of them, then raise.

        None when there was nobody to ask: no admin, or no change Envoy watches."""
        watched = [change for change in changes if change.stat_prefix]
        running = bool(watched) and self.admin is not None and self.admin.counters(watched[0].stat_prefix) is not None
        applied: list[FileChange] = []
        try:
            unused = self._replace_confirmed(changes, applied, running)
            problem = self._wait_healthy(health_check) if running and health_check else None
            if problem:
                raise UpdateFailed(f'Envoy applied the new {", ".join(change.what for change in watched)}, but the health check '
                                   f'failed: {problem}; the previous files were restored and Envoy serves the old config again',
                                   rejected=False)
        except UpdateFailed:
            self._roll_back(applied)
            raise
        except OSError as exc:
            self._roll_back(applied)
            raise WasmOciError(f'Cannot replace {exc.filename or "a file"}: {exc.strerror}; the files already replaced were put back') from None
        if self.admin is None or not watched:
            return None
        if not running:
            return UpdateReport(False, f'Envoy admin at {self.admin.address} did not answer: Envoy is not running, so there is '
                                'no traffic to protect; the live check happens on the next run')
        if unused:
            return UpdateReport(False, f'Envoy does not use the {", ".join(unused)} yet (no counters); it takes the file '
                                'when its bootstrap references it')
        return UpdateReport(True, f'Envoy applied the new {", ".join(change.what for change in watched)}')
