# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import hashlib
import pathlib
import typing as t

import pytest
import yaml

from ansible_collections.wasm.oci.plugins.module_utils import envoy_files
from ansible_collections.wasm.oci.plugins.module_utils.envoy_config import (
    dump_document,
    ecds_document,
    filter_reference,
    managed_config,
    wasm_filter,
)
from ansible_collections.wasm.oci.plugins.module_utils.envoy_files import (
    bootstrap_ecds_paths,
    check_filter_module,
    is_ecds_document,
    load_document,
    modules_in_use,
    stored_modules,
)
from ansible_collections.wasm.oci.plugins.module_utils.errors import WasmModuleError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils.wasm_binary import inspect_wasm
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import build_module, proxy_module

DOCUMENT = {'admin': {'address': {'socket_address': {'address': '127.0.0.1', 'port_value': 9901}}}}
YAML_TEXT = 'admin:\n  address:\n    socket_address:\n      address: 127.0.0.1\n      port_value: 9901\n'


def _module_name(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest() + '.wasm'


def _ecds_text(filter_name: str, module: str, filter_type: str = 'http') -> str:
    return dump_document(ecds_document(wasm_filter(filter_name, module, root_id=filter_name, filter_type=filter_type)))


@pytest.mark.parametrize('file_name, text', [
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
    monkeypatch.setattr(envoy_files, 'HAS_YAML', False)
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
    assert bootstrap_ecds_paths(str(bootstrap)) == {f'{tmp_path}/ecds/tcp_meter.yaml', f'{tmp_path}/ecds/add_header.yaml'}


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
    assert bootstrap_ecds_paths(str(bootstrap_path)) == ecds_paths


def test_missing_listener_file_is_an_error(tmp_path: pathlib.Path) -> None:
    bootstrap_path, listeners_path, _ecds_paths = _managed_bootstrap(tmp_path)
    listeners_path.unlink()
    with pytest.raises(WasmOciError, match=f'^{listeners_path} does not exist$'):
        bootstrap_ecds_paths(str(bootstrap_path))


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


def test_stored_modules_lists_content_addressed_modules_sorted(tmp_path: pathlib.Path) -> None:
    wasm_dir = tmp_path / 'wasm'
    wasm_dir.mkdir()
    modules = sorted(_module_name(content) for content in ('v1', 'v2', 'v3'))
    for file_name in reversed(modules):
        (wasm_dir / file_name).write_bytes(b'')
    for other in ('filter.wasm', modules[0][1:], modules[0].upper(), modules[0] + '.tmp', modules[0][:-5] + '.txt'):
        (wasm_dir / other).write_bytes(b'')
    assert stored_modules(f'{tmp_path}/./wasm/') == [str(wasm_dir / file_name) for file_name in modules]


def test_stored_modules_of_a_missing_directory_is_empty(tmp_path: pathlib.Path) -> None:
    assert stored_modules(str(tmp_path / 'absent')) == []


def test_stored_modules_of_a_relative_directory_are_absolute(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / 'wasm').mkdir()
    module = _module_name('v1')
    (tmp_path / 'wasm' / module).write_bytes(b'')
    monkeypatch.chdir(tmp_path)
    assert stored_modules('wasm') == [str(tmp_path / 'wasm' / module)]


def _not_wasm_reason(path: pathlib.Path) -> str:
    with pytest.raises(WasmModuleError) as caught:
        inspect_wasm(path.read_bytes(), str(path))
    return f'Envoy cannot run {path} as a filter: {caught.value}'


@pytest.mark.parametrize('content, expected', [
    pytest.param(build_module(function_exports=('proxy_on_vm_start', 'proxy_on_configure')),
                 lambda path: f'Envoy cannot run {path} as a filter: it exports no proxy_abi_version_* function', id='no-abi-export'),
    pytest.param(b'<html>not found</html>', _not_wasm_reason, id='not-wasm'),
    pytest.param(None, lambda path: f'Cannot read the module {path}: No such file or directory', id='missing'),
])
def test_check_filter_module_refuses_what_envoy_cannot_run(tmp_path: pathlib.Path, content: bytes | None,
                                                           expected: t.Callable[[pathlib.Path], str]) -> None:
    path = tmp_path / 'module.wasm'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WasmOciError) as caught:
        check_filter_module(str(path))
    assert str(caught.value).startswith(expected(path))


def test_check_filter_module_takes_a_proxy_wasm_module(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'module.wasm'
    path.write_bytes(proxy_module())
    check_filter_module(str(path))


def test_a_module_named_through_a_symlinked_directory_is_in_use(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    module = _module_name('v1')
    (tmp_path / 'real' / module).write_bytes(b'')
    (tmp_path / 'ecds').mkdir()
    (tmp_path / 'ecds' / 'add_header.yaml').write_text(_ecds_text('add_header', str(tmp_path / 'real' / module)))
    assert set(stored_modules(str(tmp_path / 'link'))) <= modules_in_use(str(tmp_path / 'ecds'))


@pytest.mark.parametrize('document, expected', [
    (ecds_document(wasm_filter('f', '/m.wasm', root_id='r')), True),
    ({'resources': []}, True),
    (DOCUMENT, False),
    ({'resources': [{'@type': 'type.googleapis.com/envoy.config.listener.v3.Listener'}]}, False),
    (None, False),
])
def test_is_ecds_document(document: t.Any, expected: bool) -> None:
    assert is_ecds_document(document) is expected
