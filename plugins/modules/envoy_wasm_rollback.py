#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: envoy_wasm_rollback
short_description: Put Wasm filters of one Envoy back to their previous confirmed version, from the host's own files
version_added: 1.0.0
description:
  - After each swap Envoy confirmed, M(wasm.oci.envoy_wasm_filters) keeps the replaced ECDS file as
    C(<config_dir>/ecds/<name>.yaml.previous), and keeps the module it names in O(wasm_dir). This module writes each
    named filter's C(.previous) back over its ECDS file, with no registry contact at all.
  - All named filters are rolled back as one transaction under the Envoy's lock, confirmed exactly like a rollout.
    Envoy must report each filter's previous version through its counters, then O(health_check) must pass.
    Otherwise every file is put back byte for byte and the task fails, naming the filter and where Envoy logs why.
  - The version rolled back from is not kept. Its C(.previous) is removed in the same transaction, so a second run
    reports C(changed=false) and C(nothing to roll back) instead of flipping back. The module it loaded stays in
    O(wasm_dir) until the next M(wasm.oci.envoy_wasm_filters) run prunes it.
  - A named filter that has an ECDS file but no C(.previous) is skipped, with that message in RV(filters[].message).
    The task fails before any file changes when a named filter has no ECDS file on the host, when a C(.previous) is
    not a Wasm filter config of the filter's type, or when a module it loads is missing or is no module Envoy can run.
  - Envoy counts as stopped only when the bootstrap's admin address refuses connections. The files are then written
    with RV(verified=false), and the next run of this module or of M(wasm.oci.envoy_wasm_filters) checks them.
  - Only filter versions (image, module and configuration) go back. Filters the last rollout added or removed stay
    added or removed, and the bootstrap and listener files are not changed.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.envoy_confirmation
  - wasm.oci.envoy_host
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs every check, the modules included, and writes nothing.
  diff_mode:
    support: full
    details:
      - A line per filter names the image before and after, and one per C(.previous) copy says it is removed. Each
        ECDS file follows, with configuration and environment values redacted.
options:
  names:
    description:
      - The filters to roll back, by name. Default, every filter that has a C(.previous).
    type: list
    elements: str
seealso:
  - module: wasm.oci.envoy_wasm_filters
  - module: wasm.oci.envoy_wasm_info
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Put every filter that has a previous version back to it, with the registry down
  wasm.oci.envoy_wasm_rollback:
    config_dir: /etc/envoy
  register: rolled_back

- name: Roll back one filter, and fail unless the service answers
  wasm.oci.envoy_wasm_rollback:
    names: [add_header]
    health_check:
      url: http://127.0.0.1:8080/healthz

- name: Roll back the filters of the envoy_filter role (the playbook wasm.oci.rollback does it for every host)
  ansible.builtin.include_role:
    name: wasm.oci.envoy_filter
  vars:
    envoy_filter_rollback: true
    envoy_filter_filters:
      - name: add_header
"""

RETURN = r"""
verified:
  description: Whether Envoy runs and confirmed the ECDS file of every named filter, in this run or an earlier one.
  returned: success
  type: bool
  sample: true
filters:
  description: Each named filter (default, each that had a previous version). Configuration is never returned.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Filter name.
      type: str
    type:
      description: V(http) or V(network).
      type: str
    changed:
      description: Whether the filter was rolled back (in check mode, would be).
      type: bool
    rolled_back_from:
      description: The image the ECDS file named before; V(null) when the filter was not rolled back.
      type: dict
      contains:
        reference:
          description: Image reference; V(null) for a filter from a plain module.
          type: str
        digest:
          description: Manifest digest; V(null) for a filter from a plain module.
          type: str
    rolled_back_to:
      description: The image it names now, as RV(filters[].rolled_back_from); V(null) when the filter was not rolled back.
      type: dict
    image:
      description: The image its ECDS file names after this run, as RV(filters[].rolled_back_from).
      type: dict
    module:
      description: The module file it loads after this run.
      type: str
    confirmed:
      description: Whether Envoy confirmed its ECDS file.
      type: bool
    message:
      description: What happened to it, such as C(nothing to roll back ...).
      type: str
  sample:
    - name: add_header
      type: http
      changed: true
      rolled_back_from: {reference: registry.example.com/filters/add_header:1.3.0, digest: "sha256:9c1d..."}
      rolled_back_to: {reference: registry.example.com/filters/add_header:1.2.0, digest: "sha256:6c3c..."}
      image: {reference: registry.example.com/filters/add_header:1.2.0, digest: "sha256:6c3c..."}
      module: /var/lib/envoy/wasm/0f8a....wasm
      confirmed: true
      message: "rolled back from registry.example.com/filters/add_header:1.3.0 (sha256:9c1d...) to
        registry.example.com/filters/add_header:1.2.0 (sha256:6c3c...), confirmed by Envoy"
files:
  description: Files written or removed (or that would be).
  returned: success
  type: list
  elements: str
  sample: [/etc/envoy/ecds/add_header.yaml, /etc/envoy/ecds/add_header.yaml.previous]
summary:
  description: One line per filter.
  returned: success
  type: list
  elements: str
  sample: ["legacy_auth: nothing to roll back: no previous version is kept (it was rolled back already, or was never replaced
            while Envoy ran)"]
msg:
  description: Which filters were rolled back, or C(Nothing to roll back ...).
  returned: success
  type: str
  sample: "Rolled back: add_header"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck
from ansible_collections.wasm.oci.plugins.module_utils._envoy.parameters import confirmation_argument_spec, host_paths_argument_spec, paths_from
from ansible_collections.wasm.oci.plugins.module_utils._envoy.rollback import Rollback, RollbackSettings


class EnvoyRollback:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def run(self) -> dict:
        params = self.params
        settings = RollbackSettings(paths=paths_from(params), names=params['names'], admin_address=params['admin_address'],
                                    verify_timeout=params['verify_timeout'], health_check=HealthCheck.from_params(params['health_check']))
        outcome = Rollback(settings, self.module.check_mode).run()
        for warning in outcome.warnings:
            self.module.warn(warning)
        result = outcome.result()
        if self.module._diff:
            result['diff'] = outcome.diff()
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **host_paths_argument_spec(),
            names=dict(type='list', elements='str'),
            **confirmation_argument_spec(),
        ),
        supports_check_mode=True,
    )
    try:
        result = EnvoyRollback(module).run()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f'Cannot change {exc.filename or "a file"}: {exc.strerror}; run with become, or give a directory this '
                             'user may write')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
