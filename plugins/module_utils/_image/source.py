# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a module's image comes from: a registry (``name``) or a local layout (``layout`` + ``tag``)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import ContentSource
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout, existing_layout
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference, validate_tag
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import registry_client
from ansible_collections.wasm.oci.plugins.module_utils._registry.source import RegistrySource


def image_source(module: AnsibleModule, missing_layout_ok: bool = False) -> ContentSource | None:
    """The image the ``name`` or ``layout`` + ``tag`` parameters name; None for a missing layout if allowed."""
    params = module.params
    tag = validate_tag(params['tag'])
    if params['name']:
        return RegistrySource(registry_client(module, parse_reference(params['name'], default_tag=tag)))
    layout = existing_layout(params['layout']) if missing_layout_ok else OciLayout(params['layout'])
    return LayoutSource(layout, tag) if layout else None
