# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""How each Wasm filter of one Envoy host drifts between its files and what Envoy runs, and the table that shows it.

Envoy loads an ECDS file only when one is moved into its place, so a file edited in place stays unloaded: the
file on disk then differs from what Envoy runs, and that is what ``config_changed_on_disk_not_loaded`` reports.
The host's files come from :mod:`host_filters`, Envoy's view from :mod:`envoy_view`; judging them is pure, save for
hashing the module files, which :func:`judge` takes as a function.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import ImageIdentity, image_identity
from ansible_collections.wasm.oci.plugins.module_utils._envoy.envoy_view import EnvoyView, LoadedFilter, accepted_version, ecds_stats, plugin_stats
from ansible_collections.wasm.oci.plugins.module_utils._envoy.filter_resource import module_file
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_filters import FilterFile, HostFiles, module_digest
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import CONTENT_ADDRESSED_MODULE
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference

IN_SYNC = 'in_sync'
CHANGED_ON_DISK = 'config_changed_on_disk_not_loaded'
DIFFERENT_IMAGE = 'different_image'
MISSING = 'missing'
UNMANAGED = 'unmanaged'

# Columns of the table, wide enough for common names, so that the tables of several hosts line up.
TABLE_WIDTHS = (20, 50, 19)


def _without_defaults(value: t.Any) -> t.Any:
    """``value`` as Envoy prints a protobuf message: fields at their default (false, 0, empty) left out."""
    if isinstance(value, dict):
        kept = {key: _without_defaults(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (False, 0, '', [], {}, None)}
    if isinstance(value, list):
        return [_without_defaults(item) for item in value]
    return value


def same_config(on_disk: dict[str, t.Any] | None, loaded: dict[str, t.Any] | None) -> bool:
    """Whether the filter config Envoy runs is the one in the file."""
    if on_disk is None or loaded is None:
        return False
    return bool(_without_defaults(on_disk.get('typed_config')) == _without_defaults(loaded.get('typed_config')))


def same_image(expected: str, identity: ImageIdentity | None) -> bool:
    """Whether ``identity`` is the image ``expected`` names: the same repository, and its tag and digest where it gives them."""
    if identity is None:
        return False
    try:
        wanted, running = parse_reference(expected), parse_reference(identity.reference)
    except InvalidReferenceError:
        return expected == identity.reference
    if (wanted.registry, wanted.repository) != (running.registry, running.repository):
        return False
    if wanted.digest and wanted.digest != identity.digest:
        return False
    return wanted.tag is None or wanted.tag == running.tag


def check_expected(expected: t.Sequence[dict[str, t.Any]] | None) -> dict[str, str]:
    """The expected image of each filter, by name; every image must be a reference."""
    images: dict[str, str] = {}
    for entry in expected or []:
        name, image = entry['name'], entry['image']
        if name in images:
            raise WasmOciError(f'expected names filter {name} twice; name each filter once')
        try:
            parse_reference(image)
        except InvalidReferenceError as exc:
            raise WasmOciError(f'expected: filter {name}: {exc}') from None
        images[name] = image
    return images


class _Judge:
    def __init__(self, host: HostFiles, envoy: EnvoyView, expected: dict[str, str], digests: t.Callable[[str | None], str | None]) -> None:
        self.host = host
        self.envoy = envoy
        self.expected = expected
        self.digests = digests

    def envoy_report(self, name: str, filter_type: str | None, plugin: str, loaded: LoadedFilter | None,
                     same_as_file: bool | None) -> dict[str, t.Any] | None:
        """What Envoy reports about one filter; None when Envoy does not answer."""
        if not self.envoy.available:
            return None
        stats = self.envoy.stats
        counters = ecds_stats(stats, name, filter_type) if loaded is None or loaded.from_ecds else {}
        version = loaded.version if loaded is not None and loaded.from_ecds else accepted_version(stats, name, filter_type)
        return {
            'loaded': loaded is not None,
            'same_as_file': same_as_file,
            'version': version,
            'image': _image(image_identity({'version_info': version})),
            'last_updated': loaded.last_updated if loaded is not None else None,
            'last_file_rejected': loaded.rejected if loaded is not None else False,
            'update_success': counters.get('update_success'),
            'update_rejected': counters.get('update_rejected'),
            'ecds_stats': counters,
            'plugin_stats': plugin_stats(stats, plugin),
        }

    def file_entry(self, read: FilterFile) -> dict[str, t.Any]:
        loaded = self.envoy.ecds.get(read.name)
        runs = (self.envoy.available and loaded is not None and not loaded.rejected and loaded.version == read.version
                and same_config(read.resource, loaded.resource))
        digest = self.digests(read.module)
        drift, reason = self._drift(read, loaded, runs, digest)
        # Envoy runs the file as envoy_wasm_filters wrote it; whether that is the expected image is the drift's business.
        entry = _entry(read.name, read.filter_type, read.identity, digest, runs and drift in (IN_SYNC, DIFFERENT_IMAGE), drift, reason)
        entry.update(file=read.path, module=read.module,
                     envoy=self.envoy_report(read.name, read.filter_type, read.plugin, loaded, runs if loaded is not None else None))
        return entry

    def _drift(self, read: FilterFile, loaded: LoadedFilter | None, runs: bool, digest: str | None) -> tuple[str, str | None]:
        if read.written is None:
            return UNMANAGED, read.problem or (f'{read.path} was not written by envoy_wasm_filters (its version_info names no '
                                               'fingerprint of its content)' + ('; Envoy runs it' if runs else ''))
        if read.problem:
            return CHANGED_ON_DISK, read.problem
        if read.written is False:
            loaded_how = 'runs the edit, which no rollout confirmed' if runs else \
                'rejected it (see update_rejected) and runs the config from before' if loaded is not None and loaded.rejected else 'has not loaded it'
            return CHANGED_ON_DISK, f'{read.path} was changed by hand after envoy_wasm_filters wrote it; Envoy {loaded_how}'
        problem = self._module_problem(read, digest)
        if problem:
            return CHANGED_ON_DISK, problem
        if self.envoy.available and not runs:
            return CHANGED_ON_DISK, self._not_loaded(read, loaded)
        if not self.envoy.available and os.path.realpath(read.path) in self.host.unconfirmed:
            return CHANGED_ON_DISK, (f'{read.path} was written by envoy_wasm_filters while Envoy did not confirm it, and Envoy does '
                                     f'not answer now ({self.envoy.error})')
        expected = self.expected.get(read.name)
        if expected is not None and not same_image(expected, read.identity):
            return DIFFERENT_IMAGE, f'expected {expected}; the host has {read.identity or "no image, a module file"}'
        return IN_SYNC, None if self.envoy.available else f'judged from the files alone: {self.envoy.error}'

    @staticmethod
    def _module_problem(read: FilterFile, digest: str | None) -> str | None:
        if read.module is None:
            return None
        if digest is None:
            return f'the module {read.module} is missing or unreadable: Envoy cannot load filter {read.name} again (a restart fails it)'
        base = os.path.basename(read.module)
        if CONTENT_ADDRESSED_MODULE.fullmatch(base) and digest != 'sha256:' + base[:-len('.wasm')]:
            return f'the module {read.module} was changed on disk: its sha256 is {digest}, not the one its name gives'
        return None

    def _not_loaded(self, read: FilterFile, loaded: LoadedFilter | None) -> str:
        if loaded is not None and loaded.rejected:
            return (f'Envoy rejected {read.path} (see update_rejected) and runs version {loaded.version} of filter {read.name}, '
                    'from before; Envoy logs why')
        if loaded is None:
            if os.path.realpath(read.path) not in self.envoy.referenced:
                return f'Envoy does not load {read.path}: no listener of it takes filter {read.name} from that file'
            return f'Envoy takes filter {read.name} from {read.path} but runs no config of it: it rejected the file (see update_rejected)'
        if loaded.version != read.version:
            return f'Envoy runs version {loaded.version} of filter {read.name}, not the file\'s {read.version}: it rejected the file, or has yet to read it'
        return (f'{read.path} was changed in place: Envoy still runs the config from before (it reloads an ECDS file only when '
                'a new one is moved into place)')

    def envoy_only_entry(self, loaded: LoadedFilter) -> dict[str, t.Any]:
        identity = image_identity({'version_info': loaded.version})
        module = module_file(loaded.resource)
        path = self.host.ecds(loaded.name)
        if loaded.from_ecds and os.path.realpath(path) in self.envoy.referenced:
            # Envoy keeps running what it read, but cannot start again with a bootstrap that names a file that is gone.
            drift, reason = CHANGED_ON_DISK, f'{path} was removed; Envoy still runs the config it read from it, and cannot restart without it'
        else:
            where = 'an ECDS file outside this config_dir' if loaded.from_ecds else 'inline in a listener'
            expected = f'; expected {self.expected[loaded.name]} here' if loaded.name in self.expected else ''
            drift, reason = UNMANAGED, f'Envoy runs Wasm filter {loaded.name} from {where}, not from a file envoy_wasm_filters wrote{expected}'
        entry = _entry(loaded.name, loaded.filter_type, identity, self.digests(module), False, drift, reason)
        entry.update(file=None, module=module, envoy=self.envoy_report(loaded.name, loaded.filter_type, loaded.plugin, loaded, None))
        return entry


def _image(identity: ImageIdentity | None) -> dict[str, str | None]:
    return {'reference': identity.reference if identity else None, 'digest': identity.digest if identity else None}


def _entry(name: str, filter_type: str | None, identity: ImageIdentity | None, digest: str | None, confirmed: bool, drift: str,
           reason: str | None) -> dict[str, t.Any]:
    return {'name': name, 'type': filter_type, 'image': _image(identity), 'module_digest': digest, 'confirmed': confirmed,
            'drift': drift, 'drift_reason': reason}


def judge(host: HostFiles, envoy: EnvoyView, expected: dict[str, str],
          digests: t.Callable[[str | None], str | None] = module_digest) -> list[dict[str, t.Any]]:
    """Every Wasm filter of the host, with its drift: the ECDS files (by name), then the Wasm filters Envoy runs from
    elsewhere, then the expected filters the host lacks. ``digests`` gives the sha256 of a module file."""
    judged = _Judge(host, envoy, expected, digests)
    entries = [judged.file_entry(read) for read in host.files]
    names = {read.name for read in host.files}
    elsewhere = [loaded for name, loaded in sorted(envoy.ecds.items()) if name not in names and loaded.filter_type] + envoy.inline
    entries += [judged.envoy_only_entry(loaded) for loaded in elsewhere]
    names |= {loaded.name for loaded in elsewhere}
    for name, image in expected.items():
        if name not in names:
            entry = _entry(name, None, None, None, False, MISSING, f'expected {image}; the host has no ECDS file of filter {name}')
            entry.update(file=None, module=None, envoy=None)
            entries.append(entry)
    for entry in entries:
        if entry['name'] in expected:
            entry['expected_image'] = expected[entry['name']]
    return entries


def _short_digest(digest: str | None) -> str:
    return digest[:len('sha256:') + 12] if digest else '-'


def table_lines(filters: t.Sequence[dict[str, t.Any]], envoy: EnvoyView) -> list[str]:
    """One line per filter: name, image, short manifest digest and state, in columns of TABLE_WIDTHS."""
    name_width, image_width, digest_width = TABLE_WIDTHS
    suffix = '' if envoy.available else ', Envoy not answering'
    lines = []
    for entry in filters:
        state = entry['drift']
        if state in (DIFFERENT_IMAGE, MISSING):
            state += f' (expected {entry["expected_image"]})'
        lines.append(f'{entry["name"]:<{name_width}} {entry["image"]["reference"] or "-":<{image_width}} '
                     f'{_short_digest(entry["image"]["digest"]):<{digest_width}} {state}{suffix}')
    if not lines:
        lines.append(f'{"-":<{name_width}} {"-":<{image_width}} {"-":<{digest_width}} no Wasm filters{suffix}')
    return lines
