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
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils.envoy_config import (
    TYPED_EXTENSION_CONFIG_TYPE_URL,
    listener_file,
    module_files,
    referenced_ecds_paths,
)
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmModuleError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils.wasm_binary import inspect_wasm

try:
    import yaml
except ImportError:
    HAS_YAML = False
else:
    HAS_YAML = True

# Modules as the envoy_filter role stores them: named by their sha256.
CONTENT_ADDRESSED_MODULE = re.compile(r'[0-9a-f]{64}\.wasm')
PREVIOUS_SUFFIX = '.previous'


def load_document(path: str) -> t.Any:
    """Parse an Envoy file as JSON or, failing that, as YAML."""
    try:
        with open(path, encoding='utf-8') as stream:
            text = stream.read()
    except FileNotFoundError:
        raise WasmOciError(f'{path} does not exist') from None
    except (OSError, UnicodeDecodeError) as exc:
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


def bootstrap_ecds_paths(bootstrap_path: str) -> set[str]:
    """The ECDS files an Envoy started with this bootstrap reads, its listener file included."""
    bootstrap = load_document(bootstrap_path)
    paths = referenced_ecds_paths(bootstrap)
    listeners = listener_file(bootstrap)
    if listeners:
        paths |= referenced_ecds_paths(load_document(listeners))
    return paths


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


def is_ecds_document(document: t.Any) -> bool:
    """Whether ``document`` is a discovery response of extension configs, as an ECDS file holds."""
    resources = document.get('resources') if isinstance(document, dict) else None
    return isinstance(resources, list) and all(
        isinstance(resource, dict) and resource.get('@type') == TYPED_EXTENSION_CONFIG_TYPE_URL for resource in resources)


def stored_modules(wasm_dir: str) -> list[str]:
    """The content-addressed modules in ``wasm_dir`` as real paths (as :func:`modules_in_use` gives them), sorted;
    other files are never listed."""
    try:
        names = sorted(os.listdir(wasm_dir))
    except FileNotFoundError:
        return []
    directory = os.path.realpath(wasm_dir)
    return [os.path.join(directory, name) for name in names if CONTENT_ADDRESSED_MODULE.fullmatch(name)]


def check_filter_module(module_path: str) -> None:
    """Refuse a module Envoy would certainly reject as a proxy-wasm filter, before any file names it.

    This matters most when Envoy is not running: it would load the filter only at start, and answer 500 without it.
    """
    try:
        with open(module_path, 'rb') as stream:
            info = inspect_wasm(stream.read(), module_path)
    except OSError as exc:
        raise WasmOciError(f'Cannot read the module {module_path}: {exc.strerror}') from None
    except WasmModuleError as exc:
        raise WasmOciError(f'Envoy cannot run {module_path} as a filter: {exc}; nothing was written') from None
    if not info.abi_versions:
        raise WasmOciError(f'Envoy cannot run {module_path} as a filter: it exports no proxy_abi_version_* function, so it is '
                           'no proxy-wasm module (Envoy would log "Missing or unknown Proxy-Wasm ABI version"); nothing was written')
