"""ansible-doc renders every module with its examples and return values."""

from __future__ import annotations

import subprocess

import pytest

MODULES = [
    'wasm.oci.envoy_wasm_filters',
    'wasm.oci.wasm_image_build',
    'wasm.oci.wasm_image_info',
    'wasm.oci.wasm_image_pull',
    'wasm.oci.wasm_image_push',
]


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_renders(module: str, ansible_environment: dict[str, str]) -> None:
    completed = subprocess.run(['ansible-doc', module], env=ansible_environment, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    for section in ('OPTIONS', 'ATTRIBUTES', 'EXAMPLES', 'RETURN VALUES', 'image'):
        assert section in completed.stdout, f'{module} docs lack {section}'
    assert 'ERROR' not in completed.stderr
