# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import json
import os
import re
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.admin import CLUSTER_UPDATES, LISTENER_UPDATES, stat_prefix
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import (
    EnvoyConfigError,
    ImageIdentity,
    dump_document,
    filter_reference,
    filter_stanza,
    image_identity,
    referenced_ecds_paths,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import ManagedBootstrap, Paths, Plan, PlanError, find_image, plan_filters

MANAGED = ManagedBootstrap('edge-1', 'edge', '127.0.0.1:9901', '127.0.0.1:10000')
DIGEST_A = 'sha256:' + 'a' * 64
DIGEST_B = 'sha256:' + 'b' * 64
MODULE = '/opt/filters/by_hand.wasm'
ECDS_DOCUMENT = b'{"resources": []}\n'


class Host:
    """The files of one Envoy as ``plan_filters`` reads them."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.files: dict[str, bytes] = {}

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def apply(self, plan: Plan) -> None:
        for change in plan.changes + plan.onboarding:
            if change.new is None:
                self.files.pop(change.path, None)
            else:
                self.files[change.path] = change.new

    def ecds_names(self) -> list[str]:
        return sorted(os.path.basename(path)[:-len('.yaml')] for path in self.files
                      if os.path.dirname(path) == self.paths.ecds_dir and path.endswith('.yaml'))

    def plan(self, filters: list[dict[str, t.Any]], images: list[dict[str, t.Any]] = (), **options: t.Any) -> Plan:
        return plan_filters(filters, images, self.paths, self.read, self.ecds_names(), **options)


@pytest.fixture
def host(paths: Paths) -> Host:
    return Host(paths)


@pytest.fixture
def images(make_image: t.Any) -> list[dict[str, t.Any]]:
    return [make_image('ghcr.io/example/a:1', DIGEST_A, ['a_root', 'other']), make_image('b:2', DIGEST_B, ['b_root'])]


def _present(make_filter: t.Any) -> list[dict[str, t.Any]]:
    return [make_filter('a', image='ghcr.io/example/a:1'), make_filter('b', image='docker.io/library/b:2', type='network'),
            make_filter('by_hand', module=MODULE, root_id='r')]


def _document(data: bytes | None) -> t.Any:
    return None if data is None else json.loads(data)


def test_changes_come_in_the_order_that_keeps_envoy_serving(host: Host, paths: Paths, images: t.Any, make_filter: t.Any) -> None:
    host.files[paths.ecds('gone')] = ECDS_DOCUMENT
    host.files[paths.ecds('gone') + '.previous'] = ECDS_DOCUMENT
    plan = host.plan([*_present(make_filter), make_filter('gone', 'absent')], images, managed=MANAGED)
    assert [change.path for change in plan.changes] == [
        paths.ecds('a'), paths.ecds('b'), paths.ecds('by_hand'), paths.clusters, paths.listeners, paths.bootstrap,
        paths.ecds('gone'), paths.ecds('gone') + '.previous']
    assert [(change.watch, change.new is None) for change in plan.changes[3:]] == [
        (CLUSTER_UPDATES, False), (LISTENER_UPDATES, False), ('', False), ('', True), ('', True)]
    assert [report['changed'] for report in plan.filters] == [True] * 4
    assert plan.unmanaged == []
    assert plan.onboarding == []
    assert plan.stanzas == []


def test_unchanged_files_need_no_change(host: Host, images: t.Any, make_filter: t.Any) -> None:
    filters = _present(make_filter)
    host.apply(host.plan(filters, images, managed=MANAGED))
    again = host.plan(filters, images, managed=MANAGED)
    assert again.changes == []
    assert again.previous_copies == []
    assert [report['changed'] for report in again.filters] == [False] * 3
    changed = host.plan([dict(filters[0], configuration={'header': 'x'}), *filters[1:]], images, managed=MANAGED)
    assert [change.path for change in changed.changes] == [host.paths.ecds('a')]
    assert [report['changed'] for report in changed.filters] == [True, False, False]


def test_watched_files_carry_the_version_envoy_reports(host: Host, paths: Paths, images: t.Any, make_filter: t.Any) -> None:
    plan = host.plan(_present(make_filter), images, managed=MANAGED)
    ecds = plan.changes[:3]
    for change in plan.changes[:5]:
        assert _document(change.new)['version_info'] == change.version
    assert [change.watch for change in ecds] == [stat_prefix('a', 'http'), stat_prefix('b', 'network'), stat_prefix('by_hand', 'http')]
    assert image_identity(_document(ecds[0].new)) == ImageIdentity('ghcr.io/example/a:1', 'sha256:' + 'e' * 64)
    assert image_identity(_document(ecds[2].new)) is None
    assert ecds[0].what == f'config of filter a (ghcr.io/example/a:1 (sha256:{"e" * 64}), module {paths.wasm_dir}/{"a" * 64}.wasm)'
    assert ecds[2].what == f'config of filter by_hand (module {MODULE})'
    assert ecds[0].hint == '; Envoy logs why just before "Unable to create Wasm plugin a"'
    # The listener is only good once Envoy has taken every filter it names.
    assert plan.changes[4].uses == tuple((change.watch, change.what) for change in ecds)
    assert plan.changes[3].uses == ()
    assert plan.changes[5].version is None
    assert referenced_ecds_paths(_document(plan.changes[4].new)) == {change.path for change in ecds}


def test_filter_reports(host: Host, paths: Paths, images: t.Any, make_filter: t.Any) -> None:
    plan = host.plan([*_present(make_filter), make_filter('gone', 'absent')], images, managed=MANAGED)
    assert plan.filters == [
        {'name': 'a', 'state': 'present', 'type': 'http', 'image': 'ghcr.io/example/a:1', 'digest': 'sha256:' + 'e' * 64,
         'module': f'{paths.wasm_dir}/{"a" * 64}.wasm', 'module_digest': DIGEST_A, 'changed': True},
        {'name': 'b', 'state': 'present', 'type': 'network', 'image': 'b:2', 'digest': 'sha256:' + 'e' * 64,
         'module': f'{paths.wasm_dir}/{"b" * 64}.wasm', 'module_digest': DIGEST_B, 'changed': True},
        {'name': 'by_hand', 'state': 'present', 'type': 'http', 'image': None, 'digest': None, 'module': MODULE,
         'module_digest': None, 'changed': True},
        {'name': 'gone', 'state': 'absent', 'type': 'http', 'changed': False},
    ]


def test_a_user_owned_bootstrap_gets_no_listener_cluster_or_bootstrap_change(host: Host, images: t.Any, make_filter: t.Any) -> None:
    filters = _present(make_filter)
    plan = host.plan(filters, images, bootstrap_uses={host.paths.ecds(spec['name']) for spec in filters})
    assert [change.path for change in plan.changes] == [host.paths.ecds(spec['name']) for spec in filters]
    assert plan.managed is None
    assert plan.stanzas == []


def test_filters_a_user_owned_bootstrap_does_not_use_yet_are_onboarded(host: Host, paths: Paths, images: t.Any,
                                                                       make_filter: t.Any) -> None:
    filters = _present(make_filter)
    # The bootstrap names b's file in another spelling of the same path.
    plan = host.plan(filters, images, bootstrap_uses={os.path.normpath(paths.ecds_dir + '/./b.yaml')})
    assert [change.path for change in plan.changes] == [paths.ecds('b')]
    assert [change.path for change in plan.onboarding] == [paths.ecds('a'), paths.ecds('by_hand')]
    assert plan.onboarding_paths == [paths.ecds('a'), paths.ecds('by_hand')]
    assert plan.stanzas == [filter_stanza(filter_reference('a', paths.ecds('a'))),
                            filter_stanza(filter_reference('by_hand', paths.ecds('by_hand')))]
    assert [report['changed'] for report in plan.filters] == [True, True, True]
    assert set(plan.documents) == {paths.ecds(spec['name']) for spec in filters}
    # Once written, the files need no change, but the entries are still asked for until the bootstrap names them.
    host.apply(plan)
    again = host.plan(filters, images, bootstrap_uses={paths.ecds('b')})
    assert again.changes == []
    assert again.onboarding == []
    assert again.stanzas == plan.stanzas


@pytest.mark.parametrize('purge', [False, True])
def test_a_filter_a_user_owned_bootstrap_still_uses_is_never_removed(host: Host, paths: Paths, make_filter: t.Any, purge: bool) -> None:
    host.files[paths.ecds('gone')] = ECDS_DOCUMENT
    filters = [] if purge else [make_filter('gone', 'absent')]
    why = 'not listed, and purge is on' if purge else 'listed as absent'
    with pytest.raises(PlanError) as caught:
        host.plan(filters, bootstrap_uses={paths.ecds('gone')}, purge=purge)
    assert str(caught.value).startswith(f'The bootstrap {paths.bootstrap} still takes filter gone ({why}) from {paths.ecds("gone")}, '
                                        'and Envoy cannot start once the file is gone. Remove the filter entry')


def test_a_file_that_is_no_ecds_file_is_never_removed(host: Host, paths: Paths, make_filter: t.Any) -> None:
    host.files[paths.ecds('gone')] = dump_document({'resources': [{'@type': 'type.googleapis.com/envoy.config.listener.v3.Listener'}]}).encode()
    with pytest.raises(PlanError, match=f'^{re.escape(paths.ecds("gone"))} is not an ECDS file'):
        host.plan([make_filter('gone', 'absent')], managed=MANAGED)


def test_removing_a_filter_without_files_changes_nothing(host: Host, make_filter: t.Any) -> None:
    plan = host.plan([make_filter('gone', 'absent')])
    assert plan.changes == []
    assert plan.filters == [{'name': 'gone', 'state': 'absent', 'type': 'http', 'changed': False}]


def test_each_filter_may_be_listed_once(host: Host, make_filter: t.Any) -> None:
    with pytest.raises(PlanError, match=r'^Each filter may be listed once; repeated: a, b; nothing was written$'):
        host.plan([make_filter('b', module=MODULE, root_id='r'), make_filter('a', 'absent'), make_filter('a', module=MODULE, root_id='r'),
                   make_filter('b', 'absent'), make_filter('c', 'absent')])


@pytest.mark.parametrize('name', ['', 'a/b', '..', 'add header', None])
def test_invalid_names_are_refused(host: Host, make_filter: t.Any, name: t.Any) -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Invalid filter name'):
        host.plan([make_filter(name, module=MODULE, root_id='r')])


@pytest.mark.parametrize('purge', [False, True])
def test_unmanaged_filters_are_reported_and_removed_with_purge(host: Host, paths: Paths, make_filter: t.Any, purge: bool) -> None:
    for name in ('stray', 'listed'):
        host.files[paths.ecds(name)] = ECDS_DOCUMENT
    host.files[paths.ecds('stray') + '.previous'] = ECDS_DOCUMENT
    plan = host.plan([make_filter('listed', 'absent')], purge=purge)
    assert plan.unmanaged == ['stray']
    removed = [paths.ecds('listed')] + ([paths.ecds('stray'), paths.ecds('stray') + '.previous'] if purge else [])
    assert [change.path for change in plan.changes] == removed
    assert all(change.new is None and change.old == ECDS_DOCUMENT and change.watch == '' for change in plan.changes)


@pytest.mark.parametrize(('wanted', 'described'), [
    ('x:1', 'docker.io/library/x:1'),
    ('docker.io/library/x:1', 'x:1'),
    ('index.docker.io/library/x:1', 'x:1'),
    ('oci:/srv/layout:1', 'oci:/srv/layout:1'),
])
def test_images_are_found_by_canonical_reference(make_image: t.Any, wanted: str, described: str) -> None:
    image = make_image(described, DIGEST_A)
    assert find_image(wanted, ['not a description', {'reference': None}, make_image('x:2', DIGEST_B), image]) is image


def test_two_pulls_of_one_tag_that_met_different_images_are_refused(make_image: t.Any) -> None:
    first, again = make_image('x:1', DIGEST_A, manifest='sha256:' + 'e' * 64), make_image('x:1', DIGEST_B, manifest='sha256:' + 'f' * 64)
    assert find_image('x:1', [first, dict(first)]) is first
    with pytest.raises(PlanError, match=r'^The pulls of x:1 name different images .*its tag moved during this run'):
        find_image('x:1', [first, again])


@pytest.mark.parametrize('wanted', ['x:2', 'ghcr.io/library/x:1', 'oci:/srv/layout:2'])
def test_an_image_without_a_description_is_an_error(host: Host, make_image: t.Any, make_filter: t.Any, wanted: str) -> None:
    images = [make_image('x:1', DIGEST_A), make_image('oci:/srv/layout:1', DIGEST_B)]
    with pytest.raises(PlanError, match=f"^No description of the image {wanted} among images; pull it first and pass its result's image"):
        host.plan([make_filter('a', image=wanted)], images)


@pytest.mark.parametrize(('root_id', 'chosen'), [(None, 'a_root'), ('other', 'other')])
def test_root_id_comes_from_the_image(host: Host, images: t.Any, make_filter: t.Any, root_id: str | None, chosen: str) -> None:
    plan = host.plan([make_filter('a', image='ghcr.io/example/a:1', root_id=root_id)], images)
    assert _document(plan.changes[0].new)['resources'][0]['typed_config']['config']['root_id'] == chosen


def test_a_root_id_the_image_does_not_declare_is_refused(host: Host, images: t.Any, make_filter: t.Any) -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Filter a: root_id "nope" is not one of the root IDs the image declares'):
        host.plan([make_filter('a', image='ghcr.io/example/a:1', root_id='nope')], images)


def test_the_module_is_the_stored_file_named_by_the_module_digest(host: Host, paths: Paths, images: t.Any, make_filter: t.Any) -> None:
    plan = host.plan([make_filter('a', image='ghcr.io/example/a:1')], images)
    module = _document(plan.changes[0].new)['resources'][0]['typed_config']['config']['vm_config']['code']['local']['filename']
    assert module == os.path.join(paths.wasm_dir, 'a' * 64 + '.wasm') == plan.filters[0]['module']


@pytest.mark.parametrize(('module_digest', 'error', 'message'), [
    (None, PlanError, '^Filter a: give image \\(with the pulled images\\) or module; nothing was written$'),
    ('md5:abc', WasmOciError, "^'md5:abc' is no sha256 digest of a module$"),
])
def test_a_filter_needs_a_module(host: Host, make_image: t.Any, make_filter: t.Any, module_digest: str | None,
                                 error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        host.plan([make_filter('a', image='x:1')], [make_image('x:1', module_digest)])
    with pytest.raises(PlanError, match='give image'):
        host.plan([make_filter('a', root_id='r')])


def test_replaced_ecds_files_are_kept_as_previous_copies(host: Host, paths: Paths, images: t.Any, make_filter: t.Any) -> None:
    filters = _present(make_filter)
    host.apply(host.plan(filters[:2], images, managed=MANAGED))
    host.files[paths.ecds('gone')] = ECDS_DOCUMENT
    old_a = host.files[paths.ecds('a')]
    plan = host.plan([dict(filters[0], configuration='v2'), filters[1], filters[2], make_filter('gone', 'absent')], images,
                     managed=MANAGED)
    # a was replaced: kept; b is unchanged, by_hand new, gone removed, the listener is no ECDS file: none kept.
    assert plan.previous_copies == [(paths.ecds('a') + '.previous', old_a)]


def test_validation_files_are_one_static_bootstrap_and_copies_of_the_ecds_files(host: Host, paths: Paths, images: t.Any,
                                                                                make_filter: t.Any) -> None:
    plan = host.plan([*_present(make_filter), make_filter('gone', 'absent')], images, managed=MANAGED)
    bootstrap, files = plan.validation_files('/tmp/check', paths)
    copies = {f'/tmp/check/ecds/{name}.yaml': plan.documents[paths.ecds(name)] for name in ('a', 'b', 'by_hand')}
    assert bootstrap == '/tmp/check/envoy.yaml'
    assert set(files) == set(copies) | {bootstrap}
    assert {path: files[path] for path in copies} == copies
    static = _document(files[bootstrap])
    assert 'dynamic_resources' not in static
    assert static['node'] == {'id': 'edge-1', 'cluster': 'edge'}
    assert referenced_ecds_paths(static) == set(copies)


def test_only_a_managed_bootstrap_is_validated(host: Host, make_filter: t.Any) -> None:
    plan = host.plan([make_filter('a', module=MODULE, root_id='r')])
    with pytest.raises(PlanError, match=r'^Only a managed bootstrap is validated$'):
        plan.validation_files('/tmp/check', host.paths)
