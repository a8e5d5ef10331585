# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""envoy_wasm_filters' parameters turned into the settings of one run, each checked with a message that says what to fix,
and the options every module that changes an Envoy shares."""

from __future__ import annotations

import grp
import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.deployment import Settings
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import DEFAULT_FAILURE_POLICY, FAILURE_POLICIES, FILTER_TYPES
from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import DEFAULT_CONFIG_DIR, DEFAULT_WASM_DIR, ManagedBootstrap, Paths

FILTER_STATES = ('present', 'absent')


def file_mode(mode: t.Any) -> int:
    try:
        return mode if isinstance(mode, int) else int(str(mode), 8)
    except ValueError:
        raise WasmOciError(f'mode={mode!r} is not an octal file mode such as 0640') from None


def group_id(group: str | None) -> int | None:
    if not group:
        return None
    try:
        return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise WasmOciError(f'group={group}: no such group on this host') from None


def envoy_binary(name: str | None, find_on_path: t.Callable[[str], str | None]) -> str | None:
    """The Envoy binary that validates a managed configuration; asked for and missing is an error, never a skip."""
    if not name:
        return None
    found = find_on_path(name) if os.path.basename(name) == name else (name if os.access(name, os.X_OK) else None)
    if not found:
        raise WasmOciError(f'validate_with={name}: no such Envoy binary on this host, so the configuration cannot be validated; '
                           'install Envoy, give its path, or leave validate_with out; nothing was written')
    return found


def host_paths_argument_spec() -> dict[str, t.Any]:
    """Where one Envoy's files are, the same for every module that changes an Envoy (doc fragment wasm.oci.envoy_host)."""
    return dict(
        config_dir=dict(type='path', default=DEFAULT_CONFIG_DIR),
        wasm_dir=dict(type='path', default=DEFAULT_WASM_DIR),
        bootstrap_path=dict(type='path'),
    )


def paths_from(params: dict[str, t.Any]) -> Paths:
    config_dir = params['config_dir']
    return Paths(config_dir, params['bootstrap_path'] or os.path.join(config_dir, 'envoy.yaml'), params['wasm_dir'])


def settings_from(params: dict[str, t.Any], find_on_path: t.Callable[[str], str | None]) -> Settings:
    managed = params['managed_bootstrap']
    return Settings(
        paths=paths_from(params),
        filters=params['filters'],
        host_pulls=params['host_pulls'],
        controller_pulls=params['controller_pulls'],
        uploads=params['uploaded_modules'] or {},
        managed=ManagedBootstrap(managed['node_id'], managed['cluster'], params['admin_address'], managed['listener_address'],
                                 managed['upstream']) if managed else None,
        admin_address=params['admin_address'],
        envoy_binary=envoy_binary(params['validate_with'], find_on_path) if managed else None,
        verify_timeout=params['verify_timeout'],
        health_check=HealthCheck.from_params(params['health_check']),
        prune=params['prune'],
        purge=params['purge'],
        mode=file_mode(params['mode']),
        group=group_id(params['group']),
    )


def confirmation_argument_spec() -> dict[str, t.Any]:
    """The options that say how Envoy confirms a change, the same for every module that changes an Envoy."""
    return dict(
        admin_address=dict(type='str', default='127.0.0.1:9901'),
        verify_timeout=dict(type='float', default=15.0),
        health_check=dict(type='dict', options=dict(
            url=dict(type='str', required=True),
            status=dict(type='int', default=200),
            headers=dict(type='dict', default={}),
            timeout=dict(type='float', default=10.0),
        )),
    )


def argument_spec() -> dict[str, t.Any]:
    """envoy_wasm_filters' argument spec, beside the code that turns the parameters into settings."""
    return dict(
        **host_paths_argument_spec(),
        filters=dict(type='list', elements='dict', required=True, mutually_exclusive=[('image', 'module')], options=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=list(FILTER_STATES)),
            type=dict(type='str', default='http', choices=list(FILTER_TYPES)),
            image=dict(type='str'),
            sha256=dict(type='str'),
            module=dict(type='path'),
            root_id=dict(type='str'),
            vm_id=dict(type='str'),
            configuration=dict(type='raw', no_log=True),
            environment=dict(type='dict', no_log=True),
            failure_policy=dict(type='str', default=DEFAULT_FAILURE_POLICY, choices=list(FAILURE_POLICIES)),
        )),
        host_pulls=dict(type='list', elements='dict', default=[]),
        controller_pulls=dict(type='list', elements='dict', default=[]),
        uploaded_modules=dict(type='dict'),
        managed_bootstrap=dict(type='dict', options=dict(
            node_id=dict(type='str', required=True),
            cluster=dict(type='str', default='envoy'),
            listener_address=dict(type='str', default='127.0.0.1:10000'),
            upstream=dict(type='str'),
        )),
        validate_with=dict(type='str'),
        **confirmation_argument_spec(),
        prune=dict(type='bool', default=True),
        purge=dict(type='bool', default=False),
        show_config=dict(type='bool', default=False),
        mode=dict(type='raw', default='0640'),
        group=dict(type='str'),
    )
