# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""What one filter resource says about its Wasm filter: its type, its plugin and its module.

A filter resource is the ``{name, typed_config}`` mapping both an ECDS file and a listener hold, so the host's files
and Envoy's answers are read the same way. Every function takes what it is given, however malformed, and answers
None rather than failing: the files and answers read here were written by others.
"""

from __future__ import annotations

import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import WASM_TYPE_URLS, module_files

_WASM_TYPES = {url: filter_type for filter_type, url in WASM_TYPE_URLS.items()}


def wasm_filter_type(resource: dict[str, t.Any] | None) -> str | None:
    """``http`` or ``network`` for a Wasm filter; None for any other filter."""
    typed_config = (resource or {}).get('typed_config')
    type_url = typed_config.get('@type') if isinstance(typed_config, dict) else None
    return _WASM_TYPES.get(type_url) if isinstance(type_url, str) else None


def _plugin_config(resource: dict[str, t.Any] | None) -> dict[str, t.Any]:
    typed_config = (resource or {}).get('typed_config')
    config = typed_config.get('config') if isinstance(typed_config, dict) else None
    return config if isinstance(config, dict) else {}


def plugin_name(resource: dict[str, t.Any] | None) -> str | None:
    """The name of the Wasm plugin, under which Envoy keeps its ``wasm.<plugin>.*`` stats."""
    name = _plugin_config(resource).get('name')
    return name if isinstance(name, str) and name else None


def module_file(resource: dict[str, t.Any] | None) -> str | None:
    """The local module file the Wasm plugin loads; None when it loads none from a file."""
    found = sorted(module_files(_plugin_config(resource)))
    return found[0] if found else None
