# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.diff import REDACTED, REDACTED_CHANGED, envoy_diff, file_diff, image_line
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import (
    ImageIdentity,
    dump_document,
    ecds_document,
    filter_reference,
    managed_config,
    wasm_filter,
)
from ansible_collections.wasm.oci.plugins.module_utils._envoy.transaction import FileChange

PATH = '/etc/envoy/ecds/a.yaml'
V1 = ImageIdentity('ghcr.io/example/a:1', 'sha256:' + '1' * 64)
V2 = ImageIdentity('ghcr.io/example/a:2', 'sha256:' + '2' * 64)
SECRETS = {'configuration': {'api_key': 'KEY-ONE'}, 'environment': {'TOKEN': 'TOKEN-ONE'}}


def _ecds(identity: ImageIdentity | None = V1, module: str = '/wasm/1.wasm', **secrets: t.Any) -> bytes:
    options = dict(SECRETS, **secrets)
    return dump_document(ecds_document(wasm_filter('a', module, root_id='a', **options), identity)).encode()


def _texts(old: bytes | None, new: bytes | None, show_config: bool = False) -> tuple[str, str]:
    diff = file_diff(FileChange(PATH, old, new, 'config of filter a'), show_config)
    assert diff['before_header'] == diff['after_header'] == PATH
    return diff['before'], diff['after']


def _fingerprint(data: bytes) -> str:
    return json.loads(data)['version_info'].split(' ')[-1]


@pytest.mark.parametrize('changed', [
    pytest.param({'configuration': {'api_key': 'KEY-TWO'}}, id='configuration'),
    pytest.param({'configuration': 'KEY-TWO as text'}, id='configuration-text'),
    pytest.param({'environment': {'TOKEN': 'TOKEN-TWO'}}, id='environment-value'),
    pytest.param({'environment': {'TOKEN': 'TOKEN-ONE', 'OTHER': 'TOKEN-TWO'}}, id='environment-added'),
])
def test_changed_secrets_are_never_shown_only_marked(changed: dict[str, t.Any]) -> None:
    old, new = _ecds(), _ecds(**changed)
    before, after = _texts(old, new)
    for text in (before, after):
        assert not any(secret in text for secret in ('KEY-ONE', 'KEY-TWO', 'TOKEN-ONE', 'TOKEN-TWO'))
        assert _fingerprint(old) not in text
        assert _fingerprint(new) not in text
    assert REDACTED_CHANGED not in before
    assert f'"{REDACTED}"' in before
    assert f'"{V1.reference} {V1.digest} {REDACTED_CHANGED}"' in after
    config = json.loads(after)['resources'][0]['typed_config']['config']
    assert config['configuration']['value'] == REDACTED_CHANGED
    assert set(config['vm_config']['environment_variables']['key_values'].values()) == {REDACTED_CHANGED}


def test_unchanged_secrets_are_redacted_without_the_changed_marker() -> None:
    old, new = _ecds(), _ecds(V2, '/wasm/2.wasm')
    before, after = _texts(old, new)
    assert REDACTED_CHANGED not in before + after
    assert 'KEY-ONE' not in after
    assert 'TOKEN-ONE' not in after
    assert _fingerprint(new) not in after
    assert '/wasm/2.wasm' in after
    assert V2.digest in after
    assert json.loads(after)['resources'][0]['typed_config']['config']['vm_config']['environment_variables'] == {
        'key_values': {'TOKEN': REDACTED}}


def test_show_config_shows_the_files_as_they_are() -> None:
    old, new = _ecds(), _ecds(configuration={'api_key': 'KEY-TWO'})
    assert _texts(old, new, show_config=True) == (old.decode(), new.decode())
    assert _texts(None, new, show_config=True) == ('', new.decode())


def test_new_and_removed_files_diff_against_nothing() -> None:
    new = _ecds()
    assert _texts(None, new)[0] == ''
    assert 'KEY-ONE' not in _texts(None, new)[1]
    assert _texts(new, None)[1] == ''
    assert _texts(new, None)[0].startswith('{\n')


def test_a_file_that_is_no_envoy_document_is_described_not_shown() -> None:
    assert _texts(b'\xff\xfe secret', b'[1, 2]') == ('(9 bytes that are not an Envoy document)\n',
                                                     '(6 bytes that are not an Envoy document)\n')


def test_a_listener_version_is_a_fingerprint_only_and_redacted_too() -> None:
    listeners = managed_config('n', 'c', '127.0.0.1:9901', '127.0.0.1:1', [filter_reference('a', PATH)], '/e/l', '/e/c').listeners
    data = dump_document(listeners).encode()
    before, after = _texts(data, data)
    assert json.loads(after)['version_info'] == REDACTED
    assert listeners['version_info'] not in before


@pytest.mark.parametrize(('old', 'new', 'line'), [
    (_ecds(), _ecds(V2), f'filter a: {V1.reference} ({V1.digest}) -> {V2.reference} ({V2.digest})\n'),
    (None, _ecds(), f'filter a: (none) -> {V1.reference} ({V1.digest})\n'),
    (_ecds(), None, f'filter a: {V1.reference} ({V1.digest}) -> (none)\n'),
    (_ecds(None), _ecds(), f'filter a: (no image named) -> {V1.reference} ({V1.digest})\n'),
    (b'not a document', _ecds(None), 'filter a: (no image named) -> (no image named)\n'),
])
def test_image_line_names_the_images(old: bytes | None, new: bytes | None, line: str) -> None:
    assert image_line('a', FileChange(PATH, old, new, 'config of filter a')) == line


def test_envoy_diff_is_the_image_lines_then_every_file() -> None:
    changes = [FileChange(PATH, _ecds(), _ecds(V2), 'config of filter a'),
               FileChange('/etc/envoy/envoy.yaml', b'{}', b'{"node": {}}', 'bootstrap')]
    diff = envoy_diff(changes, {'a': PATH, 'unchanged': '/etc/envoy/ecds/unchanged.yaml'}, show_config=False)
    assert diff[0] == {'prepared': image_line('a', changes[0])}
    assert diff[1:] == [file_diff(change, False) for change in changes]
    assert envoy_diff(changes[1:], {'a': PATH}, show_config=True) == [file_diff(changes[1], True)]
    assert envoy_diff([], {'a': PATH}, show_config=False) == []
