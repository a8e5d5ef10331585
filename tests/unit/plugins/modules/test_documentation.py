"""The modules document the one ``image`` structure exactly as docs/image-return.yml defines it."""

from __future__ import annotations

import ast
import pathlib

import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[4]
MODULES = sorted((REPO_ROOT / 'plugins' / 'modules').glob('*.py'))
# Every module that reads an image returns it; signing reads only the image's digest and its signatures, and copying
# moves the image's bytes without reading them as a Wasm image.
IMAGE_MODULES = [path for path in MODULES if path.stem.startswith('wasm_image_') and path.stem not in ('wasm_image_sign', 'wasm_image_copy')]


def _module_constant(path: pathlib.Path, name: str) -> str:
    for node in ast.parse(path.read_text(encoding='utf-8')).body:
        if isinstance(node, ast.Assign) and any(getattr(target, 'id', None) == name for target in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f'{path.name} has no {name}')


def _without_returned(documentation: dict) -> dict:
    return {key: value for key, value in documentation.items() if key != 'returned'}


@pytest.mark.parametrize('module_path', IMAGE_MODULES, ids=lambda path: path.stem)
def test_image_return_value_is_the_shared_definition(module_path: pathlib.Path) -> None:
    shared = yaml.safe_load((REPO_ROOT / 'docs' / 'image-return.yml').read_text(encoding='utf-8'))['image']
    documented = yaml.safe_load(_module_constant(module_path, 'RETURN'))['image']
    assert _without_returned(documented) == _without_returned(shared)


def test_pull_and_info_document_their_signatures_alike() -> None:
    documented = [yaml.safe_load(_module_constant(REPO_ROOT / 'plugins' / 'modules' / f'{name}.py', 'RETURN'))['signatures']
                  for name in ('wasm_image_pull', 'wasm_image_info')]
    assert documented[0] == documented[1]


def test_the_registry_group_holds_exactly_the_modules_with_the_registry_options() -> None:
    runtime = yaml.safe_load((REPO_ROOT / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))
    with_registry_options = [path.stem for path in MODULES if 'registry_argument_spec()' in path.read_text(encoding='utf-8')]
    assert sorted(runtime['action_groups']) == ['registry']
    assert sorted(runtime['action_groups']['registry']) == with_registry_options
    for path in MODULES:
        documentation = yaml.safe_load(_module_constant(path, 'DOCUMENTATION'))
        in_group = 'wasm.oci.attributes.actiongroup_registry' in documentation['extends_documentation_fragment']
        assert in_group == (path.stem in with_registry_options), path.stem
