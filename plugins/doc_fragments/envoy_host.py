# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Where one Envoy's files are: the options of every module that changes an Envoy (host_paths_argument_spec())."""

    DOCUMENTATION = r"""
options:
  config_dir:
    description:
      - Directory of the ECDS files (C(ecds/)), the lock and the record of unconfirmed files (C(envoy_filter_config_dir)
        in the envoy_filter role).
    type: path
    default: /etc/envoy
  wasm_dir:
    description:
      - Directory of the modules, stored as C(<sha256>.wasm). A filter's module is C(<wasm_dir>/<sha256>.wasm) of its image.
    type: path
    default: /var/lib/envoy/wasm
  bootstrap_path:
    description:
      - Envoy's bootstrap, read to find the running Envoy; only M(wasm.oci.envoy_wasm_filters) writes it, with its
        option C(managed_bootstrap). Defaults to C(<config_dir>/envoy.yaml).
    type: path
"""
