# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Read the Envoy files already on a host: bootstraps, listener files and ECDS files.

The files this collection writes are JSON, which needs nothing beyond Python. Files
people write are usually YAML, which needs PyYAML on the host; this is the one place
that imports it.
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import (
    TYPED_EXTENSION_CONFIG_TYPE_URL,
    listener_file,
    module_files,
    referenced_ecds_paths,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.optional_yaml import HAS_YAML, yaml

PREVIOUS_SUFFIX = '.previous'
ECDS_SUFFIX = '.yaml'


def read_bytes(path: str) -> bytes | None:
    """The bytes of ``path``, or None when there is no such file."""
    try:
        with open(path, 'rb') as stream:
            return stream.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WasmOciError(f'Cannot read {path}: {exc.strerror}') from None


def load_document(path: str) -> t.Any:
    """Parse an Envoy file as JSON or, failing that, as YAML."""
    data = read_bytes(path)
    if data is None:
        raise WasmOciError(f'{path} does not exist')
    return parse_document(data, path)


def parse_document(data: bytes, path: str) -> t.Any:
    """Parse the bytes of the Envoy file at ``path`` as JSON or, failing that, as YAML."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise WasmOciError(f'Cannot read {path}: {exc}') from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    if not HAS_YAML:
        raise WasmOciError(f'{path} is not JSON, and reading YAML needs PyYAML on this host: install python3-yaml (or PyYAML for the Python Ansible uses)')
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WasmOciError(f'{path} is neither JSON nor YAML: {exc}') from None


def bootstrap_ecds_paths(bootstrap: t.Any) -> set[str]:
    """The ECDS files an Envoy started with this bootstrap reads, its listener file included, as real paths."""
    paths = referenced_ecds_paths(bootstrap)
    listeners = listener_file(bootstrap)
    if listeners:
        paths |= referenced_ecds_paths(load_document(listeners))
    return {os.path.realpath(path) for path in paths}


def _is_ecds_file(name: str) -> bool:
    base = name[:-len(PREVIOUS_SUFFIX)] if name.endswith(PREVIOUS_SUFFIX) else name
    return not name.startswith('.') and base.endswith(('.yaml', '.yml', '.json'))


def modules_in_use(ecds_dir: str) -> set[str]:
    """Every module an ECDS file in ``ecds_dir`` names, or its kept previous version does, as real paths."""
    try:
        names = sorted(os.listdir(ecds_dir))
    except FileNotFoundError:
        return set()
    used: set[str] = set()
    for name in names:
        path = os.path.join(ecds_dir, name)
        if _is_ecds_file(name) and os.path.isfile(path):
            used |= {os.path.realpath(module) for module in module_files(load_document(path))}
    return used


def ecds_file_names(ecds_dir: str) -> list[str]:
    """The filters with an ECDS file (``<name>.yaml``) in ``ecds_dir``, sorted."""
    try:
        names = sorted(os.listdir(ecds_dir))
    except FileNotFoundError:
        return []
    return [name[:-len(ECDS_SUFFIX)] for name in names
            if name.endswith(ECDS_SUFFIX) and not name.startswith('.') and os.path.isfile(os.path.join(ecds_dir, name))]


def is_ecds_document(document: t.Any) -> bool:
    """Whether ``document`` is a discovery response of extension configs, as an ECDS file holds."""
    resources = document.get('resources') if isinstance(document, dict) else None
    return isinstance(resources, list) and all(
        isinstance(resource, dict) and resource.get('@type') == TYPED_EXTENSION_CONFIG_TYPE_URL for resource in resources)
