# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""What ``--diff`` shows of an Envoy change: one line per filter naming the images, then each file, secrets redacted.

Plugin configuration and VM environment values often hold API keys. They are replaced by a
marker that only says whether they changed, and so is the fingerprint in a version, which is a
hash over them.
"""

from __future__ import annotations

import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import dump_document, image_identity
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import parse_document
from ansible_collections.wasm.oci.plugins.module_utils._envoy.transaction import FileChange

REDACTED = '<redacted>'
REDACTED_CHANGED = '<redacted, changed>'


def _secrets(document: t.Any) -> list[t.Any]:
    """The configuration and environment values in ``document``, wherever they sit."""
    found: list[t.Any] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key == 'configuration' or (key == 'environment_variables' and isinstance(value, dict)):
                found.append(value)
            else:
                found += _secrets(value)
    elif isinstance(document, list):
        for item in document:
            found += _secrets(item)
    return found


def _redacted(document: t.Any, marker: str) -> t.Any:
    if isinstance(document, dict):
        copy: dict[str, t.Any] = {}
        for key, value in document.items():
            if key == 'configuration' and isinstance(value, dict) and 'value' in value:
                copy[key] = dict(value, value=marker)
            elif key == 'environment_variables' and isinstance(value, dict):
                copy[key] = {'key_values': dict.fromkeys(value.get('key_values') or {}, marker)}
            elif key == 'version_info' and isinstance(value, str):
                copy[key] = ' '.join([*value.split(' ')[:-1], marker])
            else:
                copy[key] = _redacted(value, marker)
        return copy
    if isinstance(document, list):
        return [_redacted(item, marker) for item in document]
    return document


def _parsed(data: bytes | None, path: str) -> t.Any:
    if data is None:
        return None
    try:
        return parse_document(data, path)
    except WasmOciError:
        return None


def _text(document: t.Any, data: bytes | None) -> str:
    if data is None:
        return ''
    if isinstance(document, dict):
        return dump_document(document)
    return f'({len(data)} bytes that are not an Envoy document)\n'


def file_diff(change: FileChange, show_config: bool) -> dict[str, str]:
    if show_config:
        before, after = (change.old or b'').decode('utf-8', errors='replace'), (change.new or b'').decode('utf-8', errors='replace')
    else:
        old, new = _parsed(change.old, change.path), _parsed(change.new, change.path)
        marker = REDACTED if _secrets(old) == _secrets(new) else REDACTED_CHANGED
        before, after = _text(_redacted(old, REDACTED), change.old), _text(_redacted(new, marker), change.new)
    return {'before': before, 'after': after, 'before_header': change.path, 'after_header': change.path}


def image_line(name: str, change: FileChange) -> str:
    """``filter add_header: registry/add_header:1.0.0 (sha256:...) -> registry/add_header:2.0.0 (sha256:...)``."""
    def described(data: bytes | None) -> str:
        if data is None:
            return '(none)'
        identity = image_identity(_parsed(data, change.path))
        return str(identity) if identity else '(no image named)'
    return f'filter {name}: {described(change.old)} -> {described(change.new)}\n'


def envoy_diff(changes: t.Sequence[FileChange], filter_paths: dict[str, str], show_config: bool) -> list[dict[str, str]]:
    """The diff list: the image of each changed filter (``filter_paths``: name to ECDS path), then every file."""
    by_path = {change.path: change for change in changes}
    lines = ''.join(image_line(name, by_path[path]) for name, path in filter_paths.items() if path in by_path)
    summary = [{'prepared': lines}] if lines else []
    return summary + [file_diff(change, show_config) for change in changes]
