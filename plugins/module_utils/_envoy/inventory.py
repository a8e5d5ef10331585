# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Every Wasm filter of one Envoy host: as its files name it, as Envoy itself reports it, and how the two drift.

The files are those envoy_wasm_filters writes: one ECDS file per filter, whose ``version_info`` names the image
and manifest digest and ends with a fingerprint of the rest of the file, and the record of the files Envoy has
not confirmed yet. Envoy's view comes from its admin interface: the filter configs it runs and when each came
(``/config_dump``), the counters of each ECDS file, and the Wasm stats Envoy 1.40 keeps (per plugin
``wasm.<plugin>.vm_reload*``, per runtime ``wasm.envoy.wasm.runtime.<runtime>.created`` and ``active``).

Envoy loads an ECDS file only when one is moved into its place, so a file edited in place stays unloaded: the
file on disk then differs from what Envoy runs, and that is what ``config_changed_on_disk_not_loaded`` reports.
Reading is split from judging: :func:`read_host` and :func:`ask_envoy` read, :func:`judge` and
:func:`table_lines` are pure. Nothing here writes.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import hashlib
import os
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import AdminError, EnvoyAdmin, stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import (
    WASM_TYPE_URLS,
    ImageIdentity,
    image_identity,
    module_files,
    referenced_ecds_paths,
    with_version,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import ecds_file_names, parse_document, read_bytes
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import CONTENT_ADDRESSED_MODULE
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import read_unconfirmed
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference

IN_SYNC = 'in_sync'
CHANGED_ON_DISK = 'config_changed_on_disk_not_loaded'
DIFFERENT_IMAGE = 'different_image'
MISSING = 'missing'
UNMANAGED = 'unmanaged'

# One /stats request brings every stat this report reads.
WASM_STATS = r'^(extension_config_discovery\.|wasm\.)'
RUNTIME_STATS = 'wasm.envoy.wasm.runtime.'
ECDS_MASK = 'ecds_filters'
LISTENERS_MASK = 'dynamic_listeners,static_listeners'
# The version_info envoy_wasm_filters writes: [<reference> <manifest digest> ]<fingerprint of the rest of the file>.
_WRITTEN_VERSION = re.compile(r'(\S+ sha256:[0-9a-f]{64} )?[0-9a-f]{16}')
_WASM_TYPES = {url: filter_type for filter_type, url in WASM_TYPE_URLS.items()}
_CHUNK = 1024 * 1024
# Columns of the table, wide enough for common names, so that the tables of several hosts line up.
TABLE_WIDTHS = (20, 50, 19)


@dataclasses.dataclass(frozen=True)
class FilterFile:
    """One ECDS file of the host, as read; ``problem`` says why it could not be.

    ``written`` is True when its content is what envoy_wasm_filters wrote (its version_info fingerprints the rest),
    False when it is in that form but was changed since, None when envoy_wasm_filters never wrote it (or it is unreadable).
    """

    name: str
    path: str
    resource: dict[str, t.Any] | None = None
    version: str | None = None
    written: bool | None = None
    problem: str | None = None

    @property
    def filter_type(self) -> str | None:
        return _filter_type(self.resource)

    @property
    def identity(self) -> ImageIdentity | None:
        return image_identity({'version_info': self.version})

    @property
    def module(self) -> str | None:
        return _module(self.resource)

    @property
    def plugin(self) -> str:
        return _plugin(self.resource) or self.name


@dataclasses.dataclass(frozen=True)
class HostFiles:
    """The ECDS files in ``<config_dir>/ecds``, and which of them Envoy has not confirmed yet (as real paths)."""

    config_dir: str
    files: list[FilterFile]
    unconfirmed: frozenset[str] = frozenset()

    def ecds(self, name: str) -> str:
        # Only the ECDS files are read here; the bootstrap and the module store do not matter.
        return Paths(self.config_dir, bootstrap='', wasm_dir='').ecds(name)


@dataclasses.dataclass(frozen=True)
class LoadedFilter:
    """A Wasm filter config Envoy runs: from ECDS (with its version and when it came), or inline in a listener.

    /config_dump shows the last ECDS config Envoy read even when it rejected it. Then ``rejected`` is set: Envoy
    runs the config from before, of which only its stats tell the version and time.
    """

    name: str
    resource: dict[str, t.Any]
    version: str | None = None
    last_updated: str | None = None
    from_ecds: bool = True
    rejected: bool = False

    @property
    def filter_type(self) -> str | None:
        return _filter_type(self.resource)

    @property
    def plugin(self) -> str:
        return _plugin(self.resource) or self.name


@dataclasses.dataclass(frozen=True)
class EnvoyView:
    """What the Envoy at ``address`` reports; ``error`` says why it reports nothing."""

    address: str
    error: str | None = None
    server: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    ecds: dict[str, LoadedFilter] = dataclasses.field(default_factory=dict)
    inline: list[LoadedFilter] = dataclasses.field(default_factory=list)
    # The ECDS files Envoy's listeners take filters from, as real paths.
    referenced: frozenset[str] = frozenset()
    stats: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.error is None

    def result(self) -> dict[str, t.Any]:
        return {
            'address': self.address,
            'available': self.available,
            'error': self.error,
            'version': self.server.get('version'),
            'config_path': (self.server.get('command_line_options') or {}).get('config_path'),
            'node_id': (self.server.get('node') or {}).get('id') if isinstance(self.server.get('node'), dict) else None,
            'wasm_runtime_stats': _stats_under(self.stats, RUNTIME_STATS, nested=True),
        }


def _filter_type(resource: dict[str, t.Any] | None) -> str | None:
    typed_config = (resource or {}).get('typed_config')
    return _WASM_TYPES.get(typed_config.get('@type')) if isinstance(typed_config, dict) else None


def _plugin_config(resource: dict[str, t.Any] | None) -> dict[str, t.Any]:
    typed_config = (resource or {}).get('typed_config')
    config = typed_config.get('config') if isinstance(typed_config, dict) else None
    return config if isinstance(config, dict) else {}


def _plugin(resource: dict[str, t.Any] | None) -> str | None:
    name = _plugin_config(resource).get('name')
    return name if isinstance(name, str) and name else None


def _module(resource: dict[str, t.Any] | None) -> str | None:
    found = sorted(module_files(_plugin_config(resource)))
    return found[0] if found else None


def _resource_named(document: t.Any, name: str) -> dict[str, t.Any] | None:
    """The resource of an ECDS file: the one named as the file, else its only one."""
    resources = document.get('resources') if isinstance(document, dict) else None
    resources = [item for item in resources if isinstance(item, dict)] if isinstance(resources, list) else []
    return next((item for item in resources if item.get('name') == name), resources[0] if len(resources) == 1 else None)


def read_filter_file(path: str, name: str) -> FilterFile:
    """The ECDS file at ``path`` of filter ``name``."""
    try:
        data = read_bytes(path)
        document = parse_document(data, path) if data is not None else None
    except WasmOciError as exc:
        # Most likely a file envoy_wasm_filters wrote (in its directory) that an edit broke.
        return FilterFile(name, path, written=False, problem=str(exc))
    if data is None:
        return FilterFile(name, path, written=False, problem=f'{path} vanished while it was read')
    version = document.get('version_info') if isinstance(document, dict) else None
    version = version if isinstance(version, str) else None
    # The fingerprint covers everything but version_info, so any edit of the config shows.
    written = with_version(document, image_identity(document))['version_info'] == version \
        if version is not None and _WRITTEN_VERSION.fullmatch(version) else None
    resource = _resource_named(document, name)
    if resource is None:
        return FilterFile(name, path, version=version, written=written, problem=f'{path} holds no ECDS resource named {name}')
    return FilterFile(str(resource.get('name') or name), path, resource, version, written)


def read_host(config_dir: str) -> HostFiles:
    """The ECDS files in ``<config_dir>/ecds`` and the record of the ones Envoy has not confirmed yet."""
    ecds_dir = Paths(config_dir, bootstrap='', wasm_dir='').ecds_dir
    host = HostFiles(config_dir, [])
    files = [read_filter_file(host.ecds(name), name) for name in ecds_file_names(ecds_dir)]
    return HostFiles(config_dir, files, frozenset(os.path.realpath(path) for path in read_unconfirmed(config_dir)))


def module_digest(path: str | None) -> str | None:
    """The sha256 of the module file at ``path``; None when there is none or it cannot be read."""
    if not path:
        return None
    hasher = hashlib.sha256()
    try:
        with open(path, 'rb') as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b''):
                hasher.update(chunk)
    except OSError:
        return None
    return 'sha256:' + hasher.hexdigest()


def ask_envoy(admin: EnvoyAdmin) -> EnvoyView:
    """What the Envoy at ``admin`` reports; a view with only an ``error`` when it does not answer as Envoy."""
    try:
        info = admin.server_info()
        if info is None:
            return EnvoyView(admin.address, error=f'nothing listens on {admin.address}: Envoy is stopped, or its admin '
                                                  'interface answers on another address (admin_address)')
        stats = admin.stats(WASM_STATS)
        ecds = admin.config_dump(ECDS_MASK)
        listeners = admin.config_dump(LISTENERS_MASK)
    except AdminError as exc:
        return EnvoyView(admin.address, error=str(exc))
    return envoy_view(admin.address, info, stats, ecds, listeners)


def envoy_view(address: str, info: dict[str, t.Any], stats: dict[str, t.Any], ecds: list[dict[str, t.Any]],
               listeners: list[dict[str, t.Any]]) -> EnvoyView:
    """Envoy's answers read into a view: the ECDS filter configs by name, the Wasm filters inline in listeners."""
    loaded: dict[str, LoadedFilter] = {}
    for config in ecds:
        for entry in config.get('ecds_filters') or []:
            resource = entry.get('ecds_filter') if isinstance(entry, dict) else None
            if isinstance(resource, dict) and isinstance(resource.get('name'), str):
                loaded.setdefault(resource['name'], _ecds_filter(resource, entry, stats))
    inline: dict[tuple[str, str], LoadedFilter] = {}
    for item in _objects(listeners):
        if isinstance(item.get('name'), str) and _filter_type(item):
            found = LoadedFilter(item['name'], item, from_ecds=False)
            # A listener being replaced shows its filters twice (active and warming or draining).
            inline.setdefault((found.name, found.plugin), found)
    referenced = frozenset(os.path.realpath(path) for path in referenced_ecds_paths(listeners))
    return EnvoyView(address, None, info, loaded, sorted(inline.values(), key=lambda found: (found.plugin, found.name)), referenced, stats)


def _ecds_filter(resource: dict[str, t.Any], entry: dict[str, t.Any], stats: dict[str, t.Any]) -> LoadedFilter:
    name, filter_type = resource['name'], _filter_type(resource)
    version, last_updated = _text(entry.get('version_info')), _text(entry.get('last_updated'))
    counters = _stats_under(stats, stat_prefix(name, filter_type)) if filter_type else {}
    # Envoy stamps the dump just before it applies a config, and update_time once it applied one: a dump newer than the
    # last success is a config Envoy rejected.
    read_at, applied_at = _epoch_ms(last_updated), counters.get('update_time', 0)
    if counters.get('update_rejected') and read_at is not None and read_at > applied_at:
        accepted = stats.get(stat_prefix(name, filter_type) + 'version_text') if filter_type else None
        return LoadedFilter(name, resource, _text(accepted) or None, _iso(applied_at) if applied_at else None, rejected=True)
    return LoadedFilter(name, resource, version, last_updated)


_TIMESTAMP = re.compile(r'(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z')


def _epoch_ms(timestamp: str | None) -> int | None:
    """Milliseconds since the epoch of a protobuf Timestamp in JSON (``2026-05-01T10:00:00.123Z``)."""
    found = _TIMESTAMP.fullmatch(timestamp or '')
    if not found:
        return None
    seconds = calendar.timegm(tuple(int(part) for part in found.groups()[:6]) + (0, 0, 0))
    return seconds * 1000 + int((found.group(7) or '0').ljust(3, '0')[:3])


def _iso(epoch_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{epoch_ms % 1000:03d}Z'


def _text(value: t.Any) -> str | None:
    return value if isinstance(value, str) else None


def _objects(document: t.Any) -> t.Iterator[dict[str, t.Any]]:
    if isinstance(document, dict):
        yield document
        for value in document.values():
            yield from _objects(value)
    elif isinstance(document, list):
        for value in document:
            yield from _objects(value)


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
    return _without_defaults(on_disk.get('typed_config')) == _without_defaults(loaded.get('typed_config'))


def _stats_under(stats: dict[str, t.Any], prefix: str, nested: bool = False) -> dict[str, int]:
    """The integer stats under ``prefix``, by the rest of their name; without ``nested``, only direct children (a plugin
    named like a runtime must not take the runtime's stats)."""
    found = {}
    for name, value in stats.items():
        rest = name[len(prefix):]
        if name.startswith(prefix) and (nested or '.' not in rest) and isinstance(value, int) and not isinstance(value, bool):
            found[rest] = value
    return found


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
        ecds_stats = _stats_under(self.envoy.stats, stat_prefix(name, filter_type)) if filter_type and (loaded is None or loaded.from_ecds) else {}
        version_text = self.envoy.stats.get(stat_prefix(name, filter_type) + 'version_text') if filter_type else None
        version = loaded.version if loaded is not None and loaded.from_ecds else _text(version_text) or None
        return {
            'loaded': loaded is not None,
            'same_as_file': same_as_file,
            'version': version,
            'image': _image(image_identity({'version_info': version})),
            'last_updated': loaded.last_updated if loaded is not None else None,
            'last_file_rejected': loaded.rejected if loaded is not None else False,
            'update_success': ecds_stats.get('update_success'),
            'update_rejected': ecds_stats.get('update_rejected'),
            'ecds_stats': ecds_stats,
            'plugin_stats': _stats_under(self.envoy.stats, f'wasm.{plugin}.'),
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
        module = _module(loaded.resource)
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
