# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The registry options shared by the modules that talk to registries, and the one place they become a client."""

from __future__ import annotations

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import CommandRunner, Credentials, lookup_credentials
from ansible_collections.wasm.oci.plugins.module_utils._registry.optional_requests import require_requests
from ansible_collections.wasm.oci.plugins.module_utils._registry.sender import RegistryOptions

DEFAULT_TIMEOUT = 30.0


def registry_argument_spec() -> dict[str, dict[str, t.Any]]:
    """Argument spec of the options the wasm.oci.registry doc fragment documents."""
    return dict(
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        validate_certs=dict(type='bool', default=True, aliases=['tls_verify']),
        ca_path=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path', no_log=False),
        plain_http=dict(type='bool', default=False),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
    )


REGISTRY_REQUIRED_TOGETHER = [('username', 'password'), ('client_cert', 'client_key')]


def connect(reference: ImageReference, params: dict[str, t.Any], run: CommandRunner) -> RegistryClient:
    """A client for ``reference``'s registry with the module's options and the best credentials available."""
    if params['timeout'] <= 0:
        raise RegistryError(f'timeout must be a positive number of seconds, not {params["timeout"]}')
    for option in ('ca_path', 'client_cert', 'client_key'):
        if params[option] and not os.path.isfile(params[option]):
            raise RegistryError(f'{option} {params[option]} does not exist or is not a file; give the path of a PEM file')
    options = RegistryOptions(
        validate_certs=params['validate_certs'],
        ca_path=params['ca_path'],
        client_cert=params['client_cert'],
        client_key=params['client_key'],
        plain_http=params['plain_http'],
        timeout=params['timeout'],
    )
    if params['username']:
        credentials: Credentials | None = Credentials(params['username'], params['password'], 'module options')
    else:
        credentials = lookup_credentials(reference.registry, run)
    return RegistryClient(reference, options, credentials)


def registry_client(module: AnsibleModule, reference: ImageReference) -> RegistryClient:
    """A client for ``reference`` from the module's parameters; credential helpers run through run_command."""
    require_requests()
    return connect(reference, module.params, lambda args, data: module.run_command(args, data=data, binary_data=True))
