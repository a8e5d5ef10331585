# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""What one Envoy's Wasm filter set needs: every file change, in the order one transaction applies them.

Pure: the files as they are come in through ``read``, nothing is written. The order is
what keeps Envoy serving while it changes: the ECDS file of each filter first (a filter new
to a managed listener has no counters yet, so its file waits for the listener), then the
clusters, the listener (which waits for the filters it starts using), the bootstrap, and
last the removals, once no listener uses them.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import CLUSTER_UPDATES, LISTENER_UPDATES, stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import (
    ImageIdentity,
    ManagedConfig,
    dump_document,
    ecds_document,
    filter_reference,
    filter_stanza,
    managed_config,
    validate_filter_name,
    wasm_filter,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import ECDS_SUFFIX, PREVIOUS_SUFFIX, is_ecds_document, parse_document
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import module_store_path
from ansible_collections.wasm.oci.plugins.module_utils._envoy.transaction import FileChange
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference

LISTENERS_FILE = 'lds.yaml'
CLUSTERS_FILE = 'cds.yaml'
ECDS_DIR = 'ecds'

# Where an Envoy's files are unless a task says otherwise (the doc fragment wasm.oci.envoy_host, envoy_wasm_info).
DEFAULT_CONFIG_DIR = '/etc/envoy'
DEFAULT_WASM_DIR = '/var/lib/envoy/wasm'


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where one Envoy's files are: the bootstrap, ``<config_dir>/ecds/<name>.yaml``, ``<wasm_dir>/<sha256>.wasm``."""

    config_dir: str
    bootstrap: str
    wasm_dir: str

    @property
    def ecds_dir(self) -> str:
        return os.path.join(self.config_dir, ECDS_DIR)

    def ecds(self, name: str) -> str:
        return os.path.join(self.ecds_dir, name + ECDS_SUFFIX)

    @property
    def listeners(self) -> str:
        return os.path.join(os.path.dirname(self.bootstrap), LISTENERS_FILE)

    @property
    def clusters(self) -> str:
        return os.path.join(os.path.dirname(self.bootstrap), CLUSTERS_FILE)


@dataclasses.dataclass(frozen=True)
class ManagedBootstrap:
    """The settings of a bootstrap this collection writes, with its listener and cluster files."""

    node_id: str
    cluster: str
    admin_address: str
    listener_address: str
    upstream: str | None = None

    def config(self, references: t.Sequence[t.Any], paths: Paths) -> ManagedConfig:
        return managed_config(node_id=self.node_id, cluster=self.cluster, admin_address=self.admin_address,
                              listener_address=self.listener_address, filters=references, listeners_path=paths.listeners,
                              clusters_path=paths.clusters, upstream=self.upstream)


class PlanError(WasmOciError):
    """The filter set cannot be applied as asked; nothing was written."""


class _FilterReportKeys(t.TypedDict):
    name: str
    state: str  # present or absent
    type: str


class FilterReport(_FilterReportKeys, total=False):
    """One filter as envoy_wasm_filters reports it. The image keys are a present filter's (image and digest None when it
    names a module file); ``changed`` is set once the plan is made, ``confirmed`` by the caller."""

    image: str | None
    digest: str | None
    module: str
    module_digest: str | None
    changed: bool
    confirmed: bool


@dataclasses.dataclass
class Plan:
    changes: list[FileChange]
    # ECDS files a user-owned bootstrap does not use yet: harmless to write, then the run stops with the entries to paste.
    onboarding: list[FileChange]
    stanzas: list[str]
    # The ECDS files of every filter a user-owned bootstrap does not use yet, changed or not.
    onboarding_paths: list[str]
    filters: list[FilterReport]
    unmanaged: list[str]
    # The present filters' documents by ECDS path, and the managed settings, for envoy --mode validate.
    documents: dict[str, bytes]
    managed: ManagedBootstrap | None

    @property
    def previous_copies(self) -> list[tuple[str, bytes]]:
        """After a confirmed swap, each replaced ECDS file is kept as ``<file>.previous``: the last confirmed version."""
        return [(change.path + PREVIOUS_SUFFIX, change.old) for change in self.changes
                if change.path in self.documents and change.old is not None and change.new is not None]

    def validation_files(self, directory: str, paths: Paths) -> tuple[str, dict[str, bytes]]:
        """The whole managed configuration as one static bootstrap in ``directory``, its ECDS files beside it: the path
        of the bootstrap, and every file to write there. Envoy checks that ECDS files exist, but not the modules."""
        if self.managed is None:
            raise PlanError('Only a managed bootstrap is validated')
        ecds_dir = os.path.join(directory, ECDS_DIR)
        references = [filter_reference(item['name'], os.path.join(ecds_dir, item['name'] + ECDS_SUFFIX), item['type'])
                      for item in self.filters if item['state'] == 'present']
        bootstrap = os.path.join(directory, 'envoy.yaml')
        files = {os.path.join(ecds_dir, os.path.basename(path)): data for path, data in self.documents.items()}
        files[bootstrap] = dump_document(self.managed.config(references, paths).validation_bootstrap()).encode('utf-8')
        return bootstrap, files


def _canonical(reference: str) -> str:
    try:
        return str(parse_reference(reference))
    except InvalidReferenceError:
        return reference


def find_image(reference: str, images: t.Sequence[dict[str, t.Any]]) -> dict[str, t.Any]:
    """The description (as wasm_image_pull returns it) of the image ``reference`` names."""
    wanted = _canonical(reference)
    found = [image for image in images
             if isinstance(image, dict) and isinstance(image.get('reference'), str) and _canonical(image['reference']) == wanted]
    digests = sorted({str(image.get('digest')) for image in found})
    if len(digests) > 1:
        # Two pulls of one tag (for filters with different verify_keys) that met different images: the tag moved
        # between them, and a filter could get an image its own keys never verified.
        raise PlanError(f'The pulls of {reference} name different images ({", ".join(digests)}): its tag moved during this run. '
                        'Run again, or pin the image by digest; nothing was written')
    if found:
        return found[0]
    raise PlanError(f'No description of the image {reference} among images; pull it first and pass its result\'s image '
                    '(the envoy_filter role does); nothing was written')


def _encoded(document: dict[str, t.Any]) -> bytes:
    return dump_document(document).encode('utf-8')


class _Planner:
    def __init__(self, paths: Paths, read: t.Callable[[str], bytes | None], managed: ManagedBootstrap | None,
                 bootstrap_uses: t.AbstractSet[str] | None) -> None:
        self.paths = paths
        self.read = read
        self.managed = managed
        self.bootstrap_uses = bootstrap_uses

    def present(self, spec: dict[str, t.Any], images: t.Sequence[dict[str, t.Any]]) -> tuple[FilterReport, FileChange]:
        name, filter_type = spec['name'], spec['type']
        image = find_image(spec['image'], images) if spec.get('image') else None
        module_digest = ((image or {}).get('wasm') or {}).get('digest')
        module = spec.get('module') or (module_store_path(self.paths.wasm_dir, module_digest) if module_digest else None)
        if not module:
            raise PlanError(f'Filter {name}: give image (with the pulled images) or module; nothing was written')
        wasm = wasm_filter(name=name, module=module, root_id=spec.get('root_id'), vm_id=spec.get('vm_id'),
                           configuration=spec.get('configuration'), environment=spec.get('environment'),
                           failure_policy=spec.get('failure_policy'), filter_type=filter_type,
                           image_root_ids=((image or {}).get('runtime') or {}).get('root_ids'))
        identity = ImageIdentity(image['reference'], image['digest']) if image and image.get('digest') else None
        document = ecds_document(wasm, identity)
        path = self.paths.ecds(name)
        described = f'{identity}, module {wasm.module}' if identity else f'module {wasm.module}'
        change = FileChange(path, self.read(path), _encoded(document), f'config of filter {name} ({described})',
                            watch=stat_prefix(name, filter_type), version=document['version_info'],
                            hint=f'; Envoy logs why just before "Unable to create Wasm plugin {name}"')
        report: FilterReport = {'name': name, 'state': 'present', 'type': filter_type, 'image': identity.reference if identity else None,
                                'digest': identity.digest if identity else None, 'module': wasm.module, 'module_digest': module_digest}
        return report, change

    def removal(self, name: str, why: str) -> list[FileChange]:
        path = self.paths.ecds(name)
        current = self.read(path)
        if current is not None and not is_ecds_document(parse_document(current, path)):
            raise PlanError(f'{path} is not an ECDS file (a list of TypedExtensionConfig resources); nothing was removed')
        if self.bootstrap_uses is not None and os.path.realpath(path) in self.bootstrap_uses:
            raise PlanError(
                f'The bootstrap {self.paths.bootstrap} still takes filter {name} ({why}) from {path}, and Envoy cannot start once '
                f'the file is gone. Remove the filter entry whose config_discovery path_config_source path is {path} from the '
                'bootstrap (or its listener file), restart Envoy, then run this again; nothing was changed')
        return [FileChange(candidate, self.read(candidate), None, f'ECDS file {candidate}')
                for candidate in (path, path + PREVIOUS_SUFFIX)]

    def managed_changes(self, present: list[FilterReport], ecds_changes: list[FileChange]) -> list[FileChange]:
        if self.managed is None:
            return []
        references = [filter_reference(item['name'], self.paths.ecds(item['name']), item['type']) for item in present]
        config = self.managed.config(references, self.paths)
        uses = tuple((change.watch, change.what) for change in ecds_changes)
        return [
            FileChange(self.paths.clusters, self.read(self.paths.clusters), _encoded(config.clusters), 'clusters',
                       watch=CLUSTER_UPDATES, version=config.clusters['version_info']),
            FileChange(self.paths.listeners, self.read(self.paths.listeners), _encoded(config.listeners), 'listeners',
                       watch=LISTENER_UPDATES, version=config.listeners['version_info'], uses=uses),
            FileChange(self.paths.bootstrap, self.read(self.paths.bootstrap), _encoded(config.bootstrap), 'bootstrap'),
        ]


def _check_names(filters: t.Sequence[dict[str, t.Any]]) -> None:
    names = [validate_filter_name(spec['name']) for spec in filters]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PlanError(f'Each filter may be listed once; repeated: {", ".join(repeated)}; nothing was written')


def plan_filters(filters: t.Sequence[dict[str, t.Any]], images: t.Sequence[dict[str, t.Any]], paths: Paths,
                 read: t.Callable[[str], bytes | None], ecds_names: t.Sequence[str], *, managed: ManagedBootstrap | None = None,
                 bootstrap_uses: t.AbstractSet[str] | None = None, purge: bool = False) -> Plan:
    """Plan the filter set ``filters`` (module parameters: name, state, type, image, module, root_id, ...).

    ``ecds_names`` are the filters that have an ECDS file now; ``bootstrap_uses`` the ECDS paths a user-owned bootstrap
    takes filters from (None with ``managed``).
    """
    _check_names(filters)
    planner = _Planner(paths, read, managed, bootstrap_uses)
    reports: list[FilterReport] = []
    ecds_changes: list[FileChange] = []
    removals: list[FileChange] = []
    for spec in filters:
        if spec['state'] == 'present':
            report, change = planner.present(spec, images)
            reports.append(report)
            ecds_changes.append(change)
        else:
            removals += planner.removal(spec['name'], 'listed as absent')
            reports.append({'name': spec['name'], 'state': 'absent', 'type': spec['type']})
    listed = {spec['name'] for spec in filters}
    unmanaged = [name for name in ecds_names if name not in listed]
    if purge:
        for name in unmanaged:
            removals += planner.removal(name, 'not listed, and purge is on')
    present = [report for report in reports if report['state'] == 'present']
    onboarding: list[FileChange] = []
    onboarding_paths: list[str] = []
    stanzas: list[str] = []
    if bootstrap_uses is not None:
        for report, change in zip(present, list(ecds_changes)):
            if os.path.realpath(change.path) not in bootstrap_uses:
                stanzas.append(filter_stanza(filter_reference(report['name'], change.path, report['type'])))
                onboarding_paths.append(change.path)
                ecds_changes.remove(change)
                onboarding.append(change)
    changes = ecds_changes + planner.managed_changes(present, ecds_changes) + removals
    changed_paths = {change.path for change in changes + onboarding if change.old != change.new}
    for report in reports:
        report['changed'] = paths.ecds(report['name']) in changed_paths
    return Plan(
        changes=[change for change in changes if change.old != change.new],
        onboarding=[change for change in onboarding if change.old != change.new],
        stanzas=stanzas,
        onboarding_paths=onboarding_paths,
        filters=reports,
        unmanaged=unmanaged,
        documents={change.path: change.new for change in ecds_changes + onboarding if change.new is not None},
        managed=managed,
    )
