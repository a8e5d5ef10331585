#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: envoy_wasm_config
short_description: Write the Envoy configuration that runs Wasm filters, hot-reloaded, verified and rolled back
version_added: 0.1.0
description:
  - Writes Envoy 1.40 configuration files atomically (a temporary file renamed over the old one), which is what
    Envoy's file watch needs to pick up a change without a restart.
  - With O(kind=ecds), O(dest) is the extension config discovery (ECDS) file of one Wasm filter. It holds the filter's
    C(envoy.extensions.filters.http.wasm.v3.Wasm) (or network) config, which runs the module with the V8 runtime.
    An Envoy whose bootstrap takes the filter from this file applies a new file in about a second; an Envoy that
    cannot load it keeps the filter it had. The replaced file is kept as C(<dest>.previous), both for a rollback by
    hand and so that the previous module is not pruned.
  - With O(kind=bootstrap), O(dest) is a complete bootstrap, and its listener and cluster are written beside it as
    C(lds.yaml) and C(cds.yaml) (file-based LDS and CDS). The listener on O(listener_address) runs the Wasm filters
    of O(filters), each fed from its ECDS file, and routes every request to O(upstream). Envoy applies a change of the
    filter list or of the upstream from those files without a restart; only a change of the bootstrap itself (node,
    admin address) needs one, see RV(restart_needed).
  - The documents are indented JSON with sorted keys, which Envoy reads as YAML, so C(.yaml) file names work.
  - Nothing is written when the files already hold the same documents.
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
      - The diff shows the text of each changed file before and after.
requirements:
  - PyYAML on the host, only to read a YAML bootstrap given in O(bootstrap_path).
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
      - V(bootstrap) writes a complete bootstrap, with its listener and cluster files, running the filters of O(filters).
    type: str
    choices: [ecds, bootstrap]
    default: ecds
  state:
    description:
      - V(absent) removes the ECDS file O(dest) and its C(.previous) copy, with O(kind=ecds) only. Remove the filter
        from the bootstrap first; O(bootstrap_path) checks that this was done.
    type: str
    choices: [present, absent]
    default: present
  filter:
    description:
      - The Wasm filter of the ECDS file. Required with O(kind=ecds) and O(state=present).
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
          - Defaults to the image's first root ID (O(image)). Required when O(image) is not given.
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
  image:
    description:
      - The filter's image as RV(wasm.oci.wasm_image_pull#module:image) or RV(wasm.oci.wasm_image_info#module:image)
        return it, with O(kind=ecds).
      - C(filter.root_id) must be one of its C(runtime.root_ids), and defaults to the first. Its C(digest) is named
        when Envoy rejects the filter.
    type: dict
  bootstrap_path:
    description:
      - With O(kind=ecds), the bootstrap of an Envoy that this module does not write (JSON, or YAML with PyYAML on
        the host). When it takes its listeners from a file (file-based LDS), that file is read too.
      - With O(state=present), the task fails before anything is written unless the bootstrap takes a filter from
        O(dest), and shows the YAML entry to add.
      - With O(state=absent), the task fails while the bootstrap still takes a filter from O(dest), since Envoy
        cannot start without the file, and says what to remove.
    type: path
  node_id:
    description:
      - Node ID of the Envoy. Required with O(kind=bootstrap); file-based discovery needs it.
    type: str
  cluster:
    description:
      - Node cluster of the Envoy, with O(kind=bootstrap).
    type: str
    default: envoy
  admin_address:
    description:
      - IP address and port of the admin endpoint, with O(kind=bootstrap). Its C(/stats) tell whether an update
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
      - Path of an C(envoy) binary. With O(kind=bootstrap), changed files are first checked, as one static bootstrap
        in a temporary file, with C(envoy --mode validate); the task fails with Envoy's output, and leaves every file as
        it was, when Envoy refuses them.
      - Envoy checks that the ECDS files exist, but does not load the modules.
      - Ignored with O(kind=ecds).
    type: path
  verify_admin_address:
    description:
      - The C(host:port) of Envoy's admin interface. When a file Envoy watches changes (ECDS, listeners, clusters), the
        module reads its C(update_success) and C(update_rejected) counters, replaces the file, and waits for one of
        them to move.
      - If Envoy rejects the new file, or does not apply it within O(verify_timeout), or O(health_check) fails, the
        previous files are put back, Envoy takes the old config again, and the task fails naming the filter, the image
        and the module.
      - If the admin interface does not answer (Envoy is not running), or Envoy does not use the file yet, the files
        are written and RV(verified) is false.
    type: str
  verify_timeout:
    description:
      - Seconds to wait for Envoy to apply or reject an update checked through O(verify_admin_address).
    type: float
    default: 15
  health_check:
    description:
      - A request that must succeed once Envoy applied the change, with O(verify_admin_address). It is retried until
        it passes or O(health_check.timeout) runs out; then the change is rolled back and the task fails.
    type: dict
    suboptions:
      url:
        description: URL to request, for example C(http://127.0.0.1:10000/healthz). Redirects are not followed.
        type: str
        required: true
      status:
        description: Expected HTTP status.
        type: int
        default: 200
      headers:
        description: Response headers that must have exactly these values; names are case-insensitive.
        type: dict
        default: {}
      timeout:
        description: Seconds to keep trying.
        type: float
        default: 10
notes:
  - An existing bootstrap takes a filter from its ECDS file through a filter entry with C(config_discovery) and a
    C(path_config_source) naming the file, listed before C(envoy.filters.http.router) (HTTP filters) or before the
    HTTP connection manager (network filters). With O(bootstrap_path) the module shows the exact entry.
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

- name: Swap the filter's ECDS file; Envoy applies it without a restart, or it is rolled back
  wasm.oci.envoy_wasm_config:
    dest: /etc/envoy/ecds/add_header.yaml
    kind: ecds
    filter:
      name: add_header
      module: /var/lib/envoy/wasm/add_header-1.2.0.wasm
      configuration:
        header_value: from-ansible
      failure_policy: FAIL_OPEN
    image: "{{ pulled.image }}"
    bootstrap_path: /etc/envoy/envoy.yaml
    verify_admin_address: 127.0.0.1:9901
    health_check:
      url: http://127.0.0.1:8080/healthz
      headers:
        x-wasm-filter: add_header

- name: Write a bootstrap with file-based listeners and clusters, checked by Envoy first
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
    verify_admin_address: 127.0.0.1:9901
    mode: "0644"
  register: bootstrap

- name: Remove a filter the bootstrap no longer uses
  wasm.oci.envoy_wasm_config:
    dest: /etc/envoy/ecds/old_filter.yaml
    state: absent
    bootstrap_path: /etc/envoy/envoy.yaml
"""

RETURN = r"""
verified:
  description: Whether Envoy confirmed that it applied the new files (only with O(verify_admin_address)).
  returned: when a file Envoy watches changed and O(verify_admin_address) was given
  type: bool
  sample: true
verify_message:
  description: What the check found, for example that Envoy is not running yet.
  returned: when a file Envoy watches changed and O(verify_admin_address) was given
  type: str
  sample: Envoy applied the new config of filter add_header
restart_needed:
  description:
    - With O(kind=bootstrap), true when the bootstrap itself changed while Envoy answers on O(verify_admin_address),
      since Envoy reads its bootstrap only when it starts.
  returned: with O(kind=bootstrap)
  type: bool
  sample: false
dest:
  description: Path of the file written.
  returned: success
  type: str
  sample: /etc/envoy/ecds/add_header.yaml
files:
  description: Every file the task wrote or removed (or would have, in check mode), besides the C(.previous) copy.
  returned: success
  type: list
  elements: str
  sample: [/etc/envoy/lds.yaml]
document:
  description: The document O(dest) holds, as Envoy reads it; absent with O(state=absent).
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

import dataclasses
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils.atomic_file import write_atomically
from ansible_collections.wasm.oci.plugins.module_utils.envoy_admin import CLUSTER_UPDATES, LISTENER_UPDATES, EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils.envoy_config import (
    admin_address_of,
    dump_document,
    ecds_document,
    filter_reference,
    filter_stanza,
    managed_config,
    wasm_filter,
)
from ansible_collections.wasm.oci.plugins.module_utils.envoy_files import (
    PREVIOUS_SUFFIX,
    bootstrap_ecds_paths,
    check_filter_module,
    is_ecds_document,
    load_document,
)
from ansible_collections.wasm.oci.plugins.module_utils.envoy_update import EnvoyUpdater, FileChange, HealthCheck, UpdateFailed
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmOciError

# Options that belong to one kind only and have no default; giving one with the other kind is a mistake.
_KIND_OPTIONS = {'ecds': ('filter', 'image', 'bootstrap_path'), 'bootstrap': ('node_id', 'upstream')}
_OUTPUT_LINES = 30
LISTENERS_FILE = 'lds.yaml'
CLUSTERS_FILE = 'cds.yaml'


def _read(path: str) -> bytes | None:
    try:
        with open(path, 'rb') as stream:
            return stream.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WasmOciError(f'Cannot read {path}: {exc.strerror}') from None


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every file a task manages, as it is and as it should be, and the main document."""

    files: list[FileChange]
    document: dict | None = None
    # The same configuration as one static bootstrap, for envoy --mode validate.
    validation_text: str | None = None


def _encoded(document: dict | None) -> bytes | None:
    return None if document is None else dump_document(document).encode('utf-8')


class EnvoyConfigWriter:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.dest: str = self.params['dest']
        self.image: dict = self.params['image'] or {}

    def _check_options(self) -> None:
        kind, state = self.params['kind'], self.params['state']
        for other, options in _KIND_OPTIONS.items():
            given = [option for option in options if other != kind and self.params[option] is not None]
            if given:
                raise WasmOciError(f'{", ".join(given)} cannot be used with kind={kind}; they belong to kind={other}')
        if kind == 'ecds' and self.params['filters']:
            raise WasmOciError('filters cannot be used with kind=ecds; it belongs to kind=bootstrap (use filter for the ECDS file)')
        if state == 'absent' and kind != 'ecds':
            raise WasmOciError('state=absent removes an ECDS file and needs kind=ecds; a bootstrap is rewritten, not removed')
        if kind == 'ecds' and state == 'present' and not self.params['filter']:
            raise WasmOciError('filter is required with kind=ecds and state=present')
        if os.path.isdir(self.dest):
            raise WasmOciError(f'dest={self.dest} is a directory; give the path of the file to write')

    def _ecds_document(self) -> dict:
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
            image_root_ids=(self.image.get('runtime') or {}).get('root_ids') if self.image else None,
        )
        if os.path.isfile(wasm.module):
            check_filter_module(wasm.module)
        else:
            self.module.warn(f'The module {wasm.module} of filter {wasm.name} does not exist yet; Envoy will reject the ECDS file until it does')
        return ecds_document(wasm)

    def _check_bootstrap(self) -> None:
        """Refuse, before writing, an ECDS file the existing bootstrap does not use, or removing one it still uses."""
        bootstrap = self.params['bootstrap_path']
        if not bootstrap:
            return
        if not os.path.exists(bootstrap):
            raise WasmOciError(f'The bootstrap {bootstrap} does not exist: give the bootstrap Envoy runs with, or write one with '
                               'kind=bootstrap (envoy_filter_manage_bootstrap=true in the envoy_filter role); nothing was written')
        used = os.path.normpath(self.dest) in bootstrap_ecds_paths(bootstrap)
        if self.params['state'] == 'absent' and used:
            raise WasmOciError(
                f'The bootstrap {bootstrap} still takes a filter from {self.dest}, and Envoy cannot start once the file is gone. '
                f'Remove the filter entry whose config_discovery path_config_source path is {self.dest} from the bootstrap '
                '(or its listener file), restart Envoy, then run this again; nothing was removed'
            )
        if self.params['state'] == 'present' and not used:
            spec = self.params['filter']
            stanza = filter_stanza(filter_reference(spec['name'], self.dest, spec['type']))
            raise WasmOciError(
                f'The bootstrap {bootstrap} does not take filter {spec["name"]} from {self.dest}, so Envoy would never load it; '
                f'nothing was written. Add this entry to the bootstrap (or to its listener file) and restart Envoy:\n{stanza}'
            )

    def _ecds_plan(self) -> Plan:
        if self.params['state'] == 'absent':
            if os.path.exists(self.dest) and not is_ecds_document(load_document(self.dest)):
                raise WasmOciError(f'{self.dest} is not an ECDS file (a list of TypedExtensionConfig resources); nothing was removed')
            # Envoy counts no update when a file goes away: a removal is made, not verified.
            return Plan([FileChange(path, _read(path), None, '', f'ECDS file {path}') for path in (self.dest, self.dest + PREVIOUS_SUFFIX)])
        spec = self.params['filter']
        document = self._ecds_document()
        image = f'image {self.image["digest"]}, ' if self.image.get('digest') else ''
        what = f'config of filter {spec["name"]} ({image}module {spec["module"]})'
        prefix = EnvoyAdmin.stat_prefix(spec['name'], spec['type'])
        return Plan([FileChange(self.dest, _read(self.dest), _encoded(document), prefix, what)], document)

    def _bootstrap_plan(self) -> Plan:
        directory = os.path.dirname(self.dest)
        managed = managed_config(
            node_id=self.params['node_id'],
            cluster=self.params['cluster'],
            admin_address=self.params['admin_address'],
            listener_address=self.params['listener_address'],
            filters=[filter_reference(spec['name'], spec['ecds_path'], spec['type']) for spec in self.params['filters']],
            listeners_path=os.path.join(directory, LISTENERS_FILE),
            clusters_path=os.path.join(directory, CLUSTERS_FILE),
            upstream=self.params['upstream'],
        )
        listener_uses = tuple((EnvoyAdmin.stat_prefix(spec['name'], spec['type']), f'the config of filter {spec["name"]} ({spec["ecds_path"]})')
                              for spec in self.params['filters'])
        # Clusters before the listener that routes to them; the bootstrap last, since Envoy reads it only at start.
        files = [
            (os.path.join(directory, CLUSTERS_FILE), managed.clusters, CLUSTER_UPDATES, 'clusters', ()),
            (os.path.join(directory, LISTENERS_FILE), managed.listeners, LISTENER_UPDATES, 'listeners', listener_uses),
            (self.dest, managed.bootstrap, '', 'bootstrap', ()),
        ]
        return Plan([FileChange(path, _read(path), _encoded(document), prefix, what, uses) for path, document, prefix, what, uses in files],
                    managed.bootstrap, dump_document(managed.validation_bootstrap()))

    def _validate(self, text: str) -> None:
        """Let Envoy check the whole configuration from a temporary file; nothing is replaced until it passes."""
        envoy = self.params['validate_with']
        candidate = os.path.join(self.module.tmpdir, 'envoy-bootstrap.yaml')
        write_atomically(candidate, text.encode('utf-8'))
        try:
            rc, out, err = self.module.run_command([envoy, '--mode', 'validate', '--log-level', 'warn', '-c', candidate])
        finally:
            os.unlink(candidate)
        if rc != 0:
            output = '\n'.join((err + out).replace(candidate, f'{self.dest} (candidate)').strip().splitlines()[-_OUTPUT_LINES:])
            raise WasmOciError(f'{envoy} --mode validate refused the configuration for {self.dest} (exit {rc}):\n{output}')

    def _validate_unless_files_missing(self, text: str) -> None:
        """In check mode the ECDS files of new filters were not written, and Envoy would refuse the bootstrap for that alone."""
        missing = [spec['ecds_path'] for spec in self.params['filters'] if not os.path.exists(spec['ecds_path'])]
        if missing and self.module.check_mode:
            self.module.warn(f'The configuration was not validated: check mode did not write {", ".join(missing)}')
            return
        self._validate(text)

    def _health_check(self) -> HealthCheck | None:
        spec = self.params['health_check']
        if not spec:
            return None
        return HealthCheck(url=spec['url'], status=spec['status'], headers={str(k): str(v) for k, v in spec['headers'].items()},
                           timeout=spec['timeout'])

    def _apply(self, changes: list[FileChange], admin_address: str | None, result: dict) -> None:
        updater = EnvoyUpdater(EnvoyAdmin(admin_address) if admin_address else None, self.params['verify_timeout'])
        try:
            report = updater.apply(changes, self._health_check())
        except UpdateFailed as exc:
            spec = self.params['filter']
            reason = f'. Envoy logs why before "Unable to create Wasm plugin {spec["name"]}"' if spec and exc.rejected else ''
            raise WasmOciError(f'{exc}{reason}') from None
        if report:
            result.update(verified=report.verified, verify_message=report.message)

    def write(self) -> dict:
        self._check_options()
        kind = self.params['kind']
        if kind == 'ecds':
            self._check_bootstrap()
        plan = self._ecds_plan() if kind == 'ecds' else self._bootstrap_plan()
        changes = [change for change in plan.files if change.old != change.new]
        if changes and plan.validation_text and self.params['validate_with']:
            self._validate_unless_files_missing(plan.validation_text)
        result: dict = {'changed': bool(changes), 'dest': self.dest, 'files': [change.path for change in changes]}
        if plan.document is not None:
            result['document'] = plan.document
        verify_address = self.params['verify_admin_address']
        if kind == 'bootstrap':
            current_bootstrap = next(change.old for change in plan.files if change.path == self.dest)
            running_admin = self._running_admin(current_bootstrap)
            result['restart_needed'] = any(change.path == self.dest for change in changes) and running_admin is not None
            verify_address = verify_address and (running_admin or verify_address)
        if changes and not self.module.check_mode:
            self._keep_previous(changes)
            self._apply(changes, verify_address, result)
        for change in plan.files:
            if change.new is not None and os.path.exists(change.path):
                file_args = self.module.load_file_common_arguments(self.params, path=change.path)
                result['changed'] = self.module.set_fs_attributes_if_different(file_args, result['changed'])
        if self.module._diff:
            result['diff'] = [{'before': (change.old or b'').decode('utf-8', errors='replace'), 'after': (change.new or b'').decode('utf-8'),
                               'before_header': change.path, 'after_header': change.path} for change in changes]
        return result

    def _running_admin(self, current_bootstrap: bytes | None) -> str | None:
        """Where the Envoy started with the bootstrap being replaced answers: at the admin address of that bootstrap,
        which may be about to change, or at the one given."""
        try:
            addresses = [admin_address_of(json.loads(current_bootstrap or b'null'))]
        except ValueError:
            addresses = []
        addresses.append(self.params['verify_admin_address'] or self.params['admin_address'])
        return next((address for address in addresses if address and EnvoyAdmin(address).answers()), None)

    def _keep_previous(self, changes: list[FileChange]) -> None:
        """An ECDS file's last version stays beside it: a rollback by hand, and its module is kept when pruning.

        Written before the swap, so that no prune in between can take the module a rollback needs."""
        if self.params['kind'] == 'ecds' and self.params['state'] == 'present' and changes[0].old is not None:
            write_atomically(self.dest + PREVIOUS_SUFFIX, changes[0].old)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            kind=dict(type='str', default='ecds', choices=['ecds', 'bootstrap']),
            state=dict(type='str', default='present', choices=['present', 'absent']),
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
            image=dict(type='dict'),
            bootstrap_path=dict(type='path'),
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
            health_check=dict(
                type='dict',
                options=dict(
                    url=dict(type='str', required=True),
                    status=dict(type='int', default=200),
                    headers=dict(type='dict', default={}),
                    timeout=dict(type='float', default=10.0),
                ),
            ),
        ),
        required_if=[('kind', 'bootstrap', ['node_id'])],
        required_by={'health_check': 'verify_admin_address'},
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
