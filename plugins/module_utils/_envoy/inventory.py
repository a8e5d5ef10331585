# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Transitional: delete this file once rollback.py imports FilterFile and read_filter_file from host_filters.

What was here now lives in host_filters (the host's ECDS files), envoy_view (Envoy's admin interface) and drift
(the verdicts and the table).
"""

from __future__ import annotations

from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_filters import FilterFile, read_filter_file

__all__ = ['FilterFile', 'read_filter_file']
