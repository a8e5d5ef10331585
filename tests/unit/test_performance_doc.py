"""docs/performance.md quotes benchmarks/results.json: its tables are what benchmarks/performance_doc.py writes from it."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import types

REPO = pathlib.Path(__file__).resolve().parents[2]


def _performance_doc() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location('performance_doc', REPO / 'benchmarks' / 'performance_doc.py')
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_holds_the_tables_of_the_results_file() -> None:
    performance_doc = _performance_doc()
    page = (REPO / 'docs' / 'performance.md').read_text(encoding='utf-8')
    results = json.loads((REPO / 'benchmarks' / 'results.json').read_text(encoding='utf-8'))
    assert [match['name'] for match in performance_doc.BLOCK.finditer(page)] == list(performance_doc.BLOCKS)
    assert performance_doc.rewritten(page, results) == page, 'run make bench, or benchmarks/performance_doc.py after editing results.json'
