"""Module code stays within the Pythons tests/config.yml declares for managed hosts."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
MODULE_CODE = sorted(
    path for folder in ('plugins/modules', 'plugins/module_utils') for path in (REPO_ROOT / folder).rglob('*.py')
)
# Standard-library names newer than the oldest declared Python; the grammar check cannot see them.
NEWER_APIS = {
    r'\bzip\([^)]*\bstrict=': 'zip(strict=) is Python 3.10',
    r'dataclass\([^)]*\b(slots|kw_only)=': 'dataclass(slots=, kw_only=) is Python 3.10',
    r'\bt(yping)?\.(TypeAlias|ParamSpec|Concatenate|TypeGuard|Self|Never|LiteralString|assert_never)\b': 'newer typing names',
    r'\bimport tomllib\b|\bdatetime\.UTC\b|\bhashlib\.file_digest\b|\bExceptionGroup\b': 'Python 3.11 APIs',
    r'\bisinstance\([^)]*\|': 'isinstance with X | Y is Python 3.10',
    r'\bbit_count\(\)|\baiter\(|\banext\(': 'Python 3.10 builtins',
}


def _oldest_python() -> tuple[int, int]:
    config = yaml.safe_load((REPO_ROOT / 'tests' / 'config.yml').read_text(encoding='utf-8'))
    found = re.fullmatch(r'>=\s*3\.(\d+)', config['modules']['python_requires'])
    assert found, 'tests/config.yml must give modules.python_requires as >=3.N'
    return 3, int(found.group(1))


@pytest.mark.parametrize('path', MODULE_CODE, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_module_code_parses_with_the_oldest_declared_python(path: pathlib.Path) -> None:
    source = path.read_text(encoding='utf-8')
    ast.parse(source, filename=str(path), feature_version=_oldest_python())
    if source.strip() and '->' in source:
        # Annotations such as `str | None` only parse lazily before Python 3.10.
        assert 'from __future__ import annotations' in source, f'{path.name} uses annotations without the __future__ import'
    for pattern, why in NEWER_APIS.items():
        assert not re.search(pattern, source), f'{path.name}: {why}'
