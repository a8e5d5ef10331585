"""docs/troubleshooting.md quotes messages the code still gives, so a user who searches for one finds its entry.

The first cell of each table row quotes the stable parts of a message in backticks. Each part must occur in one
string literal of plugins/ (an f-string's literal text counts, placeholders split it), or in the text of the role
or of a shipped playbook, whose messages are YAML.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import re

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = REPO_ROOT / 'docs' / 'troubleshooting.md'
# A table row's first cell, and the backticked parts in it.
_FIRST_CELL = re.compile(r'^\| (.+?) \| ', re.MULTILINE)
_QUOTED = re.compile(r'`([^`]+)`')


def quoted_messages() -> list[str]:
    page = PAGE.read_text(encoding='utf-8')
    cells = [cell for cell in _FIRST_CELL.findall(page) if cell.startswith('`')]
    return [fragment for cell in cells for fragment in _QUOTED.findall(cell)]


@functools.cache
def message_texts() -> str:
    """Every text a message can come from, NUL-separated so that no fragment spans two of them.

    The string constants of plugins/, the literal parts of f-strings included (ast joins implicit concatenation),
    and the role's and the playbooks' files, with YAML's folded lines joined back into one line of words.
    """
    texts = []
    for path in sorted((REPO_ROOT / 'plugins').rglob('*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        texts.extend(node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str))
    yaml_files = sorted((REPO_ROOT / 'roles').rglob('*.yml')) + sorted((REPO_ROOT / 'playbooks').rglob('*.yml'))
    texts.extend(' '.join(path.read_text(encoding='utf-8').split()) for path in yaml_files)
    return '\0'.join(texts)


def _is_given(fragment: str) -> bool:
    return fragment in message_texts()


def test_the_page_quotes_many_messages() -> None:
    # A page that quotes (almost) nothing would pass the next test without protecting anything.
    assert len(quoted_messages()) >= 100


def test_every_quoted_message_is_still_given_by_the_code() -> None:
    missing = [fragment for fragment in quoted_messages() if not _is_given(fragment)]
    assert not missing, f'docs/troubleshooting.md quotes messages that no code gives any more: {missing}'


def test_no_message_has_two_entries() -> None:
    # Two rows for one message would give two explanations, one of them wrong for the user reading it.
    first_cells = [cell for cell in _FIRST_CELL.findall(PAGE.read_text(encoding='utf-8')) if cell.startswith('`')]
    assert len(set(first_cells)) == len(first_cells), sorted({cell for cell in first_cells if first_cells.count(cell) > 1})
