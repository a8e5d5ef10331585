# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import os
import pathlib

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.record import (
    RECORD_FILE,
    RESTART_MARK,
    read_unconfirmed,
    record_path,
    take_pending_restart,
    write_unconfirmed,
)

FILES = {'/etc/envoy/ecds/a.yaml': 'extension_config_discovery.http_filter.a.', '/etc/envoy/lds.yaml': 'listener_manager.lds.'}


def test_the_record_is_read_back_as_written(tmp_path: pathlib.Path) -> None:
    write_unconfirmed(str(tmp_path), FILES)
    assert record_path(str(tmp_path)) == str(tmp_path / RECORD_FILE)
    assert read_unconfirmed(str(tmp_path)) == FILES
    assert os.stat(tmp_path / RECORD_FILE).st_mode & 0o777 == 0o644
    write_unconfirmed(str(tmp_path), {'/etc/envoy/cds.yaml': 'cluster_manager.cds.'})
    assert read_unconfirmed(str(tmp_path)) == {'/etc/envoy/cds.yaml': 'cluster_manager.cds.'}


def test_no_record_is_nothing_unconfirmed(tmp_path: pathlib.Path) -> None:
    assert read_unconfirmed(str(tmp_path)) == {}
    assert read_unconfirmed(str(tmp_path / 'absent')) == {}


def test_an_empty_record_removes_the_file(tmp_path: pathlib.Path) -> None:
    write_unconfirmed(str(tmp_path), FILES)
    write_unconfirmed(str(tmp_path), {})
    assert os.listdir(tmp_path) == []
    write_unconfirmed(str(tmp_path), {})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(('text', 'message'), [
    pytest.param('{"unconfirmed": {', 'Cannot read the record of unconfirmed files {path}: ', id='not-json'),
    pytest.param('\xff', 'Cannot read the record of unconfirmed files {path}: ', id='not-utf-8'),
    pytest.param('[]', '{path} is not a record of unconfirmed files', id='list'),
    pytest.param('{"files": {}}', '{path} is not a record of unconfirmed files', id='no-unconfirmed'),
    pytest.param('{"unconfirmed": ["a"]}', '{path} is not a record of unconfirmed files', id='unconfirmed-list'),
    pytest.param('{"unconfirmed": {"a": 1}}', '{path} is not a record of unconfirmed files', id='prefix-not-text'),
])
def test_a_corrupt_record_is_an_error(tmp_path: pathlib.Path, text: str, message: str) -> None:
    path = tmp_path / RECORD_FILE
    path.write_bytes(text.encode('latin-1'))
    with pytest.raises(WasmOciError) as caught:
        read_unconfirmed(str(tmp_path))
    assert str(caught.value).startswith(message.format(path=path))
    assert str(caught.value).endswith('remove it (the files it named are then taken as confirmed) and run again')


def test_a_pending_restart_is_taken_out_of_the_record() -> None:
    files = {'/etc/envoy/envoy.yaml': RESTART_MARK + '127.0.0.1:9901', '/etc/envoy/lds.yaml': 'listener_manager.lds.'}
    assert take_pending_restart(files, '/etc/envoy/envoy.yaml') == '127.0.0.1:9901'
    assert files == {'/etc/envoy/lds.yaml': 'listener_manager.lds.'}
    assert take_pending_restart(files, '/etc/envoy/envoy.yaml') is None
