"""One transaction per Envoy host, through the envoy_filter role run by ansible-playbook against a real Envoy.

A rejected filter leaves every file as it was; an admin address that proves nothing changes nothing; a stopped Envoy
gets its files unverified and the next run verifies them; concurrent runs take turns; a run killed anywhere leaves a
consistent host; a user-owned bootstrap is onboarded as the role tells; diffs name images and never show secrets.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pathlib
import random
import re
import secrets
import time
import typing as t

import pytest

from harness.envoy import NEWER_HOST_FILTER, Envoy, free_port, wat2wasm
from harness.module_runner import publish
from harness.registries import Registry
from harness.role import failure_message, headers, recap_changed
from harness.rollouts import (
    Launched,
    LockHolders,
    PublishedRollout,
    deploy_result,
    deploy_results,
    ecds_entry,
    files_and_modes,
    not_envoy_admin,
    paste_entry,
    user_bootstrap,
)

NOT_RUNNING = 'Envoy is not running'
CONFIRMED = 'applied and confirmed by Envoy'
SERVED = {'v1': 'add_header', 'v2': 'add_header_v2'}
KILLS = 20
# How long after an ECDS file is replaced some kills come: about the time Envoy takes to confirm it.
AFTER_WRITE = 0.15
NO_LOG = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
# Where the role keeps the files Envoy has not confirmed yet.
RECORD = '.wasm-oci-unconfirmed.json'


@pytest.fixture(scope='module')
def images(sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, registry_plain: Registry, ansible_environment: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """v1, v2 and newer_host (which Envoy rejects when it loads it) as add_header images, published once for this file."""
    workdir = tmp_path_factory.mktemp('transaction-images')
    sources = {'v1': sample_filter, 'v2': sample_filter_v2, 'newer_host': wat2wasm(NEWER_HOST_FILTER, workdir / 'newer_host.wasm')}
    repository = f'{registry_plain.host}/filters/add_header'
    return {name: publish(str(path), name, repository, ansible_environment, str(workdir / 'layout')) for name, path in sources.items()}


@pytest.fixture
def module_versions(sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path) -> dict[str, str]:
    """Which version a module file name (its sha256) is."""
    return {hashlib.sha256(path.read_bytes()).hexdigest() + '.wasm': version for version, path in (('v1', sample_filter), ('v2', sample_filter_v2))}


@pytest.fixture
def managed(envoy_binary: pathlib.Path, images: dict[str, str], ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> PublishedRollout:
    return PublishedRollout(envoy_binary, images, ansible_environment, tmp_path, envoy_filter_manage_bootstrap=True)


@pytest.fixture
def user_owned(envoy_binary: pathlib.Path, images: dict[str, str], ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> PublishedRollout:
    """The role with a bootstrap of the user's (envoy_filter_manage_bootstrap false), at its default path."""
    rollout = PublishedRollout(envoy_binary, images, ansible_environment, tmp_path, envoy_filter_manage_bootstrap=False)
    rollout.config_dir.mkdir()
    return rollout


@contextlib.contextmanager
def envoy_running(rollout: PublishedRollout) -> t.Iterator[Envoy]:
    envoy = rollout.start_envoy()
    try:
        yield envoy
    finally:
        envoy.stop()


def output(completed: t.Any) -> str:
    return completed.stdout + completed.stderr


def ecds_version(rollout: PublishedRollout, module_versions: dict[str, str], name: str = 'add_header') -> str:
    """v1 or v2: the module the filter's ECDS file names."""
    document = json.loads(rollout.ecds(name).read_bytes())
    return module_versions[pathlib.Path(document['resources'][0]['typed_config']['config']['vm_config']['code']['local']['filename']).name]


def without_record(files: dict[str, t.Any]) -> dict[str, t.Any]:
    return {path: entry for path, entry in files.items() if not path.endswith(RECORD)}


def assert_verified(completed: t.Any, *confirmed: str) -> dict[str, t.Any]:
    """The run (with -v) succeeded, Envoy confirmed every filter, and each filter in ``confirmed`` changed in it."""
    assert completed.returncode == 0, output(completed)
    result = deploy_result(completed.stdout)
    assert result['verified'] is True, result
    assert all(report['confirmed'] for report in result['filters'] if report['state'] == 'present'), result
    changed = [report['name'] for report in result['filters'] if report['changed']]
    assert changed == list(confirmed), result
    assert len([line for line in result['summary'] if line.endswith(CONFIRMED)]) == len(confirmed), result
    return result


def test_rejected_third_filter_leaves_the_host_as_it_was(managed: PublishedRollout) -> None:
    first = managed.run(*managed.filter_set(('a', 'v1'), ('b', 'v1'), ('c', 'v1')))
    assert first.returncode == 0, output(first)
    with envoy_running(managed) as envoy:
        pid = envoy.process.pid
        assert headers(envoy) == ['add_header'] * 3
        # All but the record of the files Envoy had not confirmed yet, which this run checks first.
        before = without_record(files_and_modes(managed.config_dir))
        assert {pathlib.Path(path).name for path in before} >= {'a.yaml', 'b.yaml', 'c.yaml', 'lds.yaml', 'cds.yaml', 'envoy.yaml'}

        rejected = managed.run(*managed.filter_set(('a', 'v2'), ('b', 'v2'), ('c', 'newer_host')))
        assert rejected.returncode != 0, output(rejected)
        message = failure_message(rejected.stdout)
        assert 'filter c ' in message, message
        assert managed.images['newer_host'] in message, message
        assert 'Unable to create Wasm plugin c' in message, message
        assert 'Unable to create Wasm plugin c' in envoy.log.read_text(encoding='utf-8'), 'the line the message points at is in the log'
        assert without_record(files_and_modes(managed.config_dir)) == before
        assert [headers(envoy) for attempt in range(5)] == [['add_header'] * 3] * 5
        assert envoy.process.pid == pid
        assert envoy.exit_status() is None


def test_wrong_admin_address_of_a_user_bootstrap_changes_nothing(user_owned: PublishedRollout) -> None:
    bootstrap = user_owned.config_dir / 'envoy.yaml'
    bootstrap.write_text(user_bootstrap(user_owned.admin_port, user_owned.listener_port,
                                        ecds_entry('add_header', user_owned.ecds('add_header'))), encoding='utf-8')
    add_header = user_owned.filter_set(('add_header', 'v1'))
    stopped = user_owned.run(*add_header)
    assert stopped.returncode == 0, output(stopped)
    assert NOT_RUNNING in stopped.stderr, output(stopped)
    with envoy_running(user_owned) as envoy:
        assert headers(envoy) == ['add_header']
        before = files_and_modes(user_owned.config_dir, user_owned.wasm_dir)
        wrong = user_owned.run(*user_owned.filter_set(('add_header', 'v2')), envoy_filter_admin_address=f'127.0.0.1:{free_port()}')
        assert wrong.returncode != 0, output(wrong)
        message = failure_message(wrong.stdout)
        assert f'is not the admin address 127.0.0.1:{user_owned.admin_port}' in message, message
        assert 'nothing was written' in message, message
        assert files_and_modes(user_owned.config_dir, user_owned.wasm_dir) == before
        assert headers(envoy) == ['add_header']


def test_admin_that_is_not_envoy_changes_nothing_and_a_stopped_envoy_is_verified_later(managed: PublishedRollout) -> None:
    v1, v2 = managed.filter_set(('add_header', 'v1')), managed.filter_set(('add_header', 'v2'))
    first = managed.run(*v1)
    assert first.returncode == 0, output(first)
    assert NOT_RUNNING in first.stderr, output(first)

    # The bootstrap's admin address answers, but not as Envoy: 404, then a server that never answers.
    before = files_and_modes(managed.config_dir, managed.wasm_dir)
    for hang, why in ((False, 'answered HTTP 404'), (True, 'did not answer in time; Envoy may be running, so nothing was changed')):
        with not_envoy_admin(managed.admin_port, hang=hang):
            refused = managed.run(*v2)
        assert refused.returncode != 0, output(refused)
        message = failure_message(refused.stdout)
        assert why in message, message
        assert files_and_modes(managed.config_dir, managed.wasm_dir) == before

    # Envoy really stopped: the files are written, unverified.
    unverified = managed.run_with(['-v'], *v2)
    assert unverified.returncode == 0, output(unverified)
    assert NOT_RUNNING in unverified.stderr, output(unverified)
    result = deploy_result(unverified.stdout)
    assert result['verified'] is False, result
    assert result['filters'][0]['confirmed'] is False, result
    assert result['summary'] == [f'add_header: {managed.images["v2"]} ({result["filters"][0]["digest"]}) written, not confirmed by Envoy yet']
    written = files_and_modes(managed.config_dir)
    with envoy_running(managed) as envoy:
        assert headers(envoy) == ['add_header_v2']
        verified = managed.run_with(['-v'], *v2)
        assert_verified(verified)
        assert recap_changed(verified.stdout) == 0, verified.stdout
        # Only the record of unconfirmed files went away.
        assert without_record(files_and_modes(managed.config_dir)) == without_record(written)
        assert not (managed.config_dir / RECORD).exists()


def test_two_runs_started_together_take_turns(managed: PublishedRollout, module_versions: dict[str, str]) -> None:
    assert managed.run(*managed.filter_set(('add_header', 'v1'))).returncode == 0
    with envoy_running(managed) as envoy:
        for first, second in (('v1', 'v2'), ('v2', 'v1')):
            # Either run may take the lock first, so a round can end on either version: start each from its own.
            if ecds_version(managed, module_versions) != first:
                assert managed.run(*managed.filter_set(('add_header', first))).returncode == 0
            successes = envoy.counter('update_success')
            runs = [managed.launch(f'{first}-{version}', managed.filter_set(('add_header', version)), options=['-v'])
                    for version in (first, second)]
            with LockHolders(managed.config_dir, runs) as holders:
                done = [run.wait() for run in runs]
            succeeded = [index for index, completed in enumerate(done) if completed.returncode == 0]
            for index, completed in enumerate(done):
                assert index in succeeded or 'Another run has held' in failure_message(completed.stdout), output(completed)
            assert succeeded, [output(completed) for completed in done]

            on_disk = ecds_version(managed, module_versions)
            assert headers(envoy) == [SERVED[on_disk]]
            stats = envoy.stats()
            version_info = json.loads(managed.ecds('add_header').read_bytes())['version_info']
            assert version_info in stats['extension_config_discovery.http_filter.add_header.version_text'], stats
            # The run that took the lock last put its version there.
            assert holders.order, 'no lock holder seen'
            assert (first, second)[holders.order[-1]] == on_disk, (holders.order, on_disk)
            # Each confirmation reported is one Envoy gave: one update per changed run, each for that run's own image.
            results = {index: deploy_result(done[index].stdout) for index in succeeded}
            for index, result in results.items():
                own = managed.images[(first, second)[index]]
                assert result['verified'] is True, result
                assert all(line.startswith(f'add_header: {own} (') and line.endswith(CONFIRMED) for line in result['summary']), result
            changed = [index for index, result in results.items() if result['changed']]
            assert envoy.counter('update_success') - successes == len(changed), (results, envoy.stats())
            assert 1 in changed, 'the run to the other version changed the host whichever ran first'
            assert (0 in changed) == (holders.order[-1] == 0), (holders.order, results)


def assert_consistent(rollout: PublishedRollout, envoy: Envoy, pid: int, module_versions: dict[str, str], what: str) -> None:
    """Envoy still runs and serves v1 or v2; every ECDS file (and kept previous one) is JSON naming a sound module."""
    assert envoy.process.pid == pid, what
    assert envoy.exit_status() is None, what
    assert headers(envoy) in (['add_header'], ['add_header_v2']), what
    files = sorted((rollout.config_dir / 'ecds').glob('*.yaml')) + sorted((rollout.config_dir / 'ecds').glob('*.yaml.previous'))
    assert rollout.ecds('add_header') in files, what
    for path in files:
        document = json.loads(path.read_bytes())
        module = pathlib.Path(document['resources'][0]['typed_config']['config']['vm_config']['code']['local']['filename'])
        assert module.is_file(), f'{what}: {path} names {module}, which does not exist'
        assert hashlib.sha256(module.read_bytes()).hexdigest() + '.wasm' == module.name, f'{what}: {module} is damaged'
        assert module.name in module_versions, f'{what}: {module}'


def kill_points(chance: random.Random, play: float, module: float) -> list[tuple[str, float]]:
    """KILLS points of a rollout, each a delay after an anchor: the start of its play (spread over the ``play`` seconds
    it takes), the start of envoy_wasm_filters (spread over the ``module`` seconds it runs), the ECDS file replaced
    (spread over the time Envoy takes to confirm it)."""
    def spread(anchor: str, count: int, length: float) -> list[tuple[str, float]]:
        return [(anchor, length * (index + chance.random()) / count) for index in range(count)]
    return spread('play', KILLS * 3 // 10, play) + spread('module', KILLS // 2, module) + spread('write', KILLS - KILLS * 8 // 10, AFTER_WRITE)


def kill_at(run: Launched, anchor: str, delay: float, ecds: pathlib.Path) -> list[str]:
    """Kill ``run`` ``delay`` seconds after ``anchor`` in its second play; the command lines of what was killed."""
    start = run.play_started(2)
    if anchor == 'module':
        start = run.wait_until(lambda: run.running_module('envoy_wasm_filters'), 'envoy_wasm_filters started')
    elif anchor == 'write':
        inode = ecds.stat().st_ino
        start = run.wait_until(lambda: ecds.stat().st_ino != inode, f'{ecds} replaced')
    time.sleep(max(0.0, start + delay - time.monotonic()))
    return run.kill()


def test_killed_anywhere_during_a_rollout(managed: PublishedRollout, module_versions: dict[str, str]) -> None:
    """Each iteration is two ansible-playbook runs: the role to v1 then to v2, killed in its second play, and the role
    to v2, which must converge, verified (now and then run once more, changing nothing)."""
    v1, v2 = managed.filter_set(('add_header', 'v1')), managed.filter_set(('add_header', 'v2'))
    assert managed.run(*v1).returncode == 0
    with envoy_running(managed) as envoy:
        pid = envoy.process.pid
        # How long a v1 -> v2 rollout takes as the iterations run it (both modules stored, v2 the previous version), and
        # envoy_wasm_filters in it, so that the kills are spread over both.
        measured = managed.launch('measure', v2, v1, v2, options=['-v'])
        started = measured.play_started(3)
        module_started = measured.wait_until(lambda: measured.running_module('envoy_wasm_filters'), 'envoy_wasm_filters started')
        module_ended = measured.wait_until(lambda: not measured.running_module('envoy_wasm_filters'), 'envoy_wasm_filters ended')
        completed = measured.wait()
        play = time.monotonic() - started
        assert [result['changed'] for result in deploy_results(completed.stdout)] == [True, True, True], output(completed)
        assert headers(envoy) == ['add_header_v2']
        chance = random.Random()
        seed = chance.randrange(1 << 30)
        chance.seed(seed)
        in_module = 0
        for iteration, (anchor, delay) in enumerate(kill_points(chance, play, module_ended - module_started)):
            what = f'killed {delay:.2f}s after the {anchor} start of a {play:.2f}s rollout (iteration {iteration}, seed {seed})'
            run = managed.launch(f'kill-{iteration}', v1, v2, options=['-v'])
            in_module += any('AnsiballZ_envoy_wasm_filters' in command for command in kill_at(run, anchor, delay, managed.ecds('add_header')))
            reset = deploy_results(run.stdout.read_text(encoding='utf-8'))[0]
            assert reset['verified'] is True, (what, reset)
            assert reset['filters'][0]['changed'], (what, reset)
            assert reset['filters'][0]['confirmed'], (what, reset)
            assert_consistent(managed, envoy, pid, module_versions, what)

            plays = [v2, v2] if iteration % 4 == 3 else [v2]
            again = managed.launch(f'again-{iteration}', *plays, options=['-v']).wait()
            assert again.returncode == 0, f'{what}:\n{output(again)}'
            converged, *still = deploy_results(again.stdout)
            assert converged['verified'] is True, (what, converged)
            assert converged['filters'][0]['confirmed'] is True, (what, converged)
            assert all(result['verified'] is True and not result['changed'] for result in still), (what, still)
            assert headers(envoy) == ['add_header_v2'], what
            assert ecds_version(managed, module_versions) == 'v2', what
        assert in_module >= KILLS // 3, f'only {in_module} kills hit envoy_wasm_filters itself (seed {seed})'


def test_onboarding_as_a_user_follows_it(user_owned: PublishedRollout) -> None:
    bootstrap = user_owned.config_dir / 'envoy.yaml'
    original = user_bootstrap(user_owned.admin_port, user_owned.listener_port)
    bootstrap.write_text(original, encoding='utf-8')
    add_header = user_owned.filter_set(('add_header', 'v1'))
    envoy = user_owned.start_envoy()
    try:
        assert headers(envoy) == []
        refused = user_owned.run(*add_header)
        assert refused.returncode != 0, output(refused)
        message = failure_message(refused.stdout)
        assert '# Add to' in message, message
        assert 'restart Envoy' in message, message
        document = json.loads(user_owned.ecds('add_header').read_bytes())
        module = pathlib.Path(document['resources'][0]['typed_config']['config']['vm_config']['code']['local']['filename'])
        assert module.is_file()
        assert module.name in user_owned.stored_modules()
        assert bootstrap.read_text(encoding='utf-8') == original

        # As told: paste the entry, restart Envoy, run again.
        pasted = paste_entry(original, message[message.index('# Add to'):])
        bootstrap.write_text(pasted, encoding='utf-8')
        envoy.stop()
        envoy = user_owned.start_envoy()
        assert headers(envoy) == ['add_header']
        again = user_owned.run_with(['-v'], *add_header)
        assert_verified(again)
        assert recap_changed(again.stdout) == 0, again.stdout
        assert bootstrap.read_text(encoding='utf-8') == pasted
    finally:
        envoy.stop()


def secret_files(secret_values: t.Sequence[str], *directories: pathlib.Path) -> dict[pathlib.Path, int]:
    """The files below ``directories`` that hold a secret, with their modes; none of them may be world-readable."""
    found = {}
    for directory in directories:
        for path in directory.rglob('*'):
            if path.is_file() and any(value.encode() in path.read_bytes() for value in secret_values):
                found[path] = path.stat().st_mode & 0o777
    assert not {path: oct(mode) for path, mode in found.items() if mode & 0o004}, 'world-readable files hold a secret'
    return found


def test_diff_names_images_and_never_shows_secrets(managed: PublishedRollout) -> None:
    api_key, token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    private = {'configuration': {'api_key': api_key}, 'environment': {'API_TOKEN': token}}
    directories = (managed.config_dir, managed.wasm_dir, managed.workdir / 'cache')
    first = managed.run(*managed.filter_set(('add_header', 'v1'), **private))
    assert first.returncode == 0, output(first)
    with envoy_running(managed) as envoy:
        diff = managed.run_with(['--diff', '-v'], *managed.filter_set(('add_header', 'v2'), **private))
        assert diff.returncode == 0, output(diff)
        digest = r'\(sha256:[0-9a-f]{64}\)'
        line = rf'add_header: {re.escape(managed.images["v1"])} {digest} -> {re.escape(managed.images["v2"])} {digest}\n'
        assert re.search(line, diff.stdout), diff.stdout
        assert headers(envoy) == ['add_header_v2']
        for completed in (diff, managed.run_with(['-vvv'], *managed.filter_set(('add_header', 'v1'), **private))):
            assert completed.returncode == 0, output(completed)
            assert api_key not in output(completed), output(completed)
            assert token not in output(completed), output(completed)
        holding = secret_files((api_key, token), *directories)
        assert {path.name: mode for path, mode in holding.items()} == {'add_header.yaml': 0o640, 'add_header.yaml.previous': 0o640}

        # A diff shows only what changed: new values, shown as asked.
        new_key, new_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        changed = managed.filter_set(('add_header', 'v1'), configuration={'api_key': new_key}, environment={'API_TOKEN': new_token})
        shown = managed.run_with(['--diff', '-vvv'], *changed, envoy_filter_show_config=True)
        assert shown.returncode == 0, output(shown)
        assert api_key in shown.stdout, shown.stdout
        assert token in shown.stdout, shown.stdout
        assert new_key in shown.stdout, shown.stdout
        assert new_token in shown.stdout, shown.stdout
        masked = deploy_result(shown.stdout)['invocation']['module_args']['filters'][0]
        assert (masked['configuration'], masked['environment']) == ({'api_key': NO_LOG}, {'API_TOKEN': NO_LOG}), masked
        assert set(secret_files((api_key, token, new_key, new_token), *directories)) == set(holding)
