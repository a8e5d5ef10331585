# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import os
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import ManagedBootstrap, Paths, Plan, PlanError, plan_filters
from ansible_collections.wasm.oci.plugins.module_utils._envoy.validation import validate_managed

ENVOY = '/usr/local/bin/envoy'


class FakeEnvoy:
    """Stands in for ``run_command``: records each command and the files of the directory it validates."""

    def __init__(self, rc: int = 0, out: str = '', err: str = '') -> None:
        self.answer = (rc, out, err)
        self.commands: list[list[str]] = []
        self.seen: dict[str, bytes] = {}

    def __call__(self, command: list[str]) -> tuple[int, str, str]:
        self.commands.append(command)
        directory = pathlib.Path(command[-1]).parent
        self.seen = {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob('*') if path.is_file()}
        return self.answer


def _plan(paths: Paths, make_filter: t.Any, managed: ManagedBootstrap | None) -> Plan:
    filters = [make_filter(name, module=f'/opt/{name}.wasm', root_id='r') for name in ('a', 'b')]
    return plan_filters(filters, [], paths, lambda path: None, [], managed=managed,
                        bootstrap_uses=None if managed else set())


@pytest.fixture
def plan(paths: Paths, make_filter: t.Any) -> Plan:
    return _plan(paths, make_filter, ManagedBootstrap('n', 'c', '127.0.0.1:9901', '127.0.0.1:10000'))


def test_envoy_validates_the_candidate_in_a_private_directory_removed_after(tmp_path: pathlib.Path, paths: Paths, plan: Plan) -> None:
    envoy = FakeEnvoy()
    validate_managed(envoy, ENVOY, plan, paths, str(tmp_path))
    [command] = envoy.commands
    bootstrap = command[-1]
    assert command == [ENVOY, '--mode', 'validate', '--log-level', 'warn', '-c', bootstrap]
    directory = os.path.dirname(bootstrap)
    assert os.path.dirname(directory) == str(tmp_path)
    assert os.path.basename(directory).startswith('envoy-validate-')
    assert envoy.seen == {os.path.relpath(path, directory): data for path, data in plan.validation_files(directory, paths)[1].items()}
    assert not os.path.exists(directory)


def test_a_refused_configuration_is_an_error_in_envoys_words(tmp_path: pathlib.Path, paths: Paths, plan: Plan) -> None:
    envoy = FakeEnvoy(1, 'configuration ok?\n', ''.join(f'line {number}\n' for number in range(40)))

    def refuse(command: list[str]) -> tuple[int, str, str]:
        rc, out, err = envoy(command)
        return rc, out, err + f'error reading {os.path.dirname(command[-1])}/ecds/a.yaml\n'

    with pytest.raises(WasmOciError) as caught:
        validate_managed(refuse, ENVOY, plan, paths, str(tmp_path))
    message = str(caught.value)
    first, output = message.split('\n', 1)
    assert first == f'{ENVOY} --mode validate refused the configuration for {paths.bootstrap} (exit 1); nothing was changed:'
    # The last 30 lines; the private directory, which is gone, is called the candidate.
    assert output.splitlines() == [f'line {number}' for number in range(12, 40)] + ['error reading (candidate) ecds/a.yaml',
                                                                                    'configuration ok?']
    assert os.listdir(tmp_path) == []


def test_the_directory_is_removed_when_envoy_cannot_be_run(tmp_path: pathlib.Path, paths: Paths, plan: Plan) -> None:
    def missing(command: list[str]) -> tuple[int, str, str]:
        raise OSError(2, 'No such file or directory')

    with pytest.raises(FileNotFoundError):
        validate_managed(missing, ENVOY, plan, paths, str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_user_owned_bootstrap_is_not_validated(tmp_path: pathlib.Path, paths: Paths, make_filter: t.Any) -> None:
    envoy = FakeEnvoy()
    with pytest.raises(PlanError, match=r'^Only a managed bootstrap is validated$'):
        validate_managed(envoy, ENVOY, _plan(paths, make_filter, None), paths, str(tmp_path))
    assert envoy.commands == []
    assert os.listdir(tmp_path) == []
