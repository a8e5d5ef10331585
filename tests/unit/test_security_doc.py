"""docs/security.md names, for each promise, tests that exist."""

from __future__ import annotations

import pathlib
import re

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _test_sources() -> str:
    return '\n'.join(path.read_text(encoding='utf-8') for path in (REPO_ROOT / 'tests').rglob('test_*.py'))


def test_every_test_the_security_page_cites_exists() -> None:
    page = (REPO_ROOT / 'docs' / 'security.md').read_text(encoding='utf-8')
    cited_files = set(re.findall(r'`(?:[\w/]+/)?(test_\w+\.py)', page))
    cited_tests = set(re.findall(r'(?<![\w.])(test_\w+)(?![\w.])', page)) - {name[:-3] for name in cited_files}
    assert cited_tests, 'docs/security.md cites no test'
    existing_files = {path.name for path in (REPO_ROOT / 'tests').rglob('test_*.py')}
    assert cited_files <= existing_files, f'cited test files that do not exist: {sorted(cited_files - existing_files)}'
    sources = _test_sources()
    missing = sorted(name for name in cited_tests if not re.search(rf'\bdef {name}\(', sources))
    assert not missing, f'docs/security.md cites tests that do not exist: {missing}'
