# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Let ``envoy --mode validate`` check a managed configuration before any file is replaced.

Envoy validates static resources only and does not read LDS or CDS files, so the whole
configuration is written as one static bootstrap into a private temporary directory, with
copies of the ECDS files it names (new filters' files do not exist yet where Envoy will read them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.atomic_file import write_atomically
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths, Plan

_OUTPUT_LINES = 30
RunCommand = t.Callable[[list[str]], tuple[int, str, str]]


def validate_managed(run_command: RunCommand, envoy: str, plan: Plan, paths: Paths, parent: str | None = None) -> None:
    """Raise with Envoy's own words when it refuses the configuration ``plan`` leads to."""
    directory = tempfile.mkdtemp(prefix='envoy-validate-', dir=parent)
    try:
        bootstrap, files = plan.validation_files(directory, paths)
        for path, data in files.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomically(path, data, 0o600)
        rc, out, err = run_command([envoy, '--mode', 'validate', '--log-level', 'warn', '-c', bootstrap])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if rc != 0:
        output = '\n'.join((err + out).replace(directory + os.sep, '(candidate) ').strip().splitlines()[-_OUTPUT_LINES:])
        raise WasmOciError(f'{envoy} --mode validate refused the configuration for {paths.bootstrap} (exit {rc}); '
                           f'nothing was changed:\n{output}')
