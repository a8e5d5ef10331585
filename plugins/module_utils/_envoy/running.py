# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Which Envoy a run changes, and whether it runs: read off its bootstrap, proved through its admin interface.

Envoy counts as stopped only when the admin address its bootstrap names refuses connections. An
address that answers must belong to the Envoy started with this bootstrap; a user-owned bootstrap
must name the admin address the run was given. Anything else fails before a file is written.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import EnvoyAdmin, same_envoy
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import admin_address_of, node_id_of, parse_address
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import load_document, read_bytes


def current_bootstrap(path: str, managed: bool) -> t.Any:
    """The bootstrap at ``path`` as a document; a managed one may be missing (None), and is written."""
    if managed and read_bytes(path) is None:
        return None
    if not os.path.exists(path):
        raise WasmOciError(f'The bootstrap {path} does not exist: give the bootstrap Envoy runs with (bootstrap_path), or let '
                           'this collection write one (managed_bootstrap; envoy_filter_manage_bootstrap in the role); nothing was written')
    try:
        return load_document(path)
    except WasmOciError as exc:
        # Without it, nothing tells where this Envoy's admin answers: fail rather than take it for stopped.
        raise WasmOciError(f'{exc}; the bootstrap must be readable to find the Envoy that runs it; nothing was written') from None


def admin_address(bootstrap: t.Any, given: str) -> str:
    """Where the Envoy of ``bootstrap`` answers: the address it names, else (a new managed bootstrap) the one given."""
    return admin_address_of(bootstrap) or given


def running_envoy(bootstrap_path: str, bootstrap: t.Any, given: str, managed_node_id: str | None,
                  previous_admin: str | None = None) -> EnvoyAdmin | None:
    """The admin of the Envoy running this bootstrap; None only when provably nothing runs it.

    ``managed_node_id`` is None for a user-owned bootstrap, whose admin address must be ``given``. ``previous_admin`` is
    where Envoy answered before its managed bootstrap moved the admin address, when it had yet to restart."""
    if managed_node_id is None:
        named = admin_address_of(bootstrap)
        if named is None:
            raise WasmOciError(f'The bootstrap {bootstrap_path} has no admin address (admin.address.socket_address), so '
                               'no change could be confirmed; add one; nothing was written')
        if parse_address(named, 'admin address') != parse_address(given, 'admin_address'):
            raise WasmOciError(f'admin_address {given} is not the admin address {named} that the bootstrap {bootstrap_path} '
                               'names; set it to that address; nothing was written')
    address = admin_address(bootstrap, given)
    if previous_admin and previous_admin != address:
        info = EnvoyAdmin(previous_admin).server_info()
        if info is not None and same_envoy(info, bootstrap_path, node_id_of(bootstrap)):
            raise WasmOciError(f'Envoy still runs the bootstrap from before {bootstrap_path} moved its admin address: it answers on '
                               f'{previous_admin}, not {address}. Restart Envoy so it reads its bootstrap (envoy_filter_service in the '
                               'role), then run again; nothing was changed')
    admin = EnvoyAdmin(address)
    info = admin.server_info()
    if info is None:
        return None
    node_id = node_id_of(bootstrap) if bootstrap is not None else managed_node_id
    if not same_envoy(info, bootstrap_path, node_id):
        started = info['command_line_options'].get('config_path') or '(no file)'
        raise WasmOciError(f'The Envoy answering on {address} was started with {started}, not {bootstrap_path}: it is '
                           'another Envoy, so nothing was changed; give the admin address of this one')
    return admin
