"""The release as a user meets it (issue 13): the Galaxy tarball built from a work tree full of development
leftovers, installed into a fresh path and run from there by its FQCNs, and the execution environment that
ansible-builder makes from the dependencies the collection declares.

The tarball is built from a copy of the work tree (the files git tracks or would add) with leftovers planted in
it, so the real tree is never touched and every kind of leftover is there whatever the developer's tree holds.
The installed copy runs with an environment that names no path of the work tree: no PYTHONPATH, no ANSIBLE_*
of the suite (which point at .build/linked), collections only from the fresh path, and Ansible's output names the
module files it used.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = pathlib.Path(__file__).parent / 'release' / 'installed_collection.yml'
TIMEOUT = 180

# The smallest valid Wasm module: what a compiled filter left in the tree looks like to a glob.
EMPTY_WASM = b'\0asm\x01\0\0\0'
# What a developer's work tree holds beside the collection's own files, none of which may reach the tarball.
LEFTOVERS = (
    '.venv/lib/python3.11/site-packages/leftover.py',
    '.build/linked/leftover.txt',
    '.build/filters/add_header.wasm',
    '.ci/leftover.log',
    'tests/output/junit/leftover.xml',
    'examples/filters/add_header/filter.wasm',
    'leftover.wasm',
    'plugins/modules/__pycache__/wasm_image_build.cpython-311.pyc',
    'plugins/module_utils/leftover.pyc',
    '.mypy_cache/3.11/leftover.json',
    'plugins/module_utils/.mypy_cache/leftover.json',
    '.ruff_cache/0.17.6/leftover',
    '.pytest_cache/v/cache/lastfailed',
    'tests/integration/.pytest_cache/v/cache/lastfailed',
    '.hypothesis/examples/leftover',
    'tests/unit/.hypothesis/examples/leftover',
    '.ansible/collections/leftover',
    'roles/envoy_filter/.ansible/leftover',
    'benchmarks/results.json',
    'wasm-oci-0.1.0.tar.gz',
    'dist/leftover-1.0.0.tar.gz',
)
# A tarball member that is build output, test output, a cache, a compiled module or a development tool.
NOT_SHIPPED = re.compile(
    r'(^|/)(\.venv|\.build|\.mypy_cache|\.ruff_cache|\.pytest_cache|\.hypothesis|\.ansible|__pycache__)(/|$)'
    r'|^(\.ci|benchmarks|tests/output)(/|$)'
    r'|\.(wasm|pyc|tar\.gz)$'
)
# Files ansible-galaxy writes into every tarball, and the one it reads instead of shipping.
GALAXY_WRITES = {'MANIFEST.json', 'FILES.json'}
GALAXY_READS = {'galaxy.yml'}

# Import names whose distribution is named otherwise.
DISTRIBUTION_OF_IMPORT = {'yaml': 'PyYAML'}
# Modules the code imports that are in the standard library of a newer Python than this one (compression.zstd, 3.14).
NEWER_STANDARD_LIBRARY = {'compression'}
# ansible-builder leaves these out of a collection's requirements: every EE has them (ansible-core needs PyYAML).
BUILDER_LEAVES_OUT = {'pyyaml'}


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=TIMEOUT, **kwargs)  # type: ignore[call-overload]
    assert completed.returncode == 0, f'{" ".join(command)} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}'
    return completed


def _tool(name: str) -> str:
    """A tool beside the test Python (the venv), else the one on PATH."""
    sibling = pathlib.Path(sys.executable).parent / name
    return str(sibling) if sibling.is_file() else shutil.which(name) or name


def _work_tree_files() -> list[str]:
    """The files of the work tree that git tracks or would add (not ignored), as a fresh clone plus new work has them."""
    listed = _run(['git', '-C', str(REPO_ROOT), 'ls-files', '-z', '--cached', '--others', '--exclude-standard']).stdout
    # A tracked file deleted in the work tree is still listed until the deletion is committed.
    return sorted(path for path in set(listed.split('\0')) if path and (REPO_ROOT / path).is_file())


def _requirement_names(lines: list[str]) -> set[str]:
    """The canonical distribution names of requirement lines, comments (also ansible-builder's) left out."""
    names = set()
    for line in lines:
        text = re.sub(r'(^|\s+)#.*$', '', line).strip()
        if text:
            names.add(canonicalize_name(Requirement(text).name))
    return names


def _bindep_entries(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith('#')]


def _imported_distributions(plugins: pathlib.Path) -> set[str]:
    """The third-party distributions the plugins import, by reading every import statement of every file."""
    found = set()
    for path in plugins.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                if top in sys.stdlib_module_names or top in NEWER_STANDARD_LIBRARY or top in ('ansible', 'ansible_collections'):
                    continue
                found.add(canonicalize_name(DISTRIBUTION_OF_IMPORT.get(top, top)))
    return found


def _environment_finding_collections_only_in(collections: pathlib.Path) -> dict[str, str]:
    """The environment of an Ansible command that finds collections in ``collections`` only, never in the work tree."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith('ANSIBLE_') and name != 'PYTHONPATH'}
    environment.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        # Nor through sys.path, where the suite's PYTHONPATH puts .build/linked (ansible-galaxy would take the
        # collection there for installed already).
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_LOCALHOST_WARNING='0',
        ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
    )
    return environment


@pytest.fixture(scope='module')
def collection_tree(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A copy of the work tree as a developer has it: the collection's files and every kind of leftover."""
    tree = tmp_path_factory.mktemp('tree') / 'wasm.oci'
    for path in _work_tree_files():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / path, tree / path)
    for path in LEFTOVERS:
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(EMPTY_WASM if path.endswith('.wasm') else b'leftover\n')
    return tree


@pytest.fixture(scope='module')
def tarball(collection_tree: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    output = tmp_path_factory.mktemp('dist')
    _run([_tool('ansible-galaxy'), 'collection', 'build', str(collection_tree), '--output-path', str(output)],
         env=_environment_finding_collections_only_in(output))
    version = yaml.safe_load((collection_tree / 'galaxy.yml').read_text(encoding='utf-8'))['version']
    built = output / f'wasm-oci-{version}.tar.gz'
    assert built.is_file(), sorted(output.iterdir())
    return built


@pytest.fixture(scope='module')
def shipped_files(tarball: pathlib.Path) -> set[str]:
    with tarfile.open(tarball) as archive:
        return {member.name for member in archive.getmembers() if member.isfile()}


@pytest.fixture(scope='module')
def installed(tarball: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh collections path holding only the collection installed from the tarball."""
    collections = tmp_path_factory.mktemp('installed')
    _run([_tool('ansible-galaxy'), 'collection', 'install', '--offline', str(tarball), '-p', str(collections)],
         env=_environment_finding_collections_only_in(collections))
    assert (collections / 'ansible_collections' / 'wasm' / 'oci' / 'MANIFEST.json').is_file()
    return collections


@pytest.fixture(scope='module')
def installed_environment(installed: pathlib.Path) -> dict[str, str]:
    return _environment_finding_collections_only_in(installed)


def test_the_tarball_holds_no_build_output_test_output_cache_compiled_wasm_or_development_tool(shipped_files: set[str]) -> None:
    assert sorted(path for path in shipped_files if NOT_SHIPPED.search(path)) == []


def test_the_tarball_holds_every_other_file_of_the_tree(collection_tree: pathlib.Path, shipped_files: set[str]) -> None:
    tree_files = {path.relative_to(collection_tree).as_posix() for path in collection_tree.rglob('*') if path.is_file()}
    expected = {path for path in tree_files if not NOT_SHIPPED.search(path)} - GALAXY_READS | GALAXY_WRITES
    assert shipped_files == expected
    # What a user and ansible-builder read from an installed collection.
    assert {'README.md', 'CHANGELOG.md', 'changelogs/changelog.yaml', 'requirements.txt', 'bindep.txt',
            'meta/execution-environment.yml', 'meta/runtime.yml'} <= shipped_files


def test_the_installed_collection_runs_by_its_fqcns(installed: pathlib.Path, installed_environment: dict[str, str],
                                                    sample_filter: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # Run from a directory of its own, so that nothing beside the playbook can offer a collection.
    playbook = tmp_path / PLAYBOOK.name
    shutil.copyfile(PLAYBOOK, playbook)
    module = sample_filter.read_bytes()
    pulled = tmp_path / 'pulled.wasm'
    extra_vars = {'module_path': str(sample_filter), 'module_digest': f'sha256:{hashlib.sha256(module).hexdigest()}',
                  'layout_path': str(tmp_path / 'layout'), 'pulled_path': str(pulled)}
    # Pipelining runs each module in one process instead of copying it to a temporary directory first.
    completed = _run([_tool('ansible-playbook'), '-vvv', '-i', 'localhost,', str(playbook), '-e', json.dumps(extra_vars)],
                     env={**installed_environment, 'ANSIBLE_PIPELINING': '1'}, cwd=tmp_path)
    assert pulled.read_bytes() == module
    # At -vvv Ansible names the file of every module it runs.
    used = set(re.findall(r'Using module file (\S+)', completed.stdout))
    modules = installed / 'ansible_collections' / 'wasm' / 'oci' / 'plugins' / 'modules'
    assert used == {str(modules / f'{name}.py') for name in ('wasm_image_build', 'wasm_image_info', 'wasm_image_pull')}, \
        completed.stdout


def test_the_installed_collection_documents_its_modules(installed: pathlib.Path, installed_environment: dict[str, str],
                                                        tmp_path: pathlib.Path) -> None:
    completed = _run([_tool('ansible-doc'), 'wasm.oci.wasm_image_pull'], env=installed_environment, cwd=tmp_path)
    header = completed.stdout.splitlines()[0]
    assert str(installed / 'ansible_collections' / 'wasm' / 'oci' / 'plugins' / 'modules' / 'wasm_image_pull.py') in header
    for section in ('OPTIONS', 'EXAMPLES', 'RETURN VALUES'):
        assert section in completed.stdout


def test_the_installed_playbooks_and_role_load_by_fqcn(installed: pathlib.Path, installed_environment: dict[str, str],
                                                       tmp_path: pathlib.Path) -> None:
    playbooks = ('wasm.oci.canary', 'wasm.oci.fleet_status', 'wasm.oci.rollback')
    completed = _run([_tool('ansible-playbook'), '--syntax-check', '-i', 'localhost,', *playbooks], env=installed_environment, cwd=tmp_path)
    loaded = re.findall(r'^playbook: (\S+)$', completed.stdout, flags=re.MULTILINE)
    shipped = installed / 'ansible_collections' / 'wasm' / 'oci' / 'playbooks'
    assert loaded == [str(shipped / f'{name.rsplit(".", 1)[1]}.yml') for name in playbooks]


def test_the_declared_python_packages_are_exactly_those_the_modules_import(installed: pathlib.Path) -> None:
    collection = installed / 'ansible_collections' / 'wasm' / 'oci'
    imported = _imported_distributions(collection / 'plugins')
    assert {'requests', 'cryptography'} <= imported  # the scan sees the imports at all
    declared = (collection / 'requirements.txt').read_text(encoding='utf-8').splitlines()
    assert _requirement_names(declared) == imported


def test_ansible_builder_finds_the_collections_dependencies(installed: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """What an EE build does with every collection it installs: ansible-builder's introspection of the installed copy."""
    collection = installed / 'ansible_collections' / 'wasm' / 'oci'
    pip, bindep = tmp_path / 'requirements.txt', tmp_path / 'bindep.txt'
    _run([_tool('ansible-builder'), 'introspect', str(installed), '--write-pip', str(pip), '--write-bindep', str(bindep)])
    found = pip.read_text(encoding='utf-8').splitlines()
    assert all(line.endswith('# from collection wasm.oci') for line in found), found
    assert _requirement_names(found) == _imported_distributions(collection / 'plugins') - BUILDER_LEAVES_OUT
    system = [re.sub(r'\s+# from collection wasm\.oci$', '', line) for line in _bindep_entries(bindep.read_text(encoding='utf-8'))]
    assert system == _bindep_entries((collection / 'bindep.txt').read_text(encoding='utf-8'))
    assert system  # the EE gets system packages at all


def test_ansible_builder_creates_the_execution_environment(installed: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """meta/execution-environment.yml as a whole definition: its paths are relative to the collection's root, so it is
    used from a directory that holds it beside requirements.txt and bindep.txt, as the collection's root does."""
    collection = installed / 'ansible_collections' / 'wasm' / 'oci'
    definition_dir = tmp_path / 'definition'
    definition_dir.mkdir()
    shutil.copyfile(collection / 'meta' / 'execution-environment.yml', definition_dir / 'execution-environment.yml')
    for name in ('requirements.txt', 'bindep.txt'):
        shutil.copyfile(collection / name, definition_dir / name)
    context = tmp_path / 'context'
    _run([_tool('ansible-builder'), 'create', '-f', str(definition_dir / 'execution-environment.yml'), '-c', str(context),
          '--output-filename', 'Containerfile'])
    python = (context / '_build' / 'requirements.txt').read_text(encoding='utf-8').splitlines()
    assert _requirement_names(python) == _imported_distributions(collection / 'plugins')
    assert (context / '_build' / 'bindep.txt').read_bytes() == (collection / 'bindep.txt').read_bytes()
    definition = yaml.safe_load((collection / 'meta' / 'execution-environment.yml').read_text(encoding='utf-8'))
    containerfile = (context / 'Containerfile').read_text(encoding='utf-8')
    assert f'ARG EE_BASE_IMAGE="{definition["images"]["base_image"]["name"]}"' in containerfile
    assert '--user-pip=requirements.txt --user-bindep=bindep.txt' in containerfile
