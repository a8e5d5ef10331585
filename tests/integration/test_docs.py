"""ansible-doc renders every module with its examples and return values."""

from __future__ import annotations

import subprocess

import pytest

# Each module, and a return value its docs must show.
MODULES = {
    'wasm.oci.envoy_wasm_filters': 'image',
    'wasm.oci.envoy_wasm_gate': 'wasm_failure_counters',
    'wasm.oci.envoy_wasm_info': 'filters',
    'wasm.oci.envoy_wasm_rollback': 'filters',
    'wasm.oci.wasm_image_build': 'image',
    'wasm.oci.wasm_image_copy': 'digest',
    'wasm.oci.wasm_image_info': 'image',
    'wasm.oci.wasm_image_pull': 'image',
    'wasm.oci.wasm_image_push': 'image',
    'wasm.oci.wasm_image_sign': 'signature_tag',
}


@pytest.mark.parametrize('module', sorted(MODULES))
def test_ansible_doc_renders(module: str, ansible_environment: dict[str, str]) -> None:
    completed = subprocess.run(['ansible-doc', module], env=ansible_environment, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    for section in ('OPTIONS', 'ATTRIBUTES', 'EXAMPLES', 'RETURN VALUES', MODULES[module]):
        assert section in completed.stdout, f'{module} docs lack {section}'
    assert 'ERROR' not in completed.stderr
