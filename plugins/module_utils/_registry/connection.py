# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The registry connection options shared by the modules that talk to registries."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient, RegistryOptions
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import CommandRunner, Credentials, lookup_credentials

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
