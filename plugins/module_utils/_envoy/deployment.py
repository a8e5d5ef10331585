# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""One run against one Envoy: under its lock, find out whether it runs, plan, validate, apply, record, prune.

The lock, finding the running Envoy, confirming earlier writes and the transaction with its record are the frame
every change runs in (host_change.py); what is here is the rollout's own: the plan, the modules, the kept
``.previous`` copies, modes and pruning.

Every step that cannot prove what it needs fails with nothing changed: an admin address that
answers but is not this Envoy's, a user-owned bootstrap that names another admin address, a
validation asked for with no Envoy binary, a module that is missing or damaged.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_change import HostChange
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import (
    PREVIOUS_SUFFIX,
    bootstrap_ecds_paths,
    ecds_file_names,
    modules_in_use,
    read_bytes,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import check_filter_module, stale_pulled_copies, store_module, unused_modules
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import ManagedBootstrap, Paths, Plan, PlanError, plan_filters
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import RESTART_MARK, write_unconfirmed
from ansible_collections.wasm.oci.plugins.module_utils._envoy.running import admin_address
from ansible_collections.wasm.oci.plugins.module_utils._envoy.validation import RunCommand, validate_managed


@dataclasses.dataclass(frozen=True)
class Settings:
    paths: Paths
    filters: list[dict[str, t.Any]]
    # wasm_image_pull results (image, dest) whose dest is on this host.
    host_pulls: list[dict[str, t.Any]]
    # wasm_image_pull results whose dest is on the controller: the action plugin sends the modules this host lacks.
    controller_pulls: list[dict[str, t.Any]]
    # Modules the action plugin sent from the controller: their temporary host paths, by module digest.
    uploads: dict[str, str]
    managed: ManagedBootstrap | None
    admin_address: str
    envoy_binary: str | None
    verify_timeout: float
    health_check: HealthCheck | None
    prune: bool
    purge: bool
    mode: int
    group: int | None


@dataclasses.dataclass
class Outcome:
    plan: Plan
    paths: Paths
    check_mode: bool
    running: bool
    # Files Envoy has not confirmed yet, after this run.
    unconfirmed: set[str]
    restart_needed: bool
    stored_modules: list[str] = dataclasses.field(default_factory=list)
    removed_modules: list[str] = dataclasses.field(default_factory=list)
    # Files whose mode or group were not those asked for (hosts from before, a new group).
    reset_modes: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def confirm_reports(self) -> None:
        """Mark each present filter whose file Envoy confirmed, in this run or an earlier one."""
        for report in self.plan.filters:
            written = not (self.check_mode and report['changed'])
            report['confirmed'] = (report['state'] == 'present' and self.running and written
                                   and self.paths.ecds(report['name']) not in self.unconfirmed)

    @property
    def verified(self) -> bool:
        return self.running and all(report['confirmed'] for report in self.plan.filters if report['state'] == 'present')

    def result(self) -> dict[str, t.Any]:
        """What envoy_wasm_filters returns; never a configuration or environment value."""
        return {
            'changed': bool(self.plan.changes or self.stored_modules or self.removed_modules or self.reset_modes),
            'verified': self.verified,
            'filters': self.plan.filters,
            'unmanaged_filters': self.plan.unmanaged,
            'stored_modules': self.stored_modules,
            'removed_modules': self.removed_modules,
            'files': [change.path for change in self.plan.changes] + self.reset_modes,
            'restart_needed': self.restart_needed,
            'summary': self.summary(),
        }

    def summary(self) -> list[str]:
        """One line per changed filter, for people reading the play's output."""
        lines = []
        for report in self.plan.filters:
            if not report['changed']:
                continue
            if report['state'] == 'absent':
                lines.append(f'{report["name"]}: removed')
                continue
            image = f'{report["image"]} ({report["digest"]})' if report['image'] else report['module']
            verdict = 'applied and confirmed by Envoy' if report['confirmed'] else \
                'would be applied (check mode)' if self.check_mode else 'written, not confirmed by Envoy yet'
            lines.append(f'{report["name"]}: {image} {verdict}')
        if self.restart_needed:
            lines.append('The bootstrap changed; Envoy reads it only when it starts')
        return lines


class ModulesMissing(Exception):
    """The host lacks modules that were pulled on the controller: ``missing`` (path, digest) must be sent first."""

    def __init__(self, missing: list[dict[str, str]]) -> None:
        super().__init__(f'{len(missing)} modules to send')
        self.missing = missing


class Deployment(HostChange[Outcome]):
    def __init__(self, settings: Settings, run_command: RunCommand, check_mode: bool, tmpdir: str | None = None) -> None:
        super().__init__(settings.paths, settings.admin_address, settings.verify_timeout, settings.health_check, check_mode)
        self.settings = settings
        self.run_command = run_command
        self.tmpdir = tmpdir

    def _prepare(self) -> None:
        if not self.check_mode:
            os.makedirs(self.paths.ecds_dir, exist_ok=True)

    def _ownership(self, path: str) -> tuple[int | None, int | None]:
        return self.settings.mode, self.settings.group

    def _locked(self) -> Outcome:
        settings = self.settings
        bootstrap, unconfirmed, admin = self._connect(settings.managed.node_id if settings.managed else None)
        plan = plan_filters(settings.filters, self._images(), self.paths, read_bytes, ecds_file_names(self.paths.ecds_dir),
                            managed=settings.managed, purge=settings.purge,
                            bootstrap_uses=None if settings.managed else bootstrap_ecds_paths(bootstrap))
        stored = self._store_modules(plan)
        changing = {change.path for change in plan.changes}
        if admin is not None:
            # Files waiting for their entry in a user-owned bootstrap are checked once it has them.
            waiting = set(plan.onboarding_paths)
            unconfirmed = self._confirm_earlier(admin, {path: watch for path, watch in unconfirmed.items() if path not in waiting},
                                                unconfirmed, changing)
        if plan.stanzas:
            self._onboard(plan, unconfirmed)
        self._check_modules(plan)
        if plan.changes and settings.managed and settings.envoy_binary:
            validate_managed(self.run_command, settings.envoy_binary, plan, self.paths, self.tmpdir)
        restart_needed = admin is not None and settings.managed is not None and any(
            change.path == self.paths.bootstrap for change in plan.changes)
        outcome = Outcome(plan, self.paths, self.check_mode, admin is not None, set(unconfirmed), restart_needed, stored)
        if plan.changes and not self.check_mode:
            self._apply(plan, admin, admin_address(bootstrap, settings.admin_address), unconfirmed, outcome)
        if admin is None and plan.changes and not self.check_mode:
            outcome.warnings.append(self.stopped_warning(bootstrap))
        outcome.reset_modes = self._reset_modes(plan)
        if settings.prune:
            outcome.removed_modules = self._prune(plan)
        outcome.confirm_reports()
        return outcome

    def _pulled(self) -> list[tuple[dict[str, t.Any], bool]]:
        """Each pull result that describes an image, and whether its dest is on this host; the controller's first."""
        located = [(item, False) for item in self.settings.controller_pulls] + [(item, True) for item in self.settings.host_pulls]
        return [(item, here) for item, here in located if isinstance(item, dict) and isinstance(item.get('image'), dict)]

    def _images(self) -> list[dict[str, t.Any]]:
        return [item['image'] for item, here in self._pulled()]

    def _store_modules(self, plan: Plan) -> list[str]:
        """Put each module the filters need into the store, from the host's pull or the controller's upload.

        Modules pulled on the controller that were not sent yet stop the run before anything changed (ModulesMissing)."""
        # A module the host pulled itself wins over the controller's copy of it.
        sources = {item['image'].get('wasm', {}).get('digest'): item.get('dest') if here else None for item, here in self._pulled()}
        stored: list[str] = []
        missing: list[dict[str, str]] = []
        for report in plan.filters:
            if report['state'] != 'present':
                continue
            path, digest = report['module'], report.get('module_digest')
            if not digest or os.path.exists(path) or digest not in sources:
                continue
            source = self.settings.uploads.get(digest) or sources[digest]
            if source is None:
                missing.append({'path': path, 'digest': digest})
            elif not self.check_mode:
                os.makedirs(self.paths.wasm_dir, exist_ok=True)
                store_module(source, path, digest)
            stored.append(path)
        if missing and not self.check_mode:
            raise ModulesMissing(missing)
        return stored

    def _onboard(self, plan: Plan, unconfirmed: dict[str, str]) -> t.NoReturn:
        """Write the ECDS files a user-owned bootstrap does not use yet, then stop with the entries to paste."""
        if not self.check_mode and plan.onboarding:
            self._check_modules(plan)
            for change in plan.onboarding:
                self._write(change.path, change.new)
            write_unconfirmed(self.paths.config_dir, dict(unconfirmed, **{change.path: change.watch for change in plan.onboarding}))
        written = 'Their ECDS files and modules are in place, harmless while nothing references them' if not self.check_mode else \
            'Check mode wrote nothing'
        raise PlanError(
            f'The bootstrap {self.paths.bootstrap} does not take every filter from its ECDS file, so Envoy would never load it. '
            f'{written}. Now: 1. paste each entry below into the bootstrap (or its listener file); 2. restart Envoy; 3. run '
            'this again, which confirms that Envoy runs them. Nothing else was changed.\n' + '\n'.join(plan.stanzas))

    def _check_modules(self, plan: Plan) -> None:
        changed = {change.path for change in plan.changes + plan.onboarding if change.new is not None}
        for report in plan.filters:
            if report['state'] != 'present' or self.paths.ecds(report['name']) not in changed:
                continue
            spec = next(spec for spec in self.settings.filters if spec['name'] == report['name'])
            if spec.get('sha256') and report['module_digest'] and spec['sha256'].split(':')[-1] != report['module_digest'].split(':')[-1]:
                raise PlanError(f'Filter {report["name"]}: the module of {report["image"]} is {report["module_digest"]}, not the '
                                f'expected sha256 {spec["sha256"]}; nothing was written')
            if os.path.isfile(report['module']):
                check_filter_module(report['module'])
            elif not self.check_mode:
                raise PlanError(f'The module {report["module"]} of filter {report["name"]} does not exist (copy it there first, as '
                                'the envoy_filter role does; a concurrent run may have pruned it: run again); nothing was written')

    def _apply(self, plan: Plan, admin: EnvoyAdmin | None, running_address: str, unconfirmed: dict[str, str], outcome: Outcome) -> None:
        left, remaining = self._transact(plan.changes, admin, unconfirmed)
        left_paths = {change.path for change in left}
        for path, data in plan.previous_copies:
            replaced = path[:-len(PREVIOUS_SUFFIX)]
            # Only a version Envoy had confirmed is kept as the last confirmed one. Otherwise an older .previous would
            # now be two versions back, and a rollback would silently skip one: it goes instead.
            confirmed_swap = admin is not None and replaced not in left_paths and replaced not in unconfirmed
            self._write(path, data if confirmed_swap else None)
        outcome.unconfirmed = set(remaining)
        if outcome.restart_needed and running_address != self.settings.admin_address:
            # Until Envoy restarts, its admin answers where the old bootstrap said, not where the file now says.
            remaining[self.paths.bootstrap] = RESTART_MARK + running_address
        write_unconfirmed(self.paths.config_dir, remaining)
        if admin is not None and left:
            outcome.warnings.append(self.unused_warning(left))

    def _reset_modes(self, plan: Plan) -> list[str]:
        """Give every file holding plugin configuration the mode and group asked for, if it has others."""
        paths = [self.paths.ecds(report['name']) for report in plan.filters if report['state'] == 'present']
        paths += [path + PREVIOUS_SUFFIX for path in paths]
        if self.settings.managed:
            paths += [self.paths.bootstrap, self.paths.listeners, self.paths.clusters]
        reset = []
        for path in paths:
            try:
                current = os.stat(path)
            except FileNotFoundError:
                continue
            group = self.settings.group
            if stat.S_IMODE(current.st_mode) == self.settings.mode and (group is None or current.st_gid == group):
                continue
            reset.append(path)
            if not self.check_mode:
                if group is not None:
                    os.chown(path, -1, group)
                os.chmod(path, self.settings.mode)
        return reset

    def _prune(self, plan: Plan) -> list[str]:
        """Remove the stored modules no ECDS file names, and the copies pulled on this host that host_pulls no longer names."""
        keep = modules_in_use(self.paths.ecds_dir) | {os.path.realpath(report['module']) for report in plan.filters if report.get('module')}
        unused = unused_modules(self.paths.wasm_dir, keep)
        pulled = {os.path.realpath(item['dest']) for item in self.settings.host_pulls if isinstance(item, dict) and item.get('dest')}
        unused += stale_pulled_copies(self.paths.wasm_dir, pulled)
        if not self.check_mode:
            for path in unused:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise WasmOciError(f'Cannot remove the unused module {path}: {exc.strerror}') from None
        return unused
