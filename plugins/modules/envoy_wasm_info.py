#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: envoy_wasm_info
short_description: Report every Wasm filter of one Envoy, its image, what Envoy runs, and how it drifted
version_added: 1.0.0
description:
  - Reads the ECDS files M(wasm.oci.envoy_wasm_filters) wrote in O(config_dir) (each names its image, manifest digest
    and module), and asks Envoy's admin interface what it runs. The filter configs and their versions and last update
    come from C(/config_dump). The update counters of each ECDS file and the Wasm stats come from C(/stats).
  - Judges each filter with a RV(filters[].drift) verdict. A desired state in O(expected) adds the V(different_image)
    and V(missing) verdicts.
  - Envoy reloads an ECDS file only when a new file is moved into its place. A file edited in place is never
    loaded, so it shows as V(config_changed_on_disk_not_loaded) until the next rollout.
  - When Envoy does not answer, the filters are still reported from the files, with RV(envoy.available=false) and
    each filter's RV(filters[].envoy) V(null). Only a record of unconfirmed files that cannot be read, or invalid
    options, fail the task.
  - Configuration and environment values of the filters are never returned.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.attributes.info_module
options:
  config_dir:
    description:
      - Directory of the ECDS files (C(ecds/)) and of the record of unconfirmed files, as given to
        M(wasm.oci.envoy_wasm_filters) (C(envoy_filter_config_dir) in the envoy_filter role).
    type: path
    default: /etc/envoy
  admin_address:
    description: IP address and port of Envoy's admin interface.
    type: str
    default: 127.0.0.1:9901
  expected:
    description:
      - The desired filters of this Envoy. A listed filter on another image is V(different_image); one without an
        ECDS file is V(missing). Filters not listed are judged against Envoy only.
      - An image matches when its registry and repository are the same, and so are the tag and digest where
        O(expected[].image) gives them.
    type: list
    elements: dict
    suboptions:
      name:
        description: Filter name.
        type: str
        required: true
      image:
        description: Reference of the image the filter should run.
        type: str
        required: true
seealso:
  - module: wasm.oci.envoy_wasm_filters
  - name: Envoy admin interface
    description: The C(/config_dump) and C(/stats) endpoints this module reads.
    link: https://www.envoyproxy.io/docs/envoy/latest/operations/admin
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Read the Wasm filters of this Envoy
  wasm.oci.envoy_wasm_info:
    config_dir: /etc/envoy
  register: envoy_wasm

- name: Fail when a filter is not the image it should be
  wasm.oci.envoy_wasm_info:
    expected:
      - name: add_header
        image: registry.example.com/filters/add_header:1.2.0
  register: envoy_wasm
  failed_when: envoy_wasm.filters | rejectattr('drift', 'eq', 'in_sync') | list

- name: Print one table of the whole fleet (or run the playbook wasm.oci.fleet_status)
  ansible.builtin.debug:
    msg: "{{ envoy_wasm.table }}"
"""

RETURN = r"""
filters:
  description:
    - Every Wasm filter of the host. First each ECDS file in O(config_dir), by name; then the Wasm filters Envoy runs from
      elsewhere; then the filters O(expected) names that the host lacks.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Filter name.
      type: str
    type:
      description: V(http) or V(network); V(null) for an ECDS file that holds no Wasm filter, or a missing filter.
      type: str
    image:
      description: The image the ECDS file names, as M(wasm.oci.envoy_wasm_filters) recorded it; both V(null) without one.
      type: dict
      contains:
        reference:
          description: Image reference.
          type: str
        digest:
          description: Manifest digest.
          type: str
    module_digest:
      description: sha256 of the module file the filter config names, as read now; V(null) when it is missing.
      type: str
    confirmed:
      description: Whether Envoy runs the ECDS file as M(wasm.oci.envoy_wasm_filters) wrote it (same version, same config).
      type: bool
    drift:
      description:
        - V(in_sync) when Envoy runs the file as written, its module is intact, and the image is the one expected.
          When Envoy does not answer, filters are judged from the files and the record of unconfirmed files alone.
        - V(config_changed_on_disk_not_loaded) when the file or its module was changed on disk and Envoy does not run
          what is there. This covers an edit by hand, a file Envoy rejected, or one written while Envoy was stopped.
        - V(different_image) when O(expected) names another image; V(missing) when it names a filter with no ECDS file.
        - V(unmanaged) for an ECDS file that M(wasm.oci.envoy_wasm_filters) did not write, and a Wasm filter that Envoy
          runs from a file elsewhere or inline in a listener.
      type: str
      choices: [in_sync, config_changed_on_disk_not_loaded, different_image, missing, unmanaged]
    drift_reason:
      description: Why the filter is not V(in_sync), in words; V(null) when it is.
      type: str
    expected_image:
      description: The image O(expected) names for this filter.
      returned: when O(expected) names the filter
      type: str
    file:
      description: The filter's ECDS file; V(null) for a filter Envoy runs from elsewhere, or a missing one.
      type: str
    module:
      description: The module file the filter config names.
      type: str
    envoy:
      description: What Envoy reports about the filter; V(null) when Envoy does not answer.
      type: dict
      contains:
        loaded:
          description: Whether Envoy runs a config of this filter.
          type: bool
        same_as_file:
          description: Whether that config is the one in the ECDS file; V(null) when there is no file or Envoy runs no config.
          type: bool
        version:
          description: C(version_info) of the config Envoy runs, from C(/config_dump).
          type: str
        image:
          description: The image that version names (RV(filters[].image) of what Envoy runs).
          type: dict
        last_updated:
          description: When Envoy took that config, from C(/config_dump).
          type: str
          sample: '2026-05-01T10:00:00.123Z'
        last_file_rejected:
          description:
            - Whether Envoy rejected the last ECDS file it read for this filter. C(/config_dump) then shows that rejected
              config, so RV(filters[].envoy.version) and RV(filters[].envoy.last_updated) come from Envoy's stats instead.
              They describe the config Envoy still runs from before.
          type: bool
        update_success:
          description: Updates of the ECDS file Envoy accepted (C(extension_config_discovery.<type>_filter.<name>.update_success)).
          type: int
        update_rejected:
          description: Updates Envoy rejected.
          type: int
        ecds_stats:
          description: Every counter and gauge under C(extension_config_discovery.<type>_filter.<name>.), by the rest of its name.
          type: dict
          sample: {update_success: 2, update_rejected: 1, update_attempt: 3, config_reload: 2, config_fail: 0}
        plugin_stats:
          description:
            - The Wasm plugin's stats under C(wasm.<plugin name>.), by the rest of their name.
            - Envoy 1.40 counts a failed VM only with C(failure_policy=FAIL_RELOAD) (C(vm_reload), C(vm_reload_success),
              C(vm_reload_failure), C(vm_reload_backoff)). With other policies it keeps no per-plugin failure counter.
          type: dict
          sample: {vm_reload: 0, vm_reload_backoff: 0, vm_reload_failure: 0, vm_reload_success: 0}
  sample:
    - name: add_header
      type: http
      image: {reference: registry.example.com/filters/add_header:1.2.0, digest: "sha256:6c3c..."}
      module_digest: "sha256:0f8a..."
      confirmed: true
      drift: in_sync
      drift_reason: null
      file: /etc/envoy/ecds/add_header.yaml
      module: /var/lib/envoy/wasm/0f8a....wasm
      envoy: {loaded: true, same_as_file: true, version: "registry.example.com/filters/add_header:1.2.0 sha256:6c3c... 1f2e...",
              last_updated: '2026-05-01T10:00:00.123Z', last_file_rejected: false, update_success: 1, update_rejected: 0}
envoy:
  description: The Envoy at O(admin_address).
  returned: success
  type: dict
  contains:
    address:
      description: O(admin_address).
      type: str
    available:
      description: Whether it answered as Envoy.
      type: bool
    error:
      description: Why Envoy's view is missing, such as nothing listening on O(admin_address); V(null) when available.
      type: str
    version:
      description: Envoy's build version.
      type: str
    config_path:
      description: The bootstrap file Envoy was started with.
      type: str
    node_id:
      description: Envoy's node ID.
      type: str
    wasm_runtime_stats:
      description: Stats under C(wasm.envoy.wasm.runtime.), such as C(v8.created) and C(v8.active) (live Wasm VMs).
      type: dict
      sample: {v8.active: 2, v8.created: 4}
table:
  description:
    - One line per filter (or one saying there is none), with columns filter, image, short manifest digest and state.
    - The columns are 20, 50 and 19 characters wide, so the tables of several hosts line up under one header.
  returned: success
  type: list
  elements: str
  sample: ["add_header           registry.example.com/filters/add_header:1.2.0      sha256:6c3c624b58db in_sync"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils._envoy.drift import check_expected, judge, table_lines
from ansible_collections.wasm.oci.plugins.module_utils._envoy.envoy_view import ask_envoy
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_filters import read_host
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import DEFAULT_CONFIG_DIR


class EnvoyWasmInfo:
    def __init__(self, module: AnsibleModule) -> None:
        self.params = module.params

    def report(self) -> dict:
        expected = check_expected(self.params['expected'])
        host = read_host(self.params['config_dir'])
        envoy = ask_envoy(EnvoyAdmin(self.params['admin_address']))
        filters = judge(host, envoy, expected)
        return {'changed': False, 'filters': filters, 'envoy': envoy.result(), 'table': table_lines(filters, envoy)}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', default=DEFAULT_CONFIG_DIR),
            admin_address=dict(type='str', default='127.0.0.1:9901'),
            expected=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                image=dict(type='str', required=True),
            )),
        ),
        supports_check_mode=True,
    )
    try:
        result = EnvoyWasmInfo(module).report()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
