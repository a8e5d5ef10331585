"""Text tables for the terminal, and ``benchmarks/results.json``, which several scripts share."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import typing as t


def format_table(header: t.Sequence[str], rows: t.Iterable[t.Sequence[object]], *, title: str = '') -> str:
    """An aligned table: the first column left-aligned, the others right-aligned; cells are ``str()``-ed
    (format numbers before). A row of one cell is printed as-is (a sub-heading or note)."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(cell) for cell in header]
    for row in rows:
        if len(row) == len(header):
            widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: t.Sequence[str]) -> str:
        if len(cells) != len(header):
            return '  '.join(cells)
        return '  '.join(cell.ljust(width) if index == 0 else cell.rjust(width) for index, (cell, width) in enumerate(zip(cells, widths, strict=True))).rstrip()

    lines = [title] if title else []
    lines += [line(header), '  '.join('-' * width for width in widths)]
    lines += [line(row) for row in rows]
    return '\n'.join(lines)


def print_table(header: t.Sequence[str], rows: t.Iterable[t.Sequence[object]], *, title: str = '') -> None:
    """``print(format_table(...))`` followed by a blank line."""
    print(format_table(header, rows, title=title), end='\n\n', flush=True)


def merge_results(path: pathlib.Path, key: str, value: t.Any) -> None:
    """Set ``results[key] = value`` in the JSON object at ``path`` and keep every other top-level key as it is
    (``"transfer"`` belongs to transfer.py, ``"hosts"`` to hosts.py). A missing or unreadable file starts empty.
    The file is replaced atomically, so two scripts never see half a file (run them one after the other anyway:
    the last writer of the whole object wins)."""
    try:
        results = json.loads(path.read_text(encoding='utf-8'))
        if not isinstance(results, dict):
            results = {}
    except (OSError, ValueError):
        results = {}
    results[key] = value
    handle, temporary = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            json.dump(results, stream, indent=2, sort_keys=False)
            stream.write('\n')
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise
