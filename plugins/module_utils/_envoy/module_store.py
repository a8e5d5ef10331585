# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The module store of an Envoy: ``<wasm_dir>/<sha256>.wasm``, one file per module version, never overwritten.

A file Envoy may be loading is never replaced. Modules are stored and pruned under the Envoy's
lock, so a run never prunes a module another run has just stored; a module no ECDS file (nor its
kept previous version) names is removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.atomic_file import atomic_writer
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmModuleError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import inspect_wasm

CONTENT_ADDRESSED_MODULE = re.compile(r'[0-9a-f]{64}\.wasm')
# Where a host keeps the module it pulled of one image (named by the manifest digest the reference pins, else by the sha256
# of the reference), beside the store.
PULLED_COPY = re.compile(r'\.[0-9a-f]{64}\.pulled\.wasm')
_CHUNK = 1024 * 1024


def module_store_path(wasm_dir: str, digest: str) -> str:
    """Where a module with sha256 ``digest`` is stored: ``<wasm_dir>/<hex>.wasm``, never overwritten while Envoy may read it."""
    hex_digest = digest[len('sha256:'):] if digest.startswith('sha256:') else ''
    if not CONTENT_ADDRESSED_MODULE.fullmatch(hex_digest + '.wasm'):
        raise WasmOciError(f'{digest!r} is no sha256 digest of a module')
    return os.path.join(wasm_dir, hex_digest + '.wasm')


def stored_modules(wasm_dir: str) -> list[str]:
    """The content-addressed modules in ``wasm_dir`` as real paths (as :func:`modules_in_use` gives them), sorted;
    other files are never listed."""
    try:
        names = sorted(os.listdir(wasm_dir))
    except FileNotFoundError:
        return []
    directory = os.path.realpath(wasm_dir)
    return [os.path.join(directory, name) for name in names if CONTENT_ADDRESSED_MODULE.fullmatch(name)]


def unused_modules(wasm_dir: str, in_use: t.AbstractSet[str]) -> list[str]:
    """The stored modules (real paths) that are not ``in_use``."""
    return [path for path in stored_modules(wasm_dir) if path not in in_use]


def stale_pulled_copies(wasm_dir: str, current: t.AbstractSet[str]) -> list[str]:
    """The copies pulled on this host (real paths) that are not ``current``: their images are no filter's any more."""
    try:
        names = sorted(os.listdir(wasm_dir))
    except FileNotFoundError:
        return []
    directory = os.path.realpath(wasm_dir)
    return [os.path.join(directory, name) for name in names
            if PULLED_COPY.fullmatch(name) and os.path.join(directory, name) not in current]


def store_module(source: str, path: str, digest: str) -> None:
    """Copy the module ``source`` to ``path`` in the store, atomically, refusing it unless its sha256 is ``digest``."""
    hasher = hashlib.sha256()
    try:
        with open(source, 'rb') as stream, atomic_writer(path, 0o644) as target:
            for chunk in iter(lambda: stream.read(_CHUNK), b''):
                hasher.update(chunk)
                target.write(chunk)
            if f'sha256:{hasher.hexdigest()}' != digest:
                raise WasmOciError(f'{source} is not the module {digest} (its sha256 is {hasher.hexdigest()}); pull it again; '
                                   'nothing was written')
    except OSError as exc:
        raise WasmOciError(f'Cannot store the module {source} as {path}: {exc.strerror}') from None


def check_filter_module(module_path: str) -> None:
    """Refuse a module Envoy would certainly reject as a proxy-wasm filter, before any file names it.

    This matters most when Envoy is not running: it would load the filter only at start, and answer 500 without it.
    """
    try:
        with open(module_path, 'rb') as stream:
            data = stream.read()
        info = inspect_wasm(data, module_path)
    except OSError as exc:
        raise WasmOciError(f'Cannot read the module {module_path}: {exc.strerror}') from None
    except WasmModuleError as exc:
        raise WasmOciError(f'Envoy cannot run {module_path} as a filter: {exc}; nothing was written') from None
    name = os.path.basename(module_path)
    if CONTENT_ADDRESSED_MODULE.fullmatch(name) and hashlib.sha256(data).hexdigest() != name[:-len('.wasm')]:
        raise WasmOciError(f'The module {module_path} is damaged: its sha256 is not the one its name gives; remove it and run '
                           'again to store it anew; nothing was written')
    if not info.abi_versions:
        raise WasmOciError(f'Envoy cannot run {module_path} as a filter: it exports no proxy_abi_version_* function, so it is '
                           'no proxy-wasm module (Envoy would log "Missing or unknown Proxy-Wasm ABI version"); nothing was written')
