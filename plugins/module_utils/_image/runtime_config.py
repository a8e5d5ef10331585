# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The runtime config of a Wasm image: read every spelling found in the wild, write one.

Canonical form (the spec's table)::

    {"type": "envoy_proxy", "abiVersions": ["proxy_abi_version_0_2_1"],
     "config": {"root_ids": ["add_header"], ...extra runtime config...}}

Also accepted on read: ``abi_versions``, a singular ``abi_version`` string (the spec's
own example; comma-joined lists occur) and camelCase ``config.rootIds``.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RuntimeConfigError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import canonical_json
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import load_json

ENVOY_PROXY = 'envoy_proxy'
_ABI_KEYS = ('abiVersions', 'abi_versions', 'abi_version')
_ROOT_ID_KEYS = ('root_ids', 'rootIds')


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    runtime_type: str | None
    abi_versions: tuple[str, ...] = ()
    root_ids: tuple[str, ...] = ()
    extra_config: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> bytes:
        config = dict(self.extra_config)
        config['root_ids'] = list(self.root_ids)
        document: dict[str, t.Any] = {'abiVersions': list(self.abi_versions), 'config': config}
        if self.runtime_type is not None:
            document['type'] = self.runtime_type
        return canonical_json(document)

    def as_dict(self) -> dict[str, t.Any]:
        """The ``runtime`` part of the image structure every module returns."""
        return {
            'type': self.runtime_type,
            'abi_versions': list(self.abi_versions),
            'root_ids': list(self.root_ids),
            'config': dict(self.extra_config),
        }


def _string_list(value: t.Any, field: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RuntimeConfigError(f'Runtime config in {source}: {field} must be a list of strings, not {json.dumps(value)}')
    return tuple(value)


def _read_abi_versions(document: dict[str, t.Any], source: str) -> tuple[str, ...]:
    for key in _ABI_KEYS:
        if document.get(key) is None:
            continue
        value = document[key]
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(',') if part.strip())
        return _string_list(value, key, source)
    return ()


def parse_runtime_config(data: bytes, source: str) -> RuntimeConfig:
    """Parse a runtime config blob; ``source`` names where it came from for error messages."""
    document = load_json(data, f'Runtime config in {source}', RuntimeConfigError)
    if not isinstance(document, dict):
        raise RuntimeConfigError(f'Runtime config in {source} must be a JSON object, not {type(document).__name__}')

    runtime_type = document.get('type')
    if runtime_type is not None and not isinstance(runtime_type, str):
        raise RuntimeConfigError(f'Runtime config in {source}: type must be a string, not {json.dumps(runtime_type)}')

    config = document.get('config', {})
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise RuntimeConfigError(f'Runtime config in {source}: config must be a JSON object, not {json.dumps(config)}')
    extra_config = {key: value for key, value in config.items() if key not in _ROOT_ID_KEYS}
    root_ids: tuple[str, ...] = ()
    for key in _ROOT_ID_KEYS:
        if key in config:
            root_ids = _string_list(config[key], f'config.{key}', source)
            break

    return RuntimeConfig(
        runtime_type=runtime_type,
        abi_versions=_read_abi_versions(document, source),
        root_ids=root_ids,
        extra_config=extra_config,
    )


def new_runtime_config(
    runtime_type: str,
    abi_versions: t.Sequence[str],
    root_ids: t.Sequence[str],
    extra_config: dict[str, t.Any] | None,
) -> RuntimeConfig:
    """Validate what a user asks to build and return the config to write."""
    if not runtime_type:
        raise RuntimeConfigError('runtime_type must not be empty; use envoy_proxy for Envoy filters')
    if any(not root_id for root_id in root_ids):
        raise RuntimeConfigError('root_ids must not contain empty strings')
    if runtime_type == ENVOY_PROXY and not root_ids:
        raise RuntimeConfigError(
            'root_ids is empty, but an envoy_proxy filter needs at least one: give the root ID(s) the module '
            'registers (Envoy passes one as root_id), for example root_ids: [add_header]'
        )
    extra_config = dict(extra_config or {})
    clashing = sorted(key for key in extra_config if key in _ROOT_ID_KEYS)
    if clashing:
        raise RuntimeConfigError(f'config must not set {", ".join(clashing)}: give root IDs in the root_ids option')
    try:
        canonical_json(extra_config)
    except (TypeError, ValueError) as exc:
        raise RuntimeConfigError(f'config cannot be written as JSON: {exc}') from None
    return RuntimeConfig(
        runtime_type=runtime_type,
        abi_versions=tuple(abi_versions),
        root_ids=tuple(root_ids),
        extra_config=extra_config,
    )
