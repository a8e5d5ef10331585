"""Each integration target is an Ansible role that drives the modules through ansible-playbook."""

from __future__ import annotations

import pathlib

from harness.targets import run_target


def test_wasm_image_build(sample_filter: pathlib.Path, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    run_target(
        'wasm_image_build',
        {'sample_filter': str(sample_filter), 'workdir': str(tmp_path)},
        ansible_environment,
        tmp_path,
    )
