#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: envoy_wasm_gate
short_description: Judge one Envoy by its own metrics over a window, as the gate of a staged rollout
version_added: 1.0.0
description:
  - Watches the Envoy at O(admin_address) for O(seconds) through its admin interface (C(/stats)) and fails when one of
    the named conditions is broken. It reads the counters at the start of the window, every second or so, and at the
    end, and judges their deltas. Either way it returns what it measured.
  - The requests counted are those of the HTTP connection managers that run O(filters), found in Envoy's
    C(/config_dump) (their C(http.<stat_prefix>.downstream_rq_total) and C(downstream_rq_5xx)); or those of
    O(stat_prefixes). The managed bootstrap of the envoy_filter role uses the stat prefix C(wasm_oci).
  - The Wasm failures counted are, for each Wasm plugin of O(filters) (every plugin without O(filters)), the
    C(wasm.<plugin>.vm_reload_backoff), C(vm_reload_success) and C(vm_reload_failure) counters, and the runtime's
    C(wasm.remote_load_fetch_failures). Envoy 1.40 counts a failed plugin VM only with C(failure_policy=FAIL_RELOAD),
    once for each request that finds it failed. With C(FAIL_CLOSED) a failed VM answers 503, which O(max_5xx_ratio)
    sees; with C(FAIL_OPEN) requests skip the failed filter, and only Envoy's log tells.
  - Wasm failures only grow, so too many of them end the window at once. The 5xx ratio is judged over the whole window.
  - Request counters that go back (Envoy restarted during the window), or an Envoy that stops answering, fail the task,
    since nothing could be judged. Wasm stats that an update of a filter drops and makes again count from 0.
  - The envoy_filter role runs this module on each host it changed when C(envoy_filter_gate) is set, and rolls the host
    back when it fails.
extends_documentation_fragment:
  - wasm.oci.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing was rolled out, so there is nothing to judge. The module checks its options and returns at
        once with RV(judged=false), without asking Envoy.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
options:
  admin_address:
    description: IP address and port of Envoy's admin interface.
    type: str
    default: 127.0.0.1:9901
  seconds:
    description: Length of the window, in seconds.
    type: float
    default: 60
  max_wasm_failures:
    description: The most Wasm failures (the sum of the counters above, over the window) that pass.
    type: int
    default: 0
  max_5xx_ratio:
    description:
      - The highest share of requests answered 5xx over the window that passes, from V(0) to V(1) (V(0.01) is 1 %).
        V(1) never fails.
      - Judged only with at least O(min_requests) requests in the window.
    type: float
    default: 0.01
  min_requests:
    description:
      - The fewest requests in the window with which the gate can judge the 5xx ratio. Fewer is too little traffic, and
        O(insufficient_traffic) says what then.
      - With V(0), and O(max_5xx_ratio=1), no requests are counted, and the filters need no HTTP connection manager.
    type: int
    default: 10
  insufficient_traffic:
    description:
      - With fewer than O(min_requests) requests, V(fail) fails the gate; V(pass) passes it, unless Wasm failures broke
        it, and returns RV(insufficient_traffic=true).
    type: str
    choices: [fail, pass]
    default: fail
  filters:
    description:
      - Names of the filters the gate is about, as their listener entries name them (the filter names of
        M(wasm.oci.envoy_wasm_filters)). Their connection managers' requests and their plugins' failures count.
      - Every one must run in a listener of Envoy. Without it, every Wasm filter of Envoy counts.
    type: list
    elements: str
  stat_prefixes:
    description:
      - The stat prefixes of the HTTP connection managers whose requests count, instead of those found for O(filters).
    type: list
    elements: str
seealso:
  - module: wasm.oci.envoy_wasm_filters
  - module: wasm.oci.envoy_wasm_info
  - name: Envoy's HTTP connection manager statistics
    description: The C(downstream_rq_total) and C(downstream_rq_5xx) counters the 5xx ratio comes from.
    link: https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/stats
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Fail when more than 1 % of two minutes' requests fail, or any Wasm VM fails
  wasm.oci.envoy_wasm_gate:
    admin_address: 127.0.0.1:9901
    seconds: 120
    max_5xx_ratio: 0.01
    max_wasm_failures: 0
    min_requests: 100
    filters: [add_header]

- name: A quiet staging proxy passes without traffic, judged by Wasm failures alone
  wasm.oci.envoy_wasm_gate:
    seconds: 30
    insufficient_traffic: pass
  register: gate

- name: Show what the gate measured
  ansible.builtin.debug:
    msg: "{{ gate.measured.requests }} requests, {{ gate.measured.responses_5xx }} answered 5xx"
"""

RETURN = r"""
judged:
  description: Whether the gate watched Envoy and judged; V(false) in check mode.
  returned: always
  type: bool
  sample: true
passed:
  description: Whether every condition held; V(null) in check mode. When V(false) the task fails.
  returned: always
  type: bool
  sample: false
broken:
  description: Each broken condition, named, with the values measured.
  returned: always
  type: list
  elements: str
  sample: ["max_5xx_ratio: 120 of 120 requests answered 5xx (ratio 1), more than 0.01"]
insufficient_traffic:
  description: Whether the window had fewer than O(min_requests) requests.
  returned: when judged
  type: bool
  sample: false
ended_early:
  description: Whether the window ended before O(seconds) because a condition broke for good.
  returned: when judged
  type: bool
  sample: false
measured:
  description: The deltas over the window; V(null) in check mode.
  returned: always
  type: dict
  contains:
    seconds:
      description: How long the window lasted, from the first sample to the last.
      type: float
    requests:
      description: Requests of the counted connection managers.
      type: int
    responses_5xx:
      description: Of those, the ones answered with a 5xx status.
      type: int
    ratio_5xx:
      description: RV(measured.responses_5xx) over RV(measured.requests); V(null) without requests.
      type: float
    wasm_failures:
      description: The sum of RV(measured.wasm_failure_counters).
      type: int
    wasm_failure_counters:
      description: The delta of each Wasm failure counter Envoy has, by its stat name.
      type: dict
  sample:
    seconds: 120.02
    requests: 5213
    responses_5xx: 2
    ratio_5xx: 0.000384
    wasm_failures: 0
    wasm_failure_counters: {wasm.add_header.vm_reload_backoff: 0, wasm.remote_load_fetch_failures: 0}
stat_prefixes:
  description: The stat prefixes of the connection managers whose requests counted.
  returned: when judged
  type: list
  elements: str
  sample: [wasm_oci]
plugins:
  description: The Wasm plugins whose failures counted; V(null) when every plugin counted (no O(filters)).
  returned: when judged
  type: list
  elements: str
  sample: [add_header]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import EnvoyAdmin
from ansible_collections.wasm.oci.plugins.module_utils._envoy.envoy_view import ECDS_MASK, LISTENERS_MASK
from ansible_collections.wasm.oci.plugins.module_utils._envoy.gate import INSUFFICIENT_TRAFFIC_CHOICES, Conditions, GateError, Scope, scope_of, watch


class EnvoyWasmGate:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def conditions(self) -> Conditions:
        return Conditions(self.params['max_wasm_failures'], self.params['max_5xx_ratio'], self.params['min_requests'],
                          self.params['insufficient_traffic'])

    def scope(self, admin: EnvoyAdmin, conditions: Conditions) -> Scope:
        filters, stat_prefixes = self.params['filters'], self.params['stat_prefixes']
        if stat_prefixes is not None and filters is None:
            # Nothing to find in the config: every Wasm plugin counts.
            scope = Scope(tuple(stat_prefixes))
        else:
            scope = scope_of(admin.config_dump(LISTENERS_MASK), admin.config_dump(ECDS_MASK), filters)
            if stat_prefixes is not None:
                scope = Scope(tuple(stat_prefixes), scope.plugins)
        if conditions.counts_requests and not scope.stat_prefixes:
            raise GateError(f'no HTTP connection manager of the Envoy at {admin.address} runs '
                            f'{"filters " + ", ".join(filters) if filters else "a Wasm filter"}, so there are no requests to count: '
                            'name the connection managers in stat_prefixes, or set max_5xx_ratio to 1 and min_requests to 0')
        return scope

    def judge(self) -> tuple[bool, dict]:
        conditions = self.conditions()
        if self.params['seconds'] <= 0:
            raise GateError(f'seconds must be more than 0, not {self.params["seconds"]}')
        if self.module.check_mode:
            return True, {'changed': False, 'judged': False, 'passed': None, 'broken': [], 'measured': None,
                          'msg': 'check mode: nothing was rolled out, so the gate judged nothing'}
        admin = EnvoyAdmin(self.params['admin_address'])
        if admin.server_info() is None:
            raise GateError(f'nothing listens on {admin.address}: Envoy is stopped, or its admin interface answers on another '
                            'address (admin_address); the gate cannot judge it')
        scope = self.scope(admin, conditions)
        outcome = watch(admin, scope, conditions, self.params['seconds'])
        result = {
            'changed': False,
            'judged': True,
            'passed': outcome.verdict.passed,
            'broken': list(outcome.verdict.broken),
            'insufficient_traffic': outcome.verdict.insufficient_traffic,
            'ended_early': outcome.ended_early,
            'measured': outcome.measured.result(),
            'stat_prefixes': list(scope.stat_prefixes),
            'plugins': None if scope.plugins is None else list(scope.plugins),
        }
        if not outcome.verdict.passed:
            window = f'{outcome.measured.seconds:.1f} s' + (f' (ended early, of {self.params["seconds"]:g} s)' if outcome.ended_early else '')
            result['msg'] = f'Gate failed for the Envoy at {admin.address} after {window}: ' + '; '.join(outcome.verdict.broken)
        return outcome.verdict.passed, result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            admin_address=dict(type='str', default='127.0.0.1:9901'),
            seconds=dict(type='float', default=60),
            max_wasm_failures=dict(type='int', default=0),
            max_5xx_ratio=dict(type='float', default=0.01),
            min_requests=dict(type='int', default=10),
            insufficient_traffic=dict(type='str', choices=list(INSUFFICIENT_TRAFFIC_CHOICES), default='fail'),
            filters=dict(type='list', elements='str'),
            stat_prefixes=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    try:
        passed, result = EnvoyWasmGate(module).judge()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc), judged=False, passed=False, broken=[], measured=None)
    if not passed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
