# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Attributes shared by the collection's modules."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(diff_mode)), when in diff mode.
"""

    ACTIONGROUP_REGISTRY = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/wasm.oci.registry) in C(module_defaults) to set the registry options of every module that
      talks to a registry at once.
    support: full
    membership:
      - wasm.oci.registry
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""
