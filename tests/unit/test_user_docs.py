"""README.md and docs/*.md name only what exists: files, links, modules, role variables and module options.

The guide is read by people who copy from it. A renamed option or file must fail here, not in their playbook.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pathlib
import re
import typing as t

import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = [REPO_ROOT / 'README.md', *sorted((REPO_ROOT / 'docs').glob('*.md'))]
PAGE_IDS = [str(page.relative_to(REPO_ROOT)) for page in PAGES]
MODULES_DIR = REPO_ROOT / 'plugins' / 'modules'
ROLE_DIR = REPO_ROOT / 'roles' / 'envoy_filter'

# Repository paths in backticks: under one of the collection's or the repository's top-level directories.
_REPO_PATH = re.compile(r'`((?:plugins|roles|playbooks|meta|docs|tests|examples|benchmarks|changelogs)/[^`\s<>*]*)`')
_TOP_LEVEL_FILES = ('requirements.txt', 'bindep.txt', 'galaxy.yml', 'Makefile')
_LINK = re.compile(r'\]\(([^)\s]+)\)')
_FQCN = re.compile(r'(?<![\w/.-])wasm\.oci\.(\w+)')
_ROLE_VARIABLE = re.compile(r'\benvoy_filter_\w+')
_YAML_BLOCK = re.compile(r'^( *)```yaml\n(.*?)^\1```', re.MULTILINE | re.DOTALL)


def _page_text(page: pathlib.Path) -> str:
    return page.read_text(encoding='utf-8')


@pytest.mark.parametrize('page', PAGES, ids=PAGE_IDS)
def test_every_cited_repository_path_exists(page: pathlib.Path) -> None:
    text = _page_text(page)
    cited = set(_REPO_PATH.findall(text)) | {name for name in _TOP_LEVEL_FILES if f'`{name}`' in text}
    missing = sorted(path for path in cited if not (REPO_ROOT / path.rstrip('/')).exists())
    assert not missing, f'{page.relative_to(REPO_ROOT)} cites paths that do not exist: {missing}'


@pytest.mark.parametrize('page', PAGES, ids=PAGE_IDS)
def test_every_relative_link_resolves(page: pathlib.Path) -> None:
    links = [link.split('#', 1)[0] for link in _LINK.findall(_page_text(page)) if '://' not in link and not link.startswith('#')]
    missing = sorted({link for link in links if link and not (page.parent / link).exists()})
    assert not missing, f'{page.relative_to(REPO_ROOT)} links to files that do not exist: {missing}'


@functools.cache
def _fqcn_targets() -> frozenset[str]:
    """What wasm.oci.<name> may name: a module, the role, a shipped playbook, a doc fragment or the action group."""
    names = {path.stem for path in MODULES_DIR.glob('*.py')}
    names |= {path.name for path in (REPO_ROOT / 'roles').iterdir() if path.is_dir()}
    names |= {path.stem for path in (REPO_ROOT / 'playbooks').glob('*.yml')}
    names |= {path.stem for path in (REPO_ROOT / 'plugins' / 'doc_fragments').glob('*.py')}
    runtime = yaml.safe_load((REPO_ROOT / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))
    names |= set(runtime.get('action_groups', {}))
    return frozenset(names)


@pytest.mark.parametrize('page', PAGES, ids=PAGE_IDS)
def test_every_wasm_oci_name_exists(page: pathlib.Path) -> None:
    unknown = sorted(set(_FQCN.findall(_page_text(page))) - _fqcn_targets())
    assert not unknown, f'{page.relative_to(REPO_ROOT)} names wasm.oci.<name> that the collection does not have: {unknown}'


@functools.cache
def _role_options() -> dict[str, t.Any]:
    specs = yaml.safe_load((ROLE_DIR / 'meta' / 'argument_specs.yml').read_text(encoding='utf-8'))
    return specs['argument_specs']['main']['options']


@functools.cache
def _role_words() -> frozenset[str]:
    """Every envoy_filter_* name the role and the playbooks use: its options, and what its tasks register or set."""
    files = [*ROLE_DIR.rglob('*.yml'), *(REPO_ROOT / 'playbooks').glob('*.yml')]
    return frozenset(word for path in files for word in _ROLE_VARIABLE.findall(path.read_text(encoding='utf-8')))


@pytest.mark.parametrize('page', PAGES, ids=PAGE_IDS)
def test_every_role_variable_exists(page: pathlib.Path) -> None:
    unknown = sorted(set(_ROLE_VARIABLE.findall(_page_text(page))) - _role_words())
    assert not unknown, f'{page.relative_to(REPO_ROOT)} names role variables the role does not have: {unknown}'


def _module_documentation(module: str) -> dict[str, t.Any]:
    for node in ast.parse((MODULES_DIR / f'{module}.py').read_text(encoding='utf-8')).body:
        if isinstance(node, ast.Assign) and any(getattr(target, 'id', None) == 'DOCUMENTATION' for target in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(f'{module} has no DOCUMENTATION')


def _fragment_options(fragment: str) -> dict[str, t.Any]:
    """The options of a doc fragment named as extends_documentation_fragment names it."""
    if fragment.startswith('ansible.builtin.'):
        namespace, attribute = f'ansible.plugins.doc_fragments.{fragment.split(".")[2]}', 'DOCUMENTATION'
    else:
        parts = fragment.split('.')
        namespace = f'ansible_collections.wasm.oci.plugins.doc_fragments.{parts[2]}'
        attribute = parts[3].upper() if len(parts) > 3 else 'DOCUMENTATION'
    documentation = getattr(importlib.import_module(namespace).ModuleDocFragment, attribute)
    return (yaml.safe_load(documentation) or {}).get('options') or {}


@functools.cache
def _module_options(module: str) -> dict[str, t.Any]:
    documentation = _module_documentation(module)
    options: dict[str, t.Any] = {}
    for fragment in documentation.get('extends_documentation_fragment') or []:
        options.update(_fragment_options(fragment))
    for name, spec in (documentation.get('options') or {}).items():
        options[name] = {**options.get(name, {}), **spec}
    return options


def _unknown_keys(given: dict[str, t.Any], options: dict[str, t.Any], where: str) -> list[str]:
    """Keys of ``given`` that ``options`` does not document (aliases count), and so on into documented suboptions."""
    names = {alias: name for name, spec in options.items() for alias in [name, *(spec or {}).get('aliases', [])]}
    unknown = []
    for key, value in given.items():
        if key not in names:
            unknown.append(f'{where}: {key}')
            continue
        suboptions = (options[names[key]] or {}).get('suboptions') or (options[names[key]] or {}).get('options')
        items = value if isinstance(value, list) else [value]
        for item in items:
            if suboptions and isinstance(item, dict):
                unknown.extend(_unknown_keys(item, suboptions, f'{where}.{key}'))
    return unknown


def _mappings(document: t.Any) -> t.Iterator[dict[str, t.Any]]:
    if isinstance(document, dict):
        yield document
        children: t.Iterable[t.Any] = document.values()
    elif isinstance(document, list):
        children = document
    else:
        return
    for child in children:
        yield from _mappings(child)


def _misnamed_in(document: t.Any) -> list[str]:
    """Module arguments, role variables and registry defaults in a YAML example that the collection does not take."""
    modules = {path.stem for path in MODULES_DIR.glob('*.py')}
    unknown = []
    for mapping in _mappings(document):
        for key, value in mapping.items():
            if not isinstance(key, str):
                continue
            module = key[len('wasm.oci.'):] if key.startswith('wasm.oci.') else None
            if module in modules and isinstance(value, dict):
                unknown.extend(_unknown_keys(value, _module_options(module), key))
            elif key == 'group/wasm.oci.registry' and isinstance(value, dict):
                unknown.extend(_unknown_keys(value, _fragment_options('wasm.oci.registry'), key))
            elif key.startswith('envoy_filter_'):
                unknown.extend(_unknown_keys({key: value}, _role_options(), 'role'))
    return unknown


def _dedented(body: str, indent: str) -> str:
    """A fenced block inside a list item is indented with the item; its YAML starts at the fence's column."""
    return '\n'.join(line[len(indent):] if line.startswith(indent) else line for line in body.splitlines())


@pytest.mark.parametrize('page', PAGES, ids=PAGE_IDS)
def test_yaml_examples_parse_and_use_only_real_options(page: pathlib.Path) -> None:
    blocks = [_dedented(body, indent) for indent, body in _YAML_BLOCK.findall(_page_text(page))]
    unknown = []
    for number, block in enumerate(blocks, start=1):
        try:
            document = yaml.safe_load(block)
        except yaml.YAMLError as exc:
            pytest.fail(f'{page.relative_to(REPO_ROOT)}: YAML example {number} does not parse: {exc}')
        unknown.extend(f'example {number}, {where}' for where in _misnamed_in(document))
    assert not unknown, f'{page.relative_to(REPO_ROOT)} uses options that do not exist: {unknown}'


def test_the_checks_see_the_examples() -> None:
    # Guards the regular expressions above: the guide's pages must yield YAML examples and role variables to check.
    rollout = _page_text(REPO_ROOT / 'docs' / 'rollout.md')
    assert len(_YAML_BLOCK.findall(rollout)) >= 2
    assert 'envoy_filter_filters' in _ROLE_VARIABLE.findall(rollout)
    assert _misnamed_in(yaml.safe_load('- wasm.oci.wasm_image_pull: {name: x, dest: y, no_such_option: 1}'))
    assert _misnamed_in(yaml.safe_load('envoy_filter_filters: [{name: x, no_such_key: 1}]'))
    assert not _misnamed_in(yaml.safe_load('- wasm.oci.wasm_image_pull: {name: x, dest: y, tls_verify: false, mode: "0644"}'))
