"""Fixtures for the integration suite: real tools, real files, playbooks run by ansible-playbook."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import typing as t

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FILTERS_DIR = pathlib.Path(os.environ.get('WASM_OCI_FILTERS', REPO_ROOT / '.build' / 'filters'))
LINKED_COLLECTIONS = pathlib.Path(os.environ.get('WASM_OCI_COLLECTIONS', REPO_ROOT / '.build' / 'linked'))


def _compiled_filter(name: str) -> pathlib.Path:
    path = FILTERS_DIR / f'{name}.wasm'
    if not path.is_file():
        pytest.fail(f'{path} is missing: run the integration suite through `make integration`, which compiles it')
    return path


@pytest.fixture(scope='session')
def sample_filter() -> pathlib.Path:
    """The add_header sample filter, compiled from its WAT source by the Makefile."""
    return _compiled_filter('add_header')


@pytest.fixture(scope='session')
def sample_filter_v2() -> pathlib.Path:
    """Version 2 of the sample filter (header value add_header_v2), made by the Makefile."""
    return _compiled_filter('add_header_v2')


@pytest.fixture(scope='session')
def ansible_environment() -> dict[str, str]:
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(LINKED_COLLECTIONS),
        ANSIBLE_ROLES_PATH=str(pathlib.Path(__file__).parent / 'targets'),
        # localhost runs modules with the test Python, which has the collection's requirements.
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_STDOUT_CALLBACK='default',
        ANSIBLE_RETRY_FILES_ENABLED='0',
        ANSIBLE_LOCALHOST_WARNING='0',
        ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
    )


def run_target(target: str, variables: dict[str, t.Any], environment: dict[str, str], workdir: pathlib.Path) -> None:
    """Run an integration target (a role under targets/) on localhost, failing the test with its output."""
    playbook = workdir / f'{target}.yml'
    playbook.write_text(
        f'- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [{target}]\n', encoding='utf-8'
    )
    variables_file = workdir / f'{target}-vars.json'
    variables_file.write_text(json.dumps(variables), encoding='utf-8')
    command = ['ansible-playbook', '-i', 'localhost,', str(playbook), '-e', f'@{variables_file}']
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=600)
    if completed.returncode != 0:
        pytest.fail(f'target {target} failed (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}')


from registries import *  # noqa: F401,F403  (registry fixtures)  # pylint: disable=wildcard-import,unused-wildcard-import
