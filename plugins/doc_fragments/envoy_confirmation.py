# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """How Envoy confirms a change: the options of every module that changes an Envoy (confirmation_argument_spec())."""

    DOCUMENTATION = r"""
options:
  admin_address:
    description:
      - IP address and port of Envoy's admin interface. A managed bootstrap gets it; a user-owned one must name it.
    type: str
    default: 127.0.0.1:9901
  verify_timeout:
    description: Seconds to wait for Envoy to apply or reject each file.
    type: float
    default: 15
  health_check:
    description: A request that must succeed once Envoy applied the changes; otherwise they are undone.
    type: dict
    suboptions:
      url:
        description: URL to request. Redirects are not followed.
        type: str
        required: true
      status:
        description: Expected HTTP status.
        type: int
        default: 200
      headers:
        description: Response headers that must have exactly these values.
        type: dict
        default: {}
      timeout:
        description: Seconds to keep trying.
        type: float
        default: 10
"""
