# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""PyYAML, the managed host's optional package for reading a YAML bootstrap (in envoy_wasm_filters), imported here and
nowhere else (see _registry/optional_requests.py for why each optional package has a file of its own). PyYAML ships no
types, so yaml is Any to mypy."""

from __future__ import annotations

try:
    import yaml
except ImportError:
    yaml = None
    HAS_YAML = False
else:
    HAS_YAML = True

__all__ = ['HAS_YAML', 'yaml']
