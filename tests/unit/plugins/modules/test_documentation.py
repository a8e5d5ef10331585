"""The modules document the one ``image`` structure exactly as docs/image-return.yml defines it."""

from __future__ import annotations

import ast
import pathlib

import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[4]
MODULES = sorted((REPO_ROOT / 'plugins' / 'modules').glob('*.py'))
IMAGE_MODULES = [path for path in MODULES if path.stem.startswith('wasm_image_')]


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


def test_every_module_is_in_the_action_group() -> None:
    runtime = yaml.safe_load((REPO_ROOT / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))
    assert sorted(runtime['action_groups']['wasm']) == [path.stem for path in MODULES]
