# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Registry credentials from Docker's config.json and its credential helpers."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import DOCKER_HUB
from ansible_collections.wasm.oci.plugins.module_utils._registry.safe_text import printable

# Runs a command with the given standard input; returns (exit code, stdout, stderr).
# Modules pass AnsibleModule.run_command so helpers run the way Ansible runs commands.
CommandRunner = t.Callable[[list[str], str], tuple[int, str, str]]

_DOCKER_HUB_KEYS = ('https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io')


@dataclasses.dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    source: str

    def __repr__(self) -> str:
        return f'Credentials(username={self.username!r}, source={self.source!r})'


def docker_config_path(environ: t.Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    if environ.get('DOCKER_CONFIG'):
        return os.path.join(environ['DOCKER_CONFIG'], 'config.json')
    home = environ.get('HOME') or os.path.expanduser('~')
    return os.path.join(home, '.docker', 'config.json')


def _config_keys(registry: str) -> tuple[str, ...]:
    if registry == DOCKER_HUB:
        return _DOCKER_HUB_KEYS
    return (registry, f'https://{registry}', f'http://{registry}', f'https://{registry}/v1/', f'https://{registry}/v2/')


def _from_helper(helper: str, registry: str, run: CommandRunner) -> Credentials | None:
    command = f'docker-credential-{helper}'
    server = _DOCKER_HUB_KEYS[0] if registry == DOCKER_HUB else registry
    try:
        rc, out, err = run([command, 'get'], server)
    except OSError as exc:
        raise RegistryError(f'Cannot run the Docker credential helper {command} for {registry}: {exc}') from None
    if rc != 0:
        if 'credentials not found' in (out + err).lower():
            return None
        # docker-credential-helpers print their errors on stdout; quoted on one line and shortened.
        raise RegistryError(f'Docker credential helper {command} failed for {registry} (exit {rc}): {printable(err or out)}')
    try:
        answer = json.loads(out)
        return Credentials(answer['Username'], answer['Secret'], command)
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f'Docker credential helper {command} answered for {registry} with something that is not '
                            'a JSON object with Username and Secret') from None


def _from_auths(entry: t.Any, registry: str, config_path: str) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if entry.get('identitytoken'):
        return Credentials('<token>', entry['identitytoken'], config_path)
    if entry.get('username') and entry.get('password'):
        return Credentials(entry['username'], entry['password'], config_path)
    if entry.get('auth'):
        invalid = RegistryError(f'The auth entry for {registry} in {config_path} is not base64 of user:password')
        try:
            username, separator, password = base64.b64decode(entry['auth']).decode('utf-8').partition(':')
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise invalid from None
        if not separator or not username:
            raise invalid
        return Credentials(username, password, config_path)
    return None


def lookup_credentials(registry: str, run: CommandRunner, config_path: str | None = None) -> Credentials | None:
    """Find credentials for ``registry`` the way the Docker CLI does; None means anonymous."""
    config_path = config_path or docker_config_path()
    try:
        with open(config_path, 'rb') as stream:
            config = json.loads(stream.read().decode('utf-8'))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RegistryError(f'Cannot read Docker config {config_path}: {exc}') from None
    if not isinstance(config, dict):
        raise RegistryError(f'Docker config {config_path} must be a JSON object')

    keys = _config_keys(registry)
    helpers = config.get('credHelpers') or {}
    for key in keys:
        if isinstance(helpers, dict) and helpers.get(key):
            return _from_helper(helpers[key], registry, run)
    if config.get('credsStore'):
        found = _from_helper(config['credsStore'], registry, run)
        if found:
            return found
    auths = config.get('auths') or {}
    for key in keys:
        found = _from_auths(auths.get(key) if isinstance(auths, dict) else None, registry, config_path)
        if found:
            return found
    return None
