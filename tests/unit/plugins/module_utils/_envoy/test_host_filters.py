# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The host's ECDS files as envoy_wasm_info reads them; how they drift from Envoy is test_drift's business."""

from __future__ import annotations

import hashlib
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.host_filters import HostFiles, module_digest, read_filter_file, read_host
from ansible_collections.wasm.oci.plugins.module_utils._envoy.plan import Paths
from ansible_collections.wasm.oci.tests.unit.envoy_host import V1, EnvoyHost


@pytest.fixture
def host(paths: Paths, add_module: t.Callable[..., str]) -> EnvoyHost:
    return EnvoyHost(paths, add_module)


def test_only_the_ecds_files_are_read(host: EnvoyHost) -> None:
    assert read_host(host.paths.config_dir) == HostFiles(host.paths.config_dir, [])
    host.write('add_header')
    for name in ('add_header.yaml.previous', '.hidden.yaml', 'notes.txt'):
        pathlib.Path(host.paths.ecds_dir, name).write_text('{}', encoding='utf-8')
    assert [read.name for read in read_host(host.paths.config_dir).files] == ['add_header']


def test_a_yaml_file_written_by_a_person(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'by_person.yaml'
    path.write_text('version_info: "7"\nresources:\n- "@type": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig\n'
                    '  name: by_person\n  typed_config:\n    "@type": type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm\n'
                    '    config: {name: plugin, vm_config: {code: {local: {filename: /srv/by_person.wasm}}}}\n', encoding='utf-8')
    read = read_filter_file(str(path), 'by_person')
    assert (read.filter_type, read.written, read.version, read.module, read.plugin) == ('network', None, '7', '/srv/by_person.wasm', 'plugin')


def test_module_digest(tmp_path: pathlib.Path) -> None:
    module = tmp_path / 'm.wasm'
    module.write_bytes(b'module')
    assert module_digest(str(module)) == 'sha256:' + hashlib.sha256(b'module').hexdigest()
    assert module_digest(str(tmp_path / 'none.wasm')) is None
    assert module_digest(None) is None


def test_a_file_tells_whether_it_is_still_as_envoy_wasm_filters_wrote_it(host: EnvoyHost) -> None:
    document = host.write('add_header')
    path = pathlib.Path(host.paths.ecds('add_header'))
    read = read_filter_file(str(path), 'add_header')
    assert (read.name, read.written, read.problem, read.version, read.identity, read.filter_type) == (
        'add_header', True, None, document['version_info'], V1, 'http')
    path.write_text(path.read_text(encoding='utf-8').replace('s3cr3t', 'edited'), encoding='utf-8')
    assert read_filter_file(str(path), 'add_header').written is False
    path.write_bytes(b'\xff\xfe')
    unreadable = read_filter_file(str(path), 'add_header')
    assert unreadable.written is False
    assert unreadable.problem.startswith(f'Cannot read {path}')
