#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: envoy_wasm_filters
short_description: Apply the whole Wasm filter set of one Envoy as one transaction, confirmed by Envoy or undone
version_added: 1.0.0
description:
  - Writes one ECDS file per filter (C(<config_dir>/ecds/<name>.yaml)) and, with O(managed_bootstrap), the bootstrap with
    its listener and cluster files (C(lds.yaml), C(cds.yaml)), as one transaction under a per-Envoy lock. Each file is
    confirmed by Envoy's counters and reported version, then O(health_check) must pass; otherwise every file is put back
    byte for byte and the task fails naming the filter, the image and where Envoy logs the reason.
  - Envoy counts as stopped only when the bootstrap's admin address refuses connections; the files are then written with
    RV(verified=false) and checked on the next run. Any other answer fails with nothing changed.
  - Each ECDS file names its image and manifest digest in C(version_info) (Envoy's C(version_text) stat); the replaced
    file is kept as C(<name>.yaml.previous) after a confirmed swap.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.envoy_confirmation
  - wasm.oci.envoy_host
attributes:
  check_mode:
    support: full
    details:
      - With O(validate_with), the configuration is still validated in check mode; that writes only temporary files.
  diff_mode:
    support: full
    details:
      - A line per changed filter names the image before and after, then each file follows, with configuration and
        environment values redacted unless O(show_config=true).
requirements:
  - PyYAML on the host, only to read a YAML bootstrap given in O(bootstrap_path).
options:
  filters:
    description:
      - Every Wasm filter of this Envoy, in the order of the filter chain, present or absent.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Filter name, ECDS resource name and file name. Letters, digits, C(_), C(.) and C(-) only.
        type: str
        required: true
      state:
        description: V(absent) removes the filter (a managed listener drops it first).
        type: str
        choices: [present, absent]
        default: present
      type:
        description: V(http) or V(network) filter.
        type: str
        choices: [http, network]
        default: http
      image:
        description: Reference of the filter's image; its pull result must be in O(host_pulls) or O(controller_pulls).
        type: str
      sha256:
        description: Expected sha256 of the module; the task fails before writing when the image's module differs.
        type: str
      module:
        description: Absolute path of the module, for a filter without O(filters[].image).
        type: path
      root_id:
        description: Root ID; defaults to the image's first. When given it must be one of the image's root IDs.
        type: str
      vm_id:
        description: Wasm VM ID; defaults to the filter name, so filters do not share a VM.
        type: str
      configuration:
        description:
          - Plugin configuration, a dict (passed as JSON) or a string. Never returned; redacted in diffs; masked in
            Ansible's output like any C(no_log) value.
        type: raw
      environment:
        description: Environment variables of the VM. Treated like O(filters[].configuration).
        type: dict
      failure_policy:
        description: What Envoy does with requests when the plugin fails.
        type: str
        choices: [FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD]
        default: FAIL_CLOSED
  host_pulls:
    description:
      - Results of M(wasm.oci.wasm_image_pull) run on the managed host, one per image, as registered; each has C(image),
        the image description that supplies root IDs, digests and the module's sha256, and C(dest), the file on the host
        the module was pulled to.
      - A filter's module is stored as C(<wasm_dir>/<sha256>.wasm) from C(dest) when the host lacks it, under the lock.
        It is preferred over an upload of the same module from O(controller_pulls).
    type: list
    elements: dict
    default: []
  controller_pulls:
    description:
      - Results of M(wasm.oci.wasm_image_pull) run on the controller, as registered (C(image) and C(dest) as in
        O(host_pulls), with C(dest) on the controller), such as the images the envoy_filter role pulls once for all hosts
        or takes from a local OCI layout there.
      - The action plugin sends the host the modules these pulls just downloaded (C(changed)) with the run, and the
        others only when the host lacks them; they are stored as with O(host_pulls).
    type: list
    elements: dict
    default: []
  uploaded_modules:
    description: Internal, set by the action plugin; where on the host the modules it sent are, by module digest.
    type: dict
  managed_bootstrap:
    description:
      - Write the bootstrap at O(bootstrap_path), with one listener running the filters, from files.
      - Without it the bootstrap is the user's own and never written; it must take each present filter from its ECDS
        file. A filter it does not take yet gets its ECDS file written (harmless while nothing references it), then the
        task fails with the exact entry to paste, and what to do next.
    type: dict
    suboptions:
      node_id:
        description: Node ID.
        type: str
        required: true
      cluster:
        description: Node cluster.
        type: str
        default: envoy
      listener_address:
        description: IP address and port of the listener.
        type: str
        default: 127.0.0.1:10000
      upstream:
        description: C(host:port) every request goes to; without it Envoy answers 200 itself.
        type: str
  validate_with:
    description:
      - Name or path of the C(envoy) binary; with O(managed_bootstrap) the whole configuration is validated with
        C(envoy --mode validate) before any file is replaced. The task fails when the binary is not found.
    type: str
  prune:
    description:
      - Remove the modules in O(wasm_dir) that no ECDS file (nor its C(.previous) copy) names, and the copies pulled on the
        host (C(.<sha256>.pulled.wasm)) that O(host_pulls) no longer names.
    type: bool
    default: true
  purge:
    description: Remove the ECDS files of filters not in O(filters) (RV(unmanaged_filters)).
    type: bool
    default: false
  show_config:
    description: Show configuration and environment values in diffs.
    type: bool
    default: false
  mode:
    description: Mode of every file written (ECDS files, their previous versions, a managed bootstrap).
    type: raw
    default: '0640'
  group:
    description: Group of every file written, so Envoy can read files that others cannot.
    type: str
seealso:
  - module: wasm.oci.wasm_image_pull
  - name: Envoy extension config discovery
    description: How Envoy takes filter configs from files.
    link: https://www.envoyproxy.io/docs/envoy/latest/configuration/overview/extension
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Pull the filter on the host
  wasm.oci.wasm_image_pull:
    name: registry.example.com/filters/add_header:1.2.0
    dest: /var/lib/envoy/wasm/.add_header.pulled.wasm
  register: pulled

- name: Apply the filter set of this Envoy in one transaction
  wasm.oci.envoy_wasm_filters:
    config_dir: /etc/envoy
    wasm_dir: /var/lib/envoy/wasm
    host_pulls: ["{{ pulled }}"]
    filters:
      - name: add_header
        image: registry.example.com/filters/add_header:1.2.0
        configuration: {header_value: edge}
      - name: old_filter
        state: absent
    managed_bootstrap:
      node_id: "{{ inventory_hostname }}"
      listener_address: 0.0.0.0:8080
      upstream: app.internal:8000
    validate_with: envoy
    group: envoy
    health_check:
      url: http://127.0.0.1:8080/healthz

- name: Pull the filter once, on the controller, for every host
  delegate_to: localhost
  run_once: true
  wasm.oci.wasm_image_pull:
    name: registry.example.com/filters/add_header:1.2.0
    dest: /var/cache/wasm-oci/add_header.wasm
  register: controller_pull

- name: Apply the filter set, sending each host only the modules it lacks
  wasm.oci.envoy_wasm_filters:
    config_dir: /etc/envoy
    wasm_dir: /var/lib/envoy/wasm
    controller_pulls: ["{{ controller_pull }}"]
    filters:
      - name: add_header
        image: registry.example.com/filters/add_header:1.2.0
"""

RETURN = r"""
verified:
  description: Whether Envoy confirmed every file it watches, in this run or an earlier one.
  returned: success
  type: bool
  sample: true
filters:
  description: Each listed filter. Configuration and environment are never returned.
  returned: success
  type: list
  elements: dict
  sample:
    - {name: add_header, state: present, type: http, image: registry.example.com/filters/add_header:1.2.0,
       digest: "sha256:6c3c...", module: /var/lib/envoy/wasm/0f8a....wasm, module_digest: "sha256:0f8a...",
       changed: true, confirmed: true}
unmanaged_filters:
  description: Filters with an ECDS file in O(config_dir) that O(filters) does not name (removed with O(purge=true)).
  returned: success
  type: list
  elements: str
  sample: [legacy_auth]
stored_modules:
  description: Modules put into the store (in check mode, those that would be).
  returned: success
  type: list
  elements: str
  sample: [/var/lib/envoy/wasm/0f8a....wasm]
missing_modules:
  description: Internal, for the action plugin; modules pulled on the controller that the host lacks.
  returned: when the host lacks modules pulled on the controller
  type: list
  elements: dict
removed_modules:
  description: Modules pruned (in check mode, those that would be).
  returned: success
  type: list
  elements: str
  sample: [/var/lib/envoy/wasm/9c1d....wasm]
files:
  description: Files written, removed, or given the asked O(mode) and O(group) (or that would be).
  returned: success
  type: list
  elements: str
  sample: [/etc/envoy/ecds/add_header.yaml]
summary:
  description: One line per changed filter naming its image and whether Envoy confirmed it.
  returned: success
  type: list
  elements: str
  sample: ["add_header: registry.example.com/filters/add_header:1.2.0 (sha256:6c3c...) applied and confirmed by Envoy"]
restart_needed:
  description: True when a managed bootstrap changed while Envoy runs; Envoy reads it only when it starts.
  returned: success
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.deployment import Deployment, ModulesMissing
from ansible_collections.wasm.oci.plugins.module_utils._envoy.diff import envoy_diff
from ansible_collections.wasm.oci.plugins.module_utils._envoy.parameters import argument_spec, settings_from


class EnvoyFilterSet:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def run(self) -> dict:
        settings = settings_from(self.params, self.module.get_bin_path)
        try:
            outcome = Deployment(settings, self.module.run_command, self.module.check_mode, self.module.tmpdir).run()
        except ModulesMissing as exc:
            return {'changed': False, 'missing_modules': exc.missing}
        for warning in outcome.warnings:
            self.module.warn(warning)
        result = outcome.result()
        if self.module._diff:
            paths = {report['name']: settings.paths.ecds(report['name']) for report in outcome.plan.filters}
            result['diff'] = envoy_diff(outcome.plan.changes, paths, self.params['show_config'])
            if self.params['show_config']:
                # Shown as asked: Ansible would mask the new values (no_log) in the diff. The invocation stays masked.
                result['invocation'] = {'module_args': remove_values(self.params, self.module.no_log_values)}
                self.module.no_log_values.clear()
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
    )
    try:
        result = EnvoyFilterSet(module).run()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f'Cannot change {exc.filename or "a file"}: {exc.strerror}; run with become, or give a directory this '
                             'user may write')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
