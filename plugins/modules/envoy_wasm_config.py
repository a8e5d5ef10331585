#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: envoy_wasm_config
short_description: Write the Envoy configuration that runs a Wasm filter with hot reload
version_added: 0.1.0
description:
  - Writes one Envoy 1.40 configuration document to O(dest), replacing it atomically (a temporary file renamed over
    it), which is what Envoy's file watch needs to pick up a change.
  - With O(kind=ecds), the document is the extension config discovery (ECDS) file of one Wasm filter. It holds the
    filter's C(envoy.extensions.filters.http.wasm.v3.Wasm) (or network) config, which runs the module with the V8
    runtime. An Envoy whose bootstrap takes the filter from this file applies the new file in about a second, without
    a restart; an Envoy that cannot load it keeps the filter it had.
  - With O(kind=bootstrap), the document is a complete bootstrap. It has one listener on O(listener_address) whose
    HTTP connection manager runs the Wasm filters of O(filters), each fed from its ECDS file, and routes every request
    to O(upstream). Listeners and clusters are static, so changing them needs an Envoy restart; changing a filter does
    not.
  - The document is indented JSON with sorted keys, which Envoy reads as YAML, so C(.yaml) file names work.
  - Nothing is written when the file already holds the same document.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.attributes.actiongroup_wasm
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - With O(validate_with), the bootstrap is still validated in check mode; that writes only a temporary file.
  diff_mode:
    support: full
    details:
      - The diff shows the text of O(dest) before and after.
options:
  dest:
    description:
      - Path of the file to write, usually ending in C(.yaml).
      - The mode of an existing file is kept unless O(mode) is given.
    type: path
    required: true
  kind:
    description:
      - V(ecds) writes the ECDS file of the filter O(filter).
      - V(bootstrap) writes a complete bootstrap running the filters of O(filters).
    type: str
    choices: [ecds, bootstrap]
    default: ecds
  filter:
    description:
      - The Wasm filter of the ECDS file. Required with O(kind=ecds).
    type: dict
    suboptions:
      name:
        description:
          - Filter name. It is the ECDS resource name the bootstrap asks for, and appears in Envoy's stat names,
            such as C(extension_config_discovery.http_filter.<name>.update_success).
          - Letters, digits, C(_), C(.) and C(-) only.
        type: str
        required: true
      module:
        description:
          - Absolute path of the C(.wasm) module on the host, as Envoy will read it.
          - Envoy may load it at any time after the file is written, so give each module version its own file
            rather than overwriting a module in place.
        type: path
        required: true
      root_id:
        description:
          - Root ID of the plugin in the module.
          - Defaults to the first of O(image_root_ids). Required when O(image_root_ids) is not given.
        type: str
      vm_id:
        description:
          - Envoy shares a VM between filters with the same VM ID and code.
          - Defaults to the filter name, so the filter gets its own VM.
        type: str
      configuration:
        description:
          - Plugin configuration. A dict is passed to the plugin as JSON text; a string is passed as it is.
        type: raw
      environment:
        description:
          - Environment variables of the VM, names to string values.
        type: dict
      failure_policy:
        description:
          - What Envoy does with requests when the plugin fails at runtime. V(FAIL_CLOSED) rejects them,
            V(FAIL_OPEN) passes them on without the filter, V(FAIL_RELOAD) reloads the VM.
        type: str
        choices: [FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD]
        default: FAIL_CLOSED
      type:
        description:
          - V(http) for an HTTP filter (C(envoy.filters.http.wasm)), V(network) for a network filter
            (C(envoy.filters.network.wasm)).
        type: str
        choices: [http, network]
        default: http
  image_root_ids:
    description:
      - Root IDs the filter's image declares, for example RV(wasm.oci.wasm_image_pull#module:image.runtime.root_ids).
      - When given, C(filter.root_id) must be one of them, and defaults to the first.
    type: list
    elements: str
  node_id:
    description:
      - Node ID of the Envoy. Required with O(kind=bootstrap); extension config discovery needs it.
    type: str
  cluster:
    description:
      - Node cluster of the Envoy, with O(kind=bootstrap).
    type: str
    default: envoy
  admin_address:
    description:
      - IP address and port of the admin endpoint, with O(kind=bootstrap). Its C(/stats) tell whether a filter update
        was applied.
    type: str
    default: 127.0.0.1:9901
  listener_address:
    description:
      - IP address and port the listener binds, with O(kind=bootstrap). Use C([address]:port) for IPv6.
    type: str
    default: 127.0.0.1:10000
  upstream:
    description:
      - C(host:port) every request is sent to, with O(kind=bootstrap). A host name is resolved by Envoy.
      - Without it, Envoy answers every request itself with status 200.
    type: str
  filters:
    description:
      - The Wasm filters of the bootstrap, in the order they run. HTTP filters run before the router; network
        filters before the HTTP connection manager.
      - Used with O(kind=bootstrap).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Filter name; the same as C(filter.name) of its ECDS file.
        type: str
        required: true
      ecds_path:
        description:
          - Absolute path of the filter's ECDS file.
        type: path
        required: true
      type:
        description:
          - V(http) or V(network), as in its ECDS file.
        type: str
        choices: [http, network]
        default: http
  validate_with:
    description:
      - Path of an C(envoy) binary. With O(kind=bootstrap), a changed bootstrap is first written to a temporary file
        and checked with C(envoy --mode validate); the task fails with Envoy's output, and leaves O(dest) as it was,
        when Envoy refuses it.
      - Envoy checks that the ECDS files exist, but does not load the modules.
      - Ignored with O(kind=ecds).
    type: path
  verify_admin_address:
    description:
      - With O(kind=ecds), the C(host:port) of Envoy's admin interface. When the file changes, the module reads the
        filter's C(update_success) and C(update_rejected) counters, replaces the file, and waits for one of them to
        move.
      - If Envoy rejects the new config, or does not apply it within O(verify_timeout), the previous file is put back,
        Envoy takes the old config again, and the task fails naming the filter and its module.
      - If the admin interface does not answer (Envoy is not running), or Envoy does not use the filter yet, the file
        is written and RV(verified) is false.
    type: str
  verify_timeout:
    description:
      - Seconds to wait for Envoy to apply or reject an update checked through O(verify_admin_address).
    type: float
    default: 15
notes:
  - An existing bootstrap takes a filter from its ECDS file through an HTTP filter entry with C(config_discovery)
    and a C(path_config_source) naming the file, listed before C(envoy.filters.http.router).
seealso:
  - module: wasm.oci.wasm_image_pull
  - name: Envoy extension config discovery
    description: How Envoy takes filter configs from files.
    link: https://www.envoyproxy.io/docs/envoy/latest/configuration/overview/extension
  - name: Envoy Wasm filter
    description: The filter and its configuration.
    link: https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/wasm_filter
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Pull the filter's module
  wasm.oci.wasm_image_pull:
    name: registry.example.com/filters/add-header:1.2.0
    dest: /var/lib/envoy/wasm/add_header-1.2.0.wasm
  register: pulled

- name: Write the filter's ECDS file; Envoy applies it without a restart
  wasm.oci.envoy_wasm_config:
    dest: /etc/envoy/ecds/add_header.yaml
    kind: ecds
    filter:
      name: add_header
      module: /var/lib/envoy/wasm/add_header-1.2.0.wasm
      configuration:
        header_value: from-ansible
      failure_policy: FAIL_OPEN
    image_root_ids: "{{ pulled.image.runtime.root_ids }}"

- name: Write a bootstrap that takes the filter from that file, checked by Envoy first
  wasm.oci.envoy_wasm_config:
    dest: /etc/envoy/envoy.yaml
    kind: bootstrap
    node_id: "{{ inventory_hostname }}"
    listener_address: 0.0.0.0:8080
    upstream: app.internal:8000
    filters:
      - name: add_header
        ecds_path: /etc/envoy/ecds/add_header.yaml
    validate_with: /usr/local/bin/envoy
    mode: "0644"
"""

RETURN = r"""
verified:
  description: Whether Envoy confirmed that it applied the new file (only with O(verify_admin_address)).
  returned: when the file changed and O(verify_admin_address) was given
  type: bool
  sample: true
verify_message:
  description: What the check found, for example that Envoy is not running yet.
  returned: when the file changed and O(verify_admin_address) was given
  type: str
  sample: Envoy applied the new config of filter add_header
dest:
  description: Path of the file written.
  returned: success
  type: str
  sample: /etc/envoy/ecds/add_header.yaml
document:
  description: The document the file holds, as Envoy reads it.
  returned: success
  type: dict
  sample:
    resources:
      - "@type": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig
        name: add_header
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
          config:
            name: add_header
            root_id: add_header
            failure_policy: FAIL_CLOSED
            vm_config:
              vm_id: add_header
              runtime: envoy.wasm.runtime.v8
              code:
                local:
                  filename: /var/lib/envoy/wasm/0f8a4c3e0f5b1f3a2d7c3c8e4b5d6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b.wasm
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils.atomic_file import write_atomically
from ansible_collections.wasm.oci.plugins.module_utils.envoy_admin import REJECTED, SUCCESS, EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils.envoy_config import (
    dump_document,
    ecds_document,
    filter_reference,
    managed_bootstrap,
    wasm_filter,
)
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmOciError

# Options that belong to one kind only and have no default; giving one with the other kind is a mistake.
_KIND_OPTIONS = {'ecds': ('filter', 'image_root_ids', 'verify_admin_address'), 'bootstrap': ('node_id', 'upstream')}
_OUTPUT_LINES = 30


class EnvoyConfigWriter:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def _check_kind_options(self) -> None:
        kind = self.params['kind']
        for other, options in _KIND_OPTIONS.items():
            given = [option for option in options if other != kind and self.params[option] is not None]
            if given:
                raise WasmOciError(f'{", ".join(given)} cannot be used with kind={kind}; they belong to kind={other}')
        if kind == 'ecds' and self.params['filters']:
            raise WasmOciError('filters cannot be used with kind=ecds; it belongs to kind=bootstrap (use filter for the ECDS file)')

    def _ecds(self) -> dict:
        spec = self.params['filter']
        wasm = wasm_filter(
            name=spec['name'],
            module=spec['module'],
            root_id=spec['root_id'],
            vm_id=spec['vm_id'],
            configuration=spec['configuration'],
            environment=spec['environment'],
            failure_policy=spec['failure_policy'],
            filter_type=spec['type'],
            image_root_ids=self.params['image_root_ids'],
        )
        if not os.path.isfile(wasm.module):
            self.module.warn(f'The module {wasm.module} of filter {wasm.name} does not exist yet; Envoy will reject the ECDS file until it does')
        return ecds_document(wasm)

    def _bootstrap(self) -> dict:
        references = [filter_reference(spec['name'], spec['ecds_path'], spec['type']) for spec in self.params['filters']]
        return managed_bootstrap(
            node_id=self.params['node_id'],
            cluster=self.params['cluster'],
            admin_address=self.params['admin_address'],
            listener_address=self.params['listener_address'],
            filters=references,
            upstream=self.params['upstream'],
        )

    def _read_current(self, dest: str) -> bytes | None:
        try:
            with open(dest, 'rb') as stream:
                data = stream.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WasmOciError(f'Cannot read {dest}: {exc.strerror}') from None
        return data

    def _validate(self, text: str) -> None:
        """Let Envoy check the bootstrap from a temporary file; dest is untouched until it passes."""
        envoy = self.params['validate_with']
        candidate = os.path.join(self.module.tmpdir, 'envoy-bootstrap.yaml')
        write_atomically(candidate, text.encode('utf-8'))
        try:
            rc, out, err = self.module.run_command([envoy, '--mode', 'validate', '--log-level', 'warn', '-c', candidate])
        finally:
            os.unlink(candidate)
        if rc != 0:
            output = '\n'.join((err + out).replace(candidate, f'{self.params["dest"]} (candidate)').strip().splitlines()[-_OUTPUT_LINES:])
            raise WasmOciError(f'{envoy} --mode validate refused the bootstrap for {self.params["dest"]} (exit {rc}):\n{output}')

    def _write_verified(self, dest: str, text: str, current: bytes | None) -> dict:
        """Replace the ECDS file and wait for Envoy to apply it; restore the old file if Envoy does not."""
        spec = self.params['filter']
        admin = EnvoyAdmin(self.params['verify_admin_address'])
        prefix = admin.stat_prefix(spec['name'], spec['type'])
        before = admin.counters(prefix)
        write_atomically(dest, text.encode('utf-8'))
        if before is None:
            return {'verified': False, 'verify_message': f'Envoy admin at {admin.address} did not answer: Envoy is not running, '
                    'so there is no traffic to protect; the live check happens on the next run'}
        if not before:
            return {'verified': False, 'verify_message': f'Envoy does not use filter {spec["name"]} yet (no ECDS counters); '
                    'it takes the file when its bootstrap references it'}
        outcome = admin.wait_for_update(prefix, before, self.params['verify_timeout'])
        if outcome == SUCCESS:
            return {'verified': True, 'verify_message': f'Envoy applied the new config of filter {spec["name"]}'}
        restored = admin.counters(prefix) or before
        if current is None:
            os.unlink(dest)
        else:
            write_atomically(dest, current)
        admin.wait_for_update(prefix, restored, self.params['verify_timeout'])
        what = 'rejected' if outcome == REJECTED else f'did not apply within {self.params["verify_timeout"]:g}s'
        raise WasmOciError(
            f'Envoy {what} the new config of filter {spec["name"]} (module {spec["module"]}); the previous ECDS file '
            f'was restored and Envoy keeps serving the old filter. Envoy logs the reason (look for "Unable to create Wasm plugin {spec["name"]}")'
        )

    def write(self) -> dict:
        self._check_kind_options()
        dest = self.params['dest']
        if os.path.isdir(dest):
            raise WasmOciError(f'dest={dest} is a directory; give the path of the file to write')
        document = self._ecds() if self.params['kind'] == 'ecds' else self._bootstrap()
        text = dump_document(document)
        current = self._read_current(dest)
        changed = current != text.encode('utf-8')
        if changed and self.params['kind'] == 'bootstrap' and self.params['validate_with']:
            self._validate(text)
        result = {'changed': changed, 'dest': dest, 'document': document}
        if changed and not self.module.check_mode:
            if self.params['kind'] == 'ecds' and self.params['verify_admin_address']:
                result.update(self._write_verified(dest, text, current))
            else:
                write_atomically(dest, text.encode('utf-8'))

        if os.path.exists(dest):
            file_args = self.module.load_file_common_arguments(self.params, path=dest)
            result['changed'] = self.module.set_fs_attributes_if_different(file_args, result['changed'])
        if self.module._diff:
            before = (current or b'').decode('utf-8', errors='replace')
            result['diff'] = {'before': before, 'after': text, 'before_header': dest, 'after_header': dest}
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            kind=dict(type='str', default='ecds', choices=['ecds', 'bootstrap']),
            filter=dict(
                type='dict',
                options=dict(
                    name=dict(type='str', required=True),
                    module=dict(type='path', required=True),
                    root_id=dict(type='str'),
                    vm_id=dict(type='str'),
                    configuration=dict(type='raw'),
                    environment=dict(type='dict'),
                    failure_policy=dict(type='str', default='FAIL_CLOSED', choices=['FAIL_CLOSED', 'FAIL_OPEN', 'FAIL_RELOAD']),
                    type=dict(type='str', default='http', choices=['http', 'network']),
                ),
            ),
            image_root_ids=dict(type='list', elements='str'),
            node_id=dict(type='str'),
            cluster=dict(type='str', default='envoy'),
            admin_address=dict(type='str', default='127.0.0.1:9901'),
            listener_address=dict(type='str', default='127.0.0.1:10000'),
            upstream=dict(type='str'),
            filters=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(
                    name=dict(type='str', required=True),
                    ecds_path=dict(type='path', required=True),
                    type=dict(type='str', default='http', choices=['http', 'network']),
                ),
            ),
            validate_with=dict(type='path'),
            verify_admin_address=dict(type='str'),
            verify_timeout=dict(type='float', default=15.0),
        ),
        required_if=[('kind', 'ecds', ['filter']), ('kind', 'bootstrap', ['node_id'])],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    try:
        result = EnvoyConfigWriter(module).write()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
