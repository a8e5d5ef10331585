#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: envoy_wasm_prune
short_description: Remove the Wasm modules no Envoy filter uses any more
version_added: 0.1.0
description:
  - Removes from O(wasm_dir) every module stored content-addressed (C(<sha256>.wasm), as the
    P(wasm.oci.envoy_filter#role) role stores them) that no ECDS file in O(ecds_dir) names.
  - An ECDS file's previous version, which M(wasm.oci.envoy_wasm_config) keeps as C(<name>.yaml.previous), counts as
    naming its module too, so the module a filter ran before its last update stays for a rollback.
  - Other files in O(wasm_dir) are never removed. Every ECDS file is read before anything is removed; when one cannot
    be read, nothing is removed.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.attributes.actiongroup_wasm
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff lists the modules before and after.
requirements:
  - PyYAML on the host, only when an ECDS file in O(ecds_dir) is YAML rather than JSON.
options:
  ecds_dir:
    description:
      - Directory of the ECDS files (C(*.yaml), C(*.json) and C(*.yaml.previous)) of every filter that may use a
        module in O(wasm_dir). When several Envoys share O(wasm_dir), do not prune from one of them.
    type: path
    required: true
  wasm_dir:
    description: Directory of the modules.
    type: path
    required: true
seealso:
  - module: wasm.oci.envoy_wasm_config
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Remove modules no filter uses
  wasm.oci.envoy_wasm_prune:
    ecds_dir: /etc/envoy/ecds
    wasm_dir: /var/lib/envoy/wasm
"""

RETURN = r"""
removed:
  description: Modules removed (in check mode, those that would be).
  returned: success
  type: list
  elements: str
  sample: [/var/lib/envoy/wasm/0f8a4c3e0f5b1f3a2d7c3c8e4b5d6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b.wasm]
in_use:
  description: Module files the ECDS files name, sorted.
  returned: success
  type: list
  elements: str
  sample: [/var/lib/envoy/wasm/9c1d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d.wasm]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils.envoy_files import modules_in_use, stored_modules
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmOciError


class ModulePruner:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def prune(self) -> dict:
        wasm_dir = self.params['wasm_dir']
        in_use = modules_in_use(self.params['ecds_dir'])
        stored = stored_modules(wasm_dir)
        unused = [path for path in stored if path not in in_use]
        result = {'changed': bool(unused), 'removed': unused, 'in_use': sorted(in_use)}
        if self.module._diff:
            kept = [path for path in stored if path in in_use]
            result['diff'] = {'before': ''.join(f'{path}\n' for path in stored), 'after': ''.join(f'{path}\n' for path in kept),
                              'before_header': wasm_dir, 'after_header': wasm_dir}
        if not self.module.check_mode:
            for path in unused:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise WasmOciError(f'Cannot remove the unused module {path}: {exc.strerror}') from None
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            ecds_dir=dict(type='path', required=True),
            wasm_dir=dict(type='path', required=True),
        ),
        supports_check_mode=True,
    )
    try:
        result = ModulePruner(module).prune()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
