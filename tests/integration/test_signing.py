"""wasm_image_sign, and verify_keys on wasm_image_pull and wasm_image_info, against a real registry."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from harness.module_runner import publish, run_module
from harness.registries import Registry

REPOSITORY = 'filters/signed'


@pytest.fixture(scope='module')
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    directory = tmp_path_factory.mktemp('keys')
    found = {}
    for name in ('ci', 'other'):
        private, public = directory / f'{name}.pem', directory / f'{name}.pub'
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', str(private)], check=True)
        subprocess.run(['openssl', 'pkey', '-in', str(private), '-pubout', '-out', str(public)], check=True)
        found[name], found[f'{name}.pub'] = private, public
    return found


@pytest.fixture(scope='module')
def image(sample_filter: pathlib.Path, registry_plain: Registry, ansible_environment: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> str:
    publish(str(sample_filter), 'v1', f'{registry_plain.host}/{REPOSITORY}', ansible_environment, str(tmp_path_factory.mktemp('published')))
    return f'{registry_plain.host}/{REPOSITORY}:v1'


def test_sign_then_pull_verifies(image: str, keys: dict[str, pathlib.Path], ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    signed = run_module('wasm_image_sign', {'name': image, 'key': str(keys['ci']), 'plain_http': True, 'annotations': {'ci': '1'}},
                        ansible_environment, diff=True)
    assert signed['changed'] and not signed['failed'], signed
    again = run_module('wasm_image_sign', {'name': image, 'key': str(keys['ci']), 'plain_http': True, 'annotations': {'ci': '1'}},
                       ansible_environment)
    assert not again['changed'] and not again['failed'], again
    pulled = run_module('wasm_image_pull', {'name': image, 'dest': str(tmp_path / 'f.wasm'), 'plain_http': True,
                                            'verify_keys': [str(keys['ci.pub'])], 'verify_identity': True}, ansible_environment)
    assert pulled['changed'] and pulled['signatures'][0]['annotations'] == {'ci': '1'}, pulled
    refused = run_module('wasm_image_info', {'name': image, 'plain_http': True, 'verify_keys': [str(keys['other.pub'])]},
                         ansible_environment)
    assert refused['failed'] and 'wrong key' in refused['msg'], refused
