"""Integration targets: the roles under ``tests/integration/targets/``, each run on localhost by ansible-playbook."""

from __future__ import annotations

import json
import pathlib
import subprocess
import typing as t

import pytest


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
