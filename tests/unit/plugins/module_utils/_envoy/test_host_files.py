# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import hashlib
import pathlib
import typing as t

import pytest
import yaml

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy import host_files
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import dump_document, ecds_document, filter_reference, managed_config, wasm_filter
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import (
    bootstrap_ecds_paths,
    ecds_file_names,
    is_ecds_document,
    load_document,
    modules_in_use,
    parse_document,
    read_bytes,
)

DOCUMENT = {'admin': {'address': {'socket_address': {'address': '127.0.0.1', 'port_value': 9901}}}}
YAML_TEXT = 'admin:\n  address:\n    socket_address:\n      address: 127.0.0.1\n      port_value: 9901\n'


def _module_name(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest() + '.wasm'


def _ecds_text(filter_name: str, module: str, filter_type: str = 'http') -> str:
    return dump_document(ecds_document(wasm_filter(filter_name, module, root_id=filter_name, filter_type=filter_type)))


@pytest.mark.parametrize(('file_name', 'text'), [
    ('bootstrap.json', dump_document(DOCUMENT)),
    ('bootstrap.yaml', YAML_TEXT),
])
def test_load_document_reads_json_and_yaml(tmp_path: pathlib.Path, file_name: str, text: str) -> None:
    path = tmp_path / file_name
    path.write_text(text)
    assert load_document(str(path)) == DOCUMENT


def test_text_that_is_neither_json_nor_yaml_names_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'broken.yaml'
    path.write_text('resources: [unclosed\n')
    with pytest.raises(WasmOciError, match=f'^{path} is neither JSON nor YAML: '):
        load_document(str(path))


def test_missing_file_is_named(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'absent.yaml'
    with pytest.raises(WasmOciError, match=f'^{path} does not exist$'):
        load_document(str(path))


@pytest.mark.parametrize('make_unreadable', [
    pytest.param(lambda path: path.mkdir(), id='directory'),
    pytest.param(lambda path: path.write_bytes(b'resources: \xff\xfe\n'), id='not-utf-8'),
])
def test_unreadable_file_is_named(tmp_path: pathlib.Path, make_unreadable: t.Callable[[pathlib.Path], t.Any]) -> None:
    path = tmp_path / 'ecds.yaml'
    make_unreadable(path)
    with pytest.raises(WasmOciError, match=f'^Cannot read {path}: '):
        load_document(str(path))


def test_without_pyyaml_json_still_loads_and_yaml_asks_for_python3_yaml(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_files, 'HAS_YAML', False)
    json_path, yaml_path = tmp_path / 'a.json', tmp_path / 'b.yaml'
    json_path.write_text(dump_document(DOCUMENT))
    yaml_path.write_text(YAML_TEXT)
    assert load_document(str(json_path)) == DOCUMENT
    with pytest.raises(WasmOciError, match=f'^{yaml_path} is not JSON.*install python3-yaml'):
        load_document(str(yaml_path))


def test_static_yaml_bootstrap_gives_its_http_and_network_ecds_files(tmp_path: pathlib.Path) -> None:
    bootstrap = tmp_path / 'envoy.yaml'
    # Written the way people write bootstraps: YAML, and one path not yet normalized.
    bootstrap.write_text(f"""\
static_resources:
  listeners:
    - name: main
      filter_chains:
        - filters:
            - name: tcp_meter
              config_discovery:
                config_source:
                  path_config_source:
                    path: {tmp_path}/ecds/./tcp_meter.yaml
                  resource_api_version: V3
                type_urls: [type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm]
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: main
                http_filters:
                  - name: add_header
                    config_discovery:
                      config_source:
                        path_config_source:
                          path: {tmp_path}/ecds/add_header.yaml
                        resource_api_version: V3
                      type_urls: [type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm]
                  - name: envoy.filters.http.router
""")
    assert bootstrap_ecds_paths(load_document(str(bootstrap))) == {f'{tmp_path}/ecds/tcp_meter.yaml', f'{tmp_path}/ecds/add_header.yaml'}


def _managed_bootstrap(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, set[str]]:
    """A bootstrap whose listener comes from a file (LDS), which holds the filters' ECDS references."""
    ecds_paths = {str(tmp_path / 'ecds' / 'add_header.yaml'), str(tmp_path / 'ecds' / 'tcp_meter.yaml')}
    bootstrap_path, listeners_path = tmp_path / 'envoy.yaml', tmp_path / 'listeners.yaml'
    config = managed_config(
        'node-1', 'edge', '127.0.0.1:9901', '0.0.0.0:8080',
        [filter_reference('add_header', str(tmp_path / 'ecds' / 'add_header.yaml')),
         filter_reference('tcp_meter', str(tmp_path / 'ecds' / 'tcp_meter.yaml'), 'network')],
        listeners_path=str(listeners_path), clusters_path=str(tmp_path / 'clusters.yaml'),
    )
    bootstrap_path.write_text(dump_document(config.bootstrap))
    listeners_path.write_text(dump_document(config.listeners))
    return bootstrap_path, listeners_path, ecds_paths


def test_bootstrap_with_a_listener_file_gives_the_ecds_files_that_file_names(tmp_path: pathlib.Path) -> None:
    bootstrap_path, _listeners_path, ecds_paths = _managed_bootstrap(tmp_path)
    assert bootstrap_ecds_paths(load_document(str(bootstrap_path))) == ecds_paths


def test_missing_listener_file_is_an_error(tmp_path: pathlib.Path) -> None:
    bootstrap_path, listeners_path, _ecds_paths = _managed_bootstrap(tmp_path)
    listeners_path.unlink()
    with pytest.raises(WasmOciError, match=f'^{listeners_path} does not exist$'):
        bootstrap_ecds_paths(load_document(str(bootstrap_path)))


def test_modules_in_use_reads_the_ecds_files_and_their_previous_versions_only(tmp_path: pathlib.Path) -> None:
    wasm_dir = '/var/lib/envoy/wasm'
    used = {suffix: f'{wasm_dir}/{_module_name(suffix)}' for suffix in ('yaml', 'yml', 'json', 'previous', 'json.previous', 'pyyaml')}
    ignored = {suffix: f'{wasm_dir}/{_module_name(suffix)}' for suffix in ('hidden', 'bak', 'txt', 'nested')}
    (tmp_path / 'add_header.yaml').write_text(_ecds_text('add_header', used['yaml']))
    (tmp_path / 'tcp_meter.json').write_text(_ecds_text('tcp_meter', used['json'], 'network'))
    (tmp_path / 'add_header.yaml.previous').write_text(_ecds_text('add_header', used['previous']))
    (tmp_path / 'short.yml').write_text(_ecds_text('short', used['yml']))
    (tmp_path / 'tcp_meter.json.previous').write_text(_ecds_text('tcp_meter', used['json.previous'], 'network'))
    (tmp_path / 'by_hand.yaml').write_text(yaml.safe_dump(ecds_document(wasm_filter('by_hand', used['pyyaml'], root_id='r'))))
    (tmp_path / '.add_header.yaml').write_text(_ecds_text('add_header', ignored['hidden']))
    (tmp_path / 'add_header.yaml.bak').write_text(_ecds_text('add_header', ignored['bak']))
    (tmp_path / 'notes.txt').write_text(_ecds_text('add_header', ignored['txt']))
    # A directory with an ECDS suffix would fail to load if it were not skipped.
    (tmp_path / 'old.yaml').mkdir()
    (tmp_path / 'old.yaml' / 'add_header.yaml').write_text(_ecds_text('add_header', ignored['nested']))
    assert modules_in_use(str(tmp_path)) == set(used.values())


def test_modules_in_use_of_a_missing_directory_is_empty(tmp_path: pathlib.Path) -> None:
    assert modules_in_use(str(tmp_path / 'absent')) == set()


def test_an_unparsable_ecds_file_fails_so_nothing_is_pruned(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'add_header.yaml').write_text(_ecds_text('add_header', f'/var/lib/envoy/wasm/{_module_name("a")}'))
    broken = tmp_path / 'tcp_meter.yaml'
    broken.write_text('resources: [unclosed\n')
    with pytest.raises(WasmOciError, match=f'^{broken} is neither JSON nor YAML'):
        modules_in_use(str(tmp_path))


@pytest.mark.parametrize(('document', 'expected'), [
    (ecds_document(wasm_filter('f', '/m.wasm', root_id='r')), True),
    ({'resources': []}, True),
    (DOCUMENT, False),
    ({'resources': [{'@type': 'type.googleapis.com/envoy.config.listener.v3.Listener'}]}, False),
    (None, False),
])
def test_is_ecds_document(document: t.Any, expected: bool) -> None:
    assert is_ecds_document(document) is expected


def test_read_bytes_gives_none_for_a_missing_file_and_names_an_unreadable_one(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'file').write_bytes(b'\x00bytes')
    assert read_bytes(str(tmp_path / 'file')) == b'\x00bytes'
    assert read_bytes(str(tmp_path / 'absent')) is None
    with pytest.raises(WasmOciError, match=f'^Cannot read {tmp_path}: Is a directory$'):
        read_bytes(str(tmp_path))


@pytest.mark.parametrize(('data', 'expected'), [
    (dump_document(DOCUMENT).encode(), DOCUMENT),
    (YAML_TEXT.encode(), DOCUMENT),
    (b'', None),
])
def test_parse_document_reads_bytes_as_json_or_yaml(data: bytes, expected: t.Any) -> None:
    assert parse_document(data, '/e/f.yaml') == expected


def test_ecds_file_names_are_the_filters_with_a_yaml_file(tmp_path: pathlib.Path) -> None:
    for name in ('b.yaml', 'a.yaml', 'a.yaml.previous', '.hidden.yaml', 'c.json', 'd.yml', 'notes.txt', '.b.yaml.1234abcd.tmp'):
        (tmp_path / name).write_text('{}')
    (tmp_path / 'dir.yaml').mkdir()
    assert ecds_file_names(str(tmp_path)) == ['a', 'b']
    assert ecds_file_names(str(tmp_path / 'absent')) == []
