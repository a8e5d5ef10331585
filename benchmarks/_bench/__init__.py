"""Code shared by the benchmark scripts in ``benchmarks/`` (``transfer.py``, ``hosts.py``). Not shipped, not a test.

Import it from a script in ``benchmarks/`` (the script's directory is on ``sys.path`` when run as a file)::

    from _bench import (REPO, BIN, Workspace, LoopbackRegistry, AccessLog, Measurement, run_measured, timed,
                        alternate, summarize, ratio, print_table, merge_results, machine_info, ansible_environment,
                        harness_module)

    harness_module('envoy')  # after this, ``from harness.envoy import Envoy`` works too

Modules:

* ``_bench.environment`` -- ``REPO``, ``BIN``, ``ansible_environment()``, ``machine_info()``, ``harness_module()``
  (``harness_module('registries')``: the integration harness, with tests/integration put on sys.path), ``Workspace``
  (a temporary directory plus the things to stop, closed once, also at exit and on SIGTERM).
* ``_bench.registry``    -- ``LoopbackRegistry.start()`` (CNCF Distribution through the integration harness's
  ``start_registry``) and ``AccessLog`` (requests and bytes counted from the registry's access log, between marks).
* ``_bench.timing``      -- ``Measurement`` (wall seconds and peak RSS of one run), ``run_measured()`` (one
  subprocess, timed, with its own peak RSS from ``wait4``), ``alternate()`` (A B A B after warm-ups),
  ``summarize()`` (median, min, max, samples), ``ratio()``.
* ``_bench.report``      -- ``print_table()`` (aligned text table) and ``merge_results()`` (replace only one top-level
  key of ``benchmarks/results.json``: ``"transfer"``, ``"hosts"``, ...).
* ``_bench.wasm``        -- ``custom_section()`` and ``leb128()``: modules of a given size, new blobs of one filter.
"""

from __future__ import annotations

from .environment import BIN, REPO, Workspace, ansible_environment, harness_module, machine_info
from .registry import AccessEntry, AccessLog, LoopbackRegistry
from .report import format_table, merge_results, print_table
from .timing import MeasuredProcess, Measurement, alternate, ratio, run_measured, summarize, timed
from .wasm import WASM_HEADER, custom_section, leb128

__all__ = [
    'WASM_HEADER',
    'custom_section',
    'leb128',
    'BIN',
    'REPO',
    'AccessEntry',
    'AccessLog',
    'LoopbackRegistry',
    'MeasuredProcess',
    'Measurement',
    'Workspace',
    'alternate',
    'ansible_environment',
    'format_table',
    'harness_module',
    'machine_info',
    'merge_results',
    'print_table',
    'ratio',
    'run_measured',
    'summarize',
    'timed',
]
