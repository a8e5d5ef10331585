# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Put filters of one Envoy back to their last confirmed previous version, from the files on the host alone.

After a swap Envoy confirmed, envoy_wasm_filters keeps each replaced ECDS file as ``<file>.previous``, and the
module store keeps the modules those name. A rollback writes each filter's ``.previous`` back over its ECDS file
and removes the ``.previous``, all filters as one transaction that Envoy confirms like a rollout (host_change.py):
every file confirmed, or every file put back byte for byte. No registry is asked anything.

The version rolled back from is not kept, so a second rollback finds nothing to roll back instead of flipping back;
its module stays in the store until a rollout prunes it. A filter with an ECDS file but no ``.previous`` is skipped
with that message. Anything else that cannot be rolled back fails the whole rollback before a file changes: a name
with no ECDS file on the host, a ``.previous`` that is not a Wasm filter config of that type, a module it loads that
is missing or that Envoy could not run.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.diff import envoy_diff
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import ImageIdentity, module_files, validate_filter_name
from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_change import HostChange
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import (
    PREVIOUS_SUFFIX,
    bootstrap_ecds_paths,
    ecds_file_names,
    parse_document,
    read_bytes,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_filters import FilterFile, read_filter_file
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import check_filter_module
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import write_unconfirmed
from ansible_collections.wasm.oci.plugins.module_utils._envoy.transaction import FileChange

NOTHING_TO_ROLL_BACK = ('nothing to roll back: no previous version is kept (it was rolled back already, or was never '
                        'replaced while Envoy ran)')


class RollbackError(WasmOciError):
    """The filters cannot be rolled back as asked; nothing was changed."""


@dataclasses.dataclass(frozen=True)
class RollbackSettings:
    paths: Paths
    # None: every filter that has a previous version.
    names: list[str] | None
    admin_address: str
    verify_timeout: float
    health_check: HealthCheck | None


def image_of(identity: ImageIdentity | None) -> dict[str, str | None]:
    return {'reference': identity.reference if identity else None, 'digest': identity.digest if identity else None}


def _described(version: FilterFile) -> str:
    return str(version.identity) if version.identity else f'module {version.module}'


@dataclasses.dataclass(frozen=True)
class FilterRollback:
    """One filter's part of a rollback: ``changes`` is empty when it has no previous version."""

    name: str
    current: FilterFile
    previous: FilterFile | None
    changes: tuple[FileChange, ...] = ()

    @property
    def filter_type(self) -> str | None:
        return (self.previous or self.current).filter_type or self.current.filter_type


@dataclasses.dataclass(frozen=True)
class RollbackPlan:
    filters: list[FilterRollback]

    @property
    def changes(self) -> list[FileChange]:
        """Every ECDS file first, then the removals of the ``.previous`` copies, so that any failure puts back all."""
        changes = [change for item in self.filters for change in item.changes]
        return [change for change in changes if change.new is not None] + [change for change in changes if change.new is None]


def _check_previous(name: str, previous: FilterFile, current: FilterFile) -> None:
    """Refuse a previous version Envoy could not load in place of the current one."""
    if previous.problem or previous.filter_type is None:
        why = previous.problem or 'it holds no Wasm filter config (http or network)'
        raise RollbackError(f'{previous.path} is no previous version of filter {name} that Envoy could load: {why}; nothing was changed')
    if current.filter_type is not None and current.filter_type != previous.filter_type:
        raise RollbackError(f'The previous version of filter {name} is a {previous.filter_type} filter, the current one a '
                            f'{current.filter_type} filter: the listener takes it as {current.filter_type}, so only a rollout can '
                            'change it; nothing was changed')
    for module in sorted(module_files(previous.resource)):
        if not os.path.isfile(module):
            raise RollbackError(f'Cannot roll back filter {name} to {_described(previous)}: the module {module} that version loads '
                                'is missing (removed by hand, or pruned), so Envoy could not load it; nothing was changed. Roll that '
                                'image out again instead (which needs its registry)')
        try:
            check_filter_module(module)
        except WasmOciError as exc:
            raise RollbackError(f'Cannot roll back filter {name} to {_described(previous)}: {exc}') from None


def _plan_filter(paths: Paths, name: str, present: t.Sequence[str]) -> FilterRollback:
    path = paths.ecds(validate_filter_name(name))
    current_data = read_bytes(path)
    if current_data is None:
        raise RollbackError(f'Filter {name} has no ECDS file {path} on this host, so it has no version to roll back from; '
                            f'the filters here are: {", ".join(present) or "none"}; nothing was changed')
    current = read_filter_file(path, name)
    previous_path = path + PREVIOUS_SUFFIX
    previous_data = read_bytes(previous_path)
    if previous_data is None:
        return FilterRollback(name, current, None)
    previous = read_filter_file(previous_path, name)
    _check_previous(name, previous, current)
    removal = FileChange(previous_path, previous_data, None, f'previous version of filter {name}')
    if previous_data == current_data:
        # Only a hand could make them equal; what Envoy runs does not change, and the copy is spent all the same.
        return FilterRollback(name, current, previous, (removal,))
    version = parse_document(previous_data, previous_path).get('version_info')
    restore = FileChange(path, current_data, previous_data, f'config of filter {name}, rolled back to {_described(previous)}',
                         watch=stat_prefix(name, str(previous.filter_type)), version=version if isinstance(version, str) else None,
                         hint=f'; Envoy logs why just before "Unable to create Wasm plugin {name}"')
    return FilterRollback(name, current, previous, (restore, removal))


def plan_rollback(paths: Paths, names: t.Sequence[str] | None) -> RollbackPlan:
    """Read what rolling back ``names`` (None: every filter with a previous version) changes; nothing is written."""
    present = ecds_file_names(paths.ecds_dir)
    if names is None:
        names = [name for name in present if os.path.isfile(paths.ecds(name) + PREVIOUS_SUFFIX)]
    # A name given twice is rolled back once.
    return RollbackPlan([_plan_filter(paths, name, present) for name in dict.fromkeys(names)])


@dataclasses.dataclass
class RollbackOutcome:
    plan: RollbackPlan
    paths: Paths
    check_mode: bool
    running: bool
    # Files Envoy has not confirmed yet, after this run.
    unconfirmed: set[str]
    names_given: bool
    warnings: list[str] = dataclasses.field(default_factory=list)

    def _confirmed(self, item: FilterRollback) -> bool:
        written = not (self.check_mode and item.changes)
        return self.running and written and self.paths.ecds(item.name) not in self.unconfirmed

    def _message(self, item: FilterRollback) -> str:
        if item.previous is None:
            return NOTHING_TO_ROLL_BACK
        moved = f'from {_described(item.current)} to {_described(item.previous)}'
        if self.check_mode:
            return f'would be rolled back {moved} (check mode)'
        if self._confirmed(item):
            return f'rolled back {moved}, confirmed by Envoy'
        return f'rolled back {moved}, written, not confirmed by Envoy yet'

    def reports(self) -> list[dict[str, t.Any]]:
        """Per filter: what it was rolled back from and to, and what it runs afterwards (or would, in check mode)."""
        reports = []
        for item in self.plan.filters:
            after = item.previous or item.current
            reports.append({
                'name': item.name,
                'type': item.filter_type,
                'changed': bool(item.changes),
                'rolled_back_from': image_of(item.current.identity) if item.changes else None,
                'rolled_back_to': image_of(after.identity) if item.changes else None,
                'image': image_of(after.identity),
                'module': after.module,
                'confirmed': self._confirmed(item),
                'message': self._message(item),
            })
        return reports

    @property
    def verified(self) -> bool:
        return self.running and all(self._confirmed(item) for item in self.plan.filters)

    def summary(self) -> list[str]:
        return [f'{item.name}: {self._message(item)}' for item in self.plan.filters]

    def message(self) -> str:
        rolled_back = [item.name for item in self.plan.filters if item.changes]
        if rolled_back:
            return ('Would roll back: ' if self.check_mode else 'Rolled back: ') + ', '.join(rolled_back)
        if self.plan.filters or self.names_given:
            return 'Nothing to roll back: no filter named has a previous version'
        return 'Nothing to roll back: no filter has a previous version'

    def diff(self) -> list[dict[str, str]]:
        """The image of each filter before and after, each ECDS file with its secrets redacted, and the ``.previous``
        copies removed (named only: what they held is the ECDS file's "after")."""
        written = [change for change in self.plan.changes if change.new is not None]
        diff = envoy_diff(written, {item.name: self.paths.ecds(item.name) for item in self.plan.filters}, show_config=False)
        removed = ''.join(f'{change.path}: removed, the version it kept is in place\n' for change in self.plan.changes if change.new is None)
        if not removed:
            return diff
        if diff and 'prepared' in diff[0]:
            return [{'prepared': diff[0]['prepared'] + removed}, *diff[1:]]
        return [{'prepared': removed}, *diff]

    def result(self) -> dict[str, t.Any]:
        """What envoy_wasm_rollback returns; never a configuration value."""
        return {
            'changed': bool(self.plan.changes),
            'verified': self.verified,
            'filters': self.reports(),
            'files': [change.path for change in self.plan.changes],
            'summary': self.summary(),
            'msg': self.message(),
        }


class Rollback(HostChange[RollbackOutcome]):
    def __init__(self, settings: RollbackSettings, check_mode: bool) -> None:
        super().__init__(settings.paths, settings.admin_address, settings.verify_timeout, settings.health_check, check_mode)
        self.settings = settings
        # The mode and group of each file the rollback changes, as they were: a .previous put back gets its own again.
        self._kept: dict[str, tuple[int, int]] = {}

    def _prepare(self) -> None:
        if not os.path.isdir(self.paths.config_dir):
            raise RollbackError(f'{self.paths.config_dir} does not exist, so no filter was rolled out with this config_dir and '
                                'there is nothing to roll back; nothing was changed')

    def _ownership(self, path: str) -> tuple[int | None, int | None]:
        mode, group = self._kept.get(path, (None, None))
        # A file that is there keeps its owner and group as it is replaced; only one written anew needs its group given.
        return mode, None if os.path.exists(path) else group

    def _locked(self) -> RollbackOutcome:
        bootstrap, unconfirmed, admin = self._connect(None)
        plan = plan_rollback(self.paths, self.settings.names)
        if admin is not None:
            changing = {change.path for change in plan.changes if change.watch}
            # As in a rollout, ECDS files waiting for their entry in a user-owned bootstrap are checked once it has them.
            uses = bootstrap_ecds_paths(bootstrap)
            pending = {path: watch for path, watch in unconfirmed.items()
                       if os.path.dirname(path) != self.paths.ecds_dir or os.path.realpath(path) in uses}
            unconfirmed = self._confirm_earlier(admin, pending, unconfirmed, changing)
        outcome = RollbackOutcome(plan, self.paths, self.check_mode, admin is not None, set(unconfirmed), self.settings.names is not None)
        if plan.changes and not self.check_mode:
            for change in plan.changes:
                status = os.stat(change.path)
                self._kept[change.path] = (stat.S_IMODE(status.st_mode), status.st_gid)
            left, remaining = self._transact(plan.changes, admin, unconfirmed)
            outcome.unconfirmed = set(remaining)
            write_unconfirmed(self.paths.config_dir, remaining)
            if admin is not None and left:
                outcome.warnings.append(self.unused_warning(left))
        if admin is None and plan.changes and not self.check_mode:
            outcome.warnings.append(self.stopped_warning(bootstrap))
        return outcome
