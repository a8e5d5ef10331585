# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import errno
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy import health
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import LISTENER_UPDATES, REJECTED, SUCCESS, UpdateCounters, stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck
from ansible_collections.wasm.oci.plugins.module_utils._envoy.transaction import FileChange, Transaction, UpdateFailed

TIMEOUT = 3.0
PUT_BACK = 'every file was put back as it was and Envoy serves the previous config'
HEALTH = HealthCheck('http://127.0.0.1:10000/healthz', timeout=3)
UNHEALTHY = 'http://127.0.0.1:10000/healthz answered 503, not 200'


class Disk:
    """The files as ``write`` leaves them, every write in order, and the writes that fail (``failures[(path, data)]``)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes: list[tuple[str, bytes | None]] = []
        self.failures: dict[tuple[str, bytes | None], BaseException] = {}

    def write(self, path: str, data: bytes | None) -> None:
        self.writes.append((path, data))
        failure = self.failures.pop((path, data), None)
        if failure is not None:
            raise failure
        if data is None:
            self.files.pop(path, None)
        else:
            self.files[path] = data

    def holding(self, changes: t.Sequence[FileChange]) -> dict[str, bytes]:
        """Put the old version of each change on disk; the files as they are then."""
        self.files.update({change.path: change.old for change in changes if change.old is not None})
        return dict(self.files)


@pytest.fixture
def disk(admin: t.Any) -> Disk:
    disk = Disk()
    admin.look = lambda: dict(disk.files)
    return disk


def _ecds(name: str, old: bytes | None, new: bytes | None) -> FileChange:
    return FileChange(f'/etc/envoy/ecds/{name}.yaml', old, new, f'config of filter {name}', watch=stat_prefix(name, 'http'),
                      version=None if new is None else f'{name} {new.decode()}', hint=f'; see the log of {name}')


BOOTSTRAP = FileChange('/etc/envoy/envoy.yaml', b'bootstrap v1', b'bootstrap v2', 'bootstrap')
REMOVAL = FileChange('/etc/envoy/ecds/old.yaml', b'old v1', None, 'ECDS file /etc/envoy/ecds/old.yaml')
THREE = [_ecds('a', b'v1', b'v2'), _ecds('b', b'v1', b'v2'), _ecds('c', b'v1', b'v2')]


def _transaction(admin: t.Any, disk: Disk, clock: t.Any = None) -> Transaction:
    if clock is None:
        return Transaction(admin, disk.write, TIMEOUT)
    return Transaction(admin, disk.write, TIMEOUT, clock=clock, sleep=clock.sleep)


def _forward_then_back(changes: t.Sequence[FileChange]) -> list[tuple[str, bytes | None]]:
    """Each change written in order, then each put back, newest first."""
    return [(change.path, change.new) for change in changes] + [(change.path, change.old) for change in reversed(changes)]


def test_no_changes_touch_nothing(admin: t.Any, disk: Disk) -> None:
    assert _transaction(admin, disk).apply([]) == []
    assert disk.writes == []
    assert admin.waits == []


def test_confirmed_changes_are_applied_one_by_one_in_order(admin: t.Any, disk: Disk) -> None:
    added = _ecds('b', None, b'v1')
    changes = [_ecds('a', b'v1', b'v2'), added, BOOTSTRAP, REMOVAL]
    before = disk.holding(changes)
    assert _transaction(admin, disk).apply(changes) == []
    assert disk.files == {changes[0].path: b'v2', added.path: b'v1', BOOTSTRAP.path: b'bootstrap v2'}
    # Each file is confirmed, at the version it carries, before the next is written; unwatched ones are not awaited.
    assert [(wait.prefix, wait.before, wait.version, wait.seen) for wait in admin.waits] == [
        (changes[0].watch, admin.counters(''), 'a v2', dict(before, **{changes[0].path: b'v2'})),
        (added.watch, admin.counters(''), 'b v1', dict(before, **{changes[0].path: b'v2', added.path: b'v1'})),
    ]


@pytest.mark.parametrize(('outcome', 'complaint'), [
    (REJECTED, 'Envoy rejected the new config of filter c; see the log of c'),
    (None, 'Envoy did not apply the new config of filter c within 3s'),
])
def test_the_third_of_three_not_taken_puts_every_file_back_newest_first(admin: t.Any, disk: Disk, outcome: str | None,
                                                                        complaint: str) -> None:
    before = disk.holding(THREE)
    admin.outcomes[THREE[2].watch] = [outcome]
    with pytest.raises(UpdateFailed) as caught:
        _transaction(admin, disk).apply(THREE)
    assert str(caught.value) == f'{complaint}; {PUT_BACK}'
    assert disk.files == before
    assert disk.writes == _forward_then_back(THREE)
    # After the three forward waits, Envoy is given time to take each old file again, newest first.
    assert [(wait.prefix, wait.version, wait.seen[wait_path]) for wait, wait_path in
            zip(admin.waits[3:], [change.path for change in reversed(THREE)])] == [
        (THREE[2].watch, None, b'v1'), (THREE[1].watch, None, b'v1'), (THREE[0].watch, None, b'v1')]


def test_without_a_running_envoy_everything_is_written_and_left_unconfirmed(disk: Disk) -> None:
    changes = [_ecds('a', b'v1', b'v2'), _ecds('b', None, b'v1'), BOOTSTRAP, REMOVAL]
    disk.holding(changes)
    assert _transaction(None, disk).apply(changes) == changes[:2]
    assert disk.files == {changes[0].path: b'v2', changes[1].path: b'v1', BOOTSTRAP.path: b'bootstrap v2'}


@pytest.mark.parametrize(('running', 'undone'), [(True, PUT_BACK), (False, 'every file was put back as it was')])
def test_a_write_that_fails_puts_the_earlier_files_back(admin: t.Any, disk: Disk, running: bool, undone: str) -> None:
    before = disk.holding(THREE)
    disk.failures[(THREE[1].path, THREE[1].new)] = OSError(errno.ENOSPC, 'No space left on device', THREE[1].path)
    with pytest.raises(WasmOciError) as caught:
        _transaction(admin if running else None, disk).apply(THREE)
    assert str(caught.value) == f'Cannot replace {THREE[1].path}: No space left on device; {undone}'
    assert disk.files == before
    assert disk.writes == _forward_then_back(THREE[:2])


def test_an_unexpected_exception_puts_the_files_back_and_is_raised_again(admin: t.Any, disk: Disk) -> None:
    before = disk.holding(THREE)
    disk.failures[(THREE[2].path, THREE[2].new)] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        _transaction(admin, disk).apply(THREE)
    assert disk.files == before
    assert disk.writes == _forward_then_back(THREE)


def test_a_failing_health_check_puts_everything_back(admin: t.Any, disk: Disk, clock: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[HealthCheck] = []
    monkeypatch.setattr(health, 'probe', lambda check: probes.append(check) or UNHEALTHY)
    changes = [*THREE[:2], BOOTSTRAP]
    before = disk.holding(changes)
    with pytest.raises(UpdateFailed) as caught:
        _transaction(admin, disk, clock).apply(changes, HEALTH)
    assert str(caught.value) == (f'Envoy applied the new config of filter a, config of filter b, but the health check failed: '
                                 f'{UNHEALTHY}; {PUT_BACK}')
    assert disk.files == before
    assert disk.writes == _forward_then_back(changes)
    # Probed until the deadline, three seconds on the fake clock.
    assert probes == [HEALTH] * 3
    assert clock.sleeps == [health._PROBE_INTERVAL] * 2


def test_a_health_check_that_passes_after_a_retry_keeps_the_change(admin: t.Any, disk: Disk, clock: t.Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [UNHEALTHY, None]
    monkeypatch.setattr(health, 'probe', lambda check: answers.pop(0))
    disk.holding(THREE)
    assert _transaction(admin, disk, clock).apply(THREE, HEALTH) == []
    assert disk.files == {change.path: b'v2' for change in THREE}
    assert answers == []


def test_without_a_running_envoy_there_is_no_health_check(disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, 'probe', lambda check: pytest.fail('probed a stopped Envoy'))
    assert _transaction(None, disk).apply(THREE, HEALTH) == THREE


def _listeners(*using: str) -> FileChange:
    return FileChange('/etc/envoy/lds.yaml', b'listeners v1', b'listeners v2', 'listeners', watch=LISTENER_UPDATES,
                      version='0123456789abcdef', uses=tuple((stat_prefix(name, 'http'), f'config of filter {name}') for name in using))


@pytest.mark.parametrize('outcome', [SUCCESS, REJECTED])
def test_a_listener_change_waits_for_the_filters_it_starts_to_use(admin: t.Any, disk: Disk, outcome: str) -> None:
    added, listeners = _ecds('b', None, b'v1'), _listeners('a', 'b')
    changes = [added, listeners]
    before = disk.holding(changes)
    admin.counter_answers[added.watch] = None
    admin.outcomes[added.watch] = [outcome]
    if outcome == SUCCESS:
        # Filter b is confirmed through the listener, so nothing is left unconfirmed.
        assert _transaction(admin, disk).apply(changes) == []
    else:
        # The newly used filter's own hint says where Envoy logs why.
        with pytest.raises(UpdateFailed, match=f'^Envoy rejected config of filter b, which the new listeners use; see the log of b; {PUT_BACK}$'):
            _transaction(admin, disk).apply(changes)
        assert disk.files == before
    # Filter a was loaded before the change: only the listener and the newly used filter b are awaited, b from zero.
    assert [(wait.prefix, wait.before, wait.version) for wait in admin.waits[:2]] == [
        (LISTENER_UPDATES, admin.counters(''), '0123456789abcdef'), (added.watch, UpdateCounters(0, 0, ''), None)]


def test_a_file_envoy_does_not_use_is_written_without_waiting_and_left_unconfirmed(admin: t.Any, disk: Disk) -> None:
    changes = THREE[:2]
    disk.holding(changes)
    admin.counter_answers[changes[0].watch] = None
    assert _transaction(admin, disk).apply(changes) == changes[:1]
    assert [wait.prefix for wait in admin.waits] == [changes[1].watch]
    assert disk.files == {change.path: b'v2' for change in changes}


def test_problems_putting_files_back_are_reported(admin: t.Any, disk: Disk) -> None:
    disk.holding(THREE)
    admin.reject(THREE[2].watch)
    disk.failures[(THREE[1].path, THREE[1].old)] = PermissionError(errno.EACCES, 'Permission denied', THREE[1].path)
    # Envoy does not take the old file a back in time.
    admin.outcomes[THREE[0].watch] = [SUCCESS, None]
    with pytest.raises(UpdateFailed) as caught:
        _transaction(admin, disk).apply(THREE)
    assert str(caught.value) == (
        'Envoy rejected the new config of filter c; see the log of c; the previous files were put back, with problems: '
        f'{THREE[1].path}: Permission denied; {THREE[0].path} is back, but Envoy did not confirm taking it within 3s')
    assert disk.files == {THREE[0].path: b'v1', THREE[1].path: b'v2', THREE[2].path: b'v1'}
    # Neither is provably back in Envoy: the caller keeps both for the next run to check.
    assert caught.value.unsettled == [THREE[1].path, THREE[0].path]


def test_a_new_file_is_removed_again_without_waiting(admin: t.Any, disk: Disk) -> None:
    changes = [_ecds('a', None, b'v1'), _ecds('b', b'v1', b'v2')]
    before = disk.holding(changes)
    admin.reject(changes[1].watch)
    with pytest.raises(UpdateFailed, match=PUT_BACK):
        _transaction(admin, disk).apply(changes)
    assert disk.files == before
    assert changes[0].path not in disk.files
    # Forward: a, b; back: b only (nothing to wait for once a is gone).
    assert [wait.prefix for wait in admin.waits] == [changes[0].watch, changes[1].watch, changes[1].watch]
