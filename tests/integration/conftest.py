"""Fixtures for the integration suite: real tools, real files, playbooks run by ansible-playbook."""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

import pytest

# Before the harness is imported, so that its asserts report as the tests' do.
pytest.register_assert_rewrite('harness')

from harness.envoy import NEWER_HOST_FILTER, envoy_binary_path, wat2wasm  # noqa: E402
from harness.fleet import fleet  # noqa: E402,F401  (the fleet fixture)  pylint: disable=unused-import
from harness.registries import *  # noqa: E402,F403  (registry fixtures)  # pylint: disable=wildcard-import,unused-wildcard-import

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


@pytest.fixture(scope='module')
def envoy_binary() -> pathlib.Path:
    return envoy_binary_path()


@pytest.fixture
def modules(sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    """v1 and v2 of the sample filter; a proxy-wasm module that needs a host function Envoy 1.40 lacks, which Envoy
    rejects when it loads it; and a valid Wasm module that is no proxy-wasm filter, which the collection refuses itself."""
    wasm_dir = tmp_path / 'wasm'
    wasm_dir.mkdir()
    copies = {name: wasm_dir / f'{name}.wasm' for name in ('v1', 'v2')}
    shutil.copyfile(sample_filter, copies['v1'])
    shutil.copyfile(sample_filter_v2, copies['v2'])
    return {
        **copies,
        'newer_host': wat2wasm(NEWER_HOST_FILTER, wasm_dir / 'newer_host.wasm'),
        'empty': wat2wasm('(module)\n', wasm_dir / 'empty.wasm'),
    }
