# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import hashlib
import os
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmModuleError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import dump_document, ecds_document, wasm_filter
from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_files import modules_in_use
from ansible_collections.wasm.oci.plugins.module_utils._envoy.module_store import (
    check_filter_module,
    module_store_path,
    stale_pulled_copies,
    store_module,
    stored_modules,
    unused_modules,
)
from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import inspect_wasm
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import build_module, proxy_module


def _module_name(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest() + '.wasm'


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


@pytest.mark.parametrize(('content', 'expected'), [
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
    document = ecds_document(wasm_filter('add_header', str(tmp_path / 'real' / module), root_id='add_header'))
    (tmp_path / 'ecds' / 'add_header.yaml').write_text(dump_document(document))
    assert set(stored_modules(str(tmp_path / 'link'))) <= modules_in_use(str(tmp_path / 'ecds'))


def test_module_store_path_is_the_hex_digest_in_the_wasm_dir() -> None:
    assert module_store_path('/var/lib/envoy/wasm', 'sha256:' + 'ab' * 32) == f'/var/lib/envoy/wasm/{"ab" * 32}.wasm'


@pytest.mark.parametrize('digest', [
    'sha512:' + 'a' * 64, 'a' * 64, 'sha256:' + 'A' * 64, 'sha256:' + 'a' * 63, 'sha256:' + 'a' * 65,
    'sha256:../../' + 'a' * 58, 'sha256:', '',
])
def test_module_store_path_refuses_what_is_no_sha256_digest(digest: str) -> None:
    with pytest.raises(WasmOciError, match=f'^{digest!r} is no sha256 digest of a module$'):
        module_store_path('/var/lib/envoy/wasm', digest)


def test_unused_modules_are_the_stored_ones_not_in_use(paths: t.Any, add_module: t.Any) -> None:
    in_use, unused = (module_store_path(paths.wasm_dir, add_module(marker)) for marker in ('u', 'o'))
    pathlib.Path(paths.wasm_dir, 'filter.wasm').write_bytes(b'')
    assert unused_modules(paths.wasm_dir, {in_use}) == [unused]
    assert unused_modules(paths.wasm_dir, set()) == sorted([in_use, unused])
    assert unused_modules(paths.wasm_dir, {in_use, unused}) == []
    assert unused_modules(os.path.join(paths.wasm_dir, 'absent'), set()) == []


PROXY = proxy_module()
DIGEST = 'sha256:' + hashlib.sha256(PROXY).hexdigest()


def _store(tmp_path: pathlib.Path, paths: t.Any, data: bytes | None, wasm_dir: bool = True) -> str:
    """Store the pulled file ``tmp_path/pulled.wasm`` holding ``data`` (None: no such file) as the module PROXY; its store path."""
    if data is not None:
        (tmp_path / 'pulled.wasm').write_bytes(data)
    if wasm_dir:
        os.makedirs(paths.wasm_dir)
    path = module_store_path(paths.wasm_dir, DIGEST)
    store_module(str(tmp_path / 'pulled.wasm'), path, DIGEST)
    return path


def test_store_module_copies_a_module_under_its_digest(tmp_path: pathlib.Path, paths: t.Any) -> None:
    path = _store(tmp_path, paths, PROXY)
    assert pathlib.Path(path).read_bytes() == PROXY
    assert os.stat(path).st_mode & 0o777 == 0o644
    check_filter_module(path)


def test_store_module_refuses_a_source_that_is_not_the_module(tmp_path: pathlib.Path, paths: t.Any) -> None:
    with pytest.raises(WasmOciError, match=f'^{tmp_path}/pulled.wasm is not the module {DIGEST} \\(its sha256 is [0-9a-f]{{64}}\\); '
                                           'pull it again'):
        _store(tmp_path, paths, proxy_module(marker='other'))
    assert os.listdir(paths.wasm_dir) == []


@pytest.mark.parametrize(('source', 'wasm_dir'), [(None, True), (PROXY, False)], ids=['no-source', 'no-store'])
def test_store_module_names_what_it_cannot_read_or_write(tmp_path: pathlib.Path, paths: t.Any, source: bytes | None,
                                                         wasm_dir: bool) -> None:
    path = module_store_path(paths.wasm_dir, DIGEST)
    with pytest.raises(WasmOciError, match=f'^Cannot store the module {tmp_path}/pulled.wasm as {path}: No such file or directory$'):
        _store(tmp_path, paths, source, wasm_dir)


def test_check_filter_module_refuses_a_damaged_content_addressed_module(paths: t.Any, add_module: t.Any) -> None:
    path = module_store_path(paths.wasm_dir, add_module())
    check_filter_module(path)
    # Another valid proxy-wasm module under the first one's name: not what the name promises.
    pathlib.Path(path).write_bytes(proxy_module(marker='other'))
    with pytest.raises(WasmOciError, match=f'^The module {path} is damaged: its sha256 is not the one its name gives; remove it'):
        check_filter_module(path)


def test_check_filter_module_refuses_a_content_addressed_module_that_is_no_proxy_wasm(paths: t.Any, add_module: t.Any) -> None:
    path = module_store_path(paths.wasm_dir, add_module(data=build_module(function_exports=('_start',))))
    with pytest.raises(WasmOciError, match='it exports no proxy_abi_version_\\* function, so it is no proxy-wasm module'):
        check_filter_module(path)


def test_pulled_copies_of_images_no_filter_uses_are_stale(tmp_path: pathlib.Path) -> None:
    current, old = tmp_path / f'.{"a" * 64}.pulled.wasm', tmp_path / f'.{"b" * 64}.pulled.wasm'
    others = [tmp_path / f'{"c" * 64}.wasm', tmp_path / '.notes.pulled.wasm']
    for path in [current, old, *others]:
        path.write_bytes(b'')
    assert stale_pulled_copies(str(tmp_path), {os.path.realpath(current)}) == [os.path.realpath(old)]
    assert stale_pulled_copies(str(tmp_path / 'missing'), set()) == []
