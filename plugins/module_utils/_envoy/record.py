# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The files of one Envoy that were written but not yet confirmed by it, kept in its configuration directory.

A file is recorded before it is replaced and forgotten once Envoy confirmed it. What stays recorded
(Envoy was stopped, or the run was killed) is checked on the next run against the version Envoy
reports, so no write goes unconfirmed for long. The record holds paths and stat prefixes only.
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.atomic_file import write_atomically
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError

RECORD_FILE = '.wasm-oci-unconfirmed.json'
# Recorded for a managed bootstrap whose admin address changed while Envoy ran: the address the old Envoy answers on.
RESTART_MARK = 'restart-pending, running admin at '


def record_path(config_dir: str) -> str:
    return os.path.join(config_dir, RECORD_FILE)


def read_unconfirmed(config_dir: str) -> dict[str, str]:
    """Unconfirmed files, by path, with the stat prefix under which Envoy counts their updates."""
    path = record_path(config_dir)
    try:
        with open(path, encoding='utf-8') as stream:
            document: t.Any = json.load(stream)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise WasmOciError(f'Cannot read the record of unconfirmed files {path}: {exc}; remove it (the files it named are then '
                           'taken as confirmed) and run again') from None
    files = document.get('unconfirmed') if isinstance(document, dict) else None
    if not isinstance(files, dict) or not all(isinstance(key, str) and isinstance(value, str) for key, value in files.items()):
        raise WasmOciError(f'{path} is not a record of unconfirmed files; remove it (the files it named are then taken as confirmed) and run again')
    return files


def take_pending_restart(files: dict[str, str], bootstrap: str) -> str | None:
    """Remove and return the admin address of an Envoy that had yet to restart with ``bootstrap``, if one is recorded."""
    entry = files.get(bootstrap, '')
    if not entry.startswith(RESTART_MARK):
        return None
    del files[bootstrap]
    return entry[len(RESTART_MARK):]


def write_unconfirmed(config_dir: str, files: dict[str, str]) -> None:
    path = record_path(config_dir)
    if files:
        write_atomically(path, (json.dumps({'unconfirmed': files}, indent=2, sort_keys=True) + '\n').encode('utf-8'), 0o644)
    elif os.path.exists(path):
        os.unlink(path)
