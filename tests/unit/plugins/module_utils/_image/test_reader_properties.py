# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Property: images built from generated, partly hostile documents are read or refused with the collection's errors."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import typing as t

from hypothesis import given, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import LayoutError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image.description import ImageDescription
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import describe, resolve
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, sha256_digest, validate_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import read_small_blob
from ansible_collections.wasm.oci.tests.unit.property_support import JSON_VALUES, PARSER_SETTINGS, mutated, outcome
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import gzip_bytes, proxy_module, tar_bytes

MODULE = proxy_module()
RUNTIME = b'{"type":"envoy_proxy","abiVersions":["proxy_abi_version_0_2_1"],"config":{"root_ids":["r"]}}'
CONFIG_TYPES = st.sampled_from([mt.WASM_CONFIG, mt.WASM_TO_OCI_CONFIG, mt.WASM_ARTIFACT_CONFIG, mt.OCI_IMAGE_CONFIG,
                                mt.DOCKER_IMAGE_CONFIG, 'application/vnd.oci.empty.v1+json'])
LAYER_TYPES = st.sampled_from([mt.WASM_CONTENT_LAYER, mt.WASM_TO_OCI_LAYER, mt.WASM_ARTIFACT_LAYER, mt.OCI_LAYER_TAR,
                               mt.OCI_LAYER_TAR_GZIP, mt.DOCKER_LAYER_TAR_GZIP, 'application/vnd.in-toto+json'])
MANIFEST_TYPES = st.sampled_from([mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST])
CONFIG_BLOBS = st.one_of(st.sampled_from([RUNTIME, b'{}', b'{"os":"wasip1","architecture":"wasm"}']), mutated(st.just(RUNTIME)),
                         JSON_VALUES.map(lambda value: json.dumps(value).encode()))
LAYER_BLOBS = st.one_of(
    st.sampled_from([
        MODULE, tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME)]), gzip_bytes(tar_bytes([('plugin.wasm', MODULE)])),
        gzip_bytes(tar_bytes([('a/plugin.wasm', MODULE), ('b/plugin.wasm', MODULE + b'x')])),
    ]),
    mutated(st.just(tar_bytes([('plugin.wasm', MODULE), ('runtime-config.json', RUNTIME)]))),
    st.binary(max_size=64),
)
# Pairs as real images have them, so that many examples get past classification to the layers; any pair otherwise.
CONFIGS = st.one_of(st.sampled_from([(mt.WASM_CONFIG, RUNTIME), (mt.OCI_IMAGE_CONFIG, b'{"os":"linux","architecture":"amd64"}')]),
                    st.tuples(CONFIG_TYPES, CONFIG_BLOBS))
LAYERS = st.one_of(st.sampled_from([(mt.WASM_CONTENT_LAYER, MODULE), (mt.OCI_LAYER_TAR, tar_bytes([('plugin.wasm', MODULE)]))]),
                   st.tuples(LAYER_TYPES, LAYER_BLOBS))
PLATFORMS = st.one_of(st.sampled_from([None, {'os': 'wasip1', 'architecture': 'wasm'}, {'os': 'linux', 'architecture': 'amd64'},
                                       {'os': 'unknown', 'architecture': 'unknown'}]), JSON_VALUES)


class FakeSource:
    """Blobs by digest, read the way LayoutSource reads them: every blob checked against its descriptor."""

    reference = 'oci:/layout:property'

    def __init__(self, root: dict[str, t.Any] | None, blobs: dict[str, bytes]) -> None:
        self.root = root
        self.blobs = blobs

    def root_descriptor(self) -> dict[str, t.Any] | None:
        return self.root

    def read_manifest(self, descriptor: dict[str, t.Any]) -> bytes:
        return read_small_blob(self, descriptor, f'Manifest of {self.reference}')

    @contextlib.contextmanager
    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.Iterator[DigestingReader]:
        digest = validate_digest(descriptor.get('digest'), what)
        if digest not in self.blobs:
            raise LayoutError(f'{what} {digest} is missing')
        yield DigestingReader(io.BytesIO(self.blobs[digest]), digest, descriptor.get('size'), what)


def _paths(value: t.Any, prefix: tuple[t.Any, ...] = ()) -> t.Iterator[tuple[t.Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@st.composite
def corrupted(draw: st.DrawFn, document: dict[str, t.Any]) -> dict[str, t.Any]:
    """document with up to two of its values (at any depth) replaced by arbitrary JSON."""
    for _change in range(draw(st.sampled_from([0, 0, 1, 2]))):
        paths = list(_paths(document))[1:]
        path = paths[draw(st.integers(0, 1023)) % len(paths)]  # the same draw whatever the document's shape
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = copy.deepcopy(draw(JSON_VALUES))  # hypothesis may hand the same object out again
    return document


@st.composite
def images(draw: st.DrawFn) -> FakeSource:
    blobs: dict[str, bytes] = {}

    def add(media_type: t.Any, data: bytes, **extra: t.Any) -> dict[str, t.Any]:
        blobs[sha256_digest(data)] = data
        return {'mediaType': media_type, 'digest': sha256_digest(data), 'size': len(data), **extra}

    config = add(*draw(CONFIGS))
    layers = [add(*draw(LAYERS)) for _layer in range(draw(st.integers(1, 3)))]
    manifest_type = draw(st.just(mt.OCI_MANIFEST) | MANIFEST_TYPES)
    manifest = draw(corrupted({'schemaVersion': 2, 'mediaType': manifest_type, 'config': config, 'layers': layers,
                               'annotations': {mt.ANNOTATION_RUNTIME_TYPE: 'envoy_proxy'}}))
    root = add(manifest_type, json.dumps(manifest).encode())
    if draw(st.booleans()):
        children = [dict(root, platform=draw(PLATFORMS))] + [add(mt.OCI_MANIFEST, b'{}', platform=draw(PLATFORMS))
                                                             for _child in range(draw(st.integers(0, 2)))]
        index_type = draw(st.just(mt.OCI_INDEX) | MANIFEST_TYPES)
        index = draw(corrupted({'schemaVersion': 2, 'mediaType': index_type, 'manifests': children}))
        root = add(index_type, json.dumps(index).encode())
    return FakeSource(draw(st.just(root) | corrupted(root)), blobs)


def _read(source: FakeSource, platform: str | None) -> list[ImageDescription]:
    resolved = resolve(source, platform)
    if resolved is None:
        return []
    return [describe(source, resolved, max_size=1024 * 1024), describe(source, resolved, max_size=1024 * 1024, target=io.BytesIO())]


@PARSER_SETTINGS
@given(images(), st.none() | st.sampled_from(['wasip1/wasm', 'linux/amd64', 'linux', '/', '']) | st.text(max_size=12))
def test_any_generated_image_is_described_or_refused_with_the_collections_error(source: FakeSource, platform: str | None) -> None:
    result = outcome(_read, source, platform)
    assert isinstance(result, (list, WasmOciError))
    if isinstance(result, list):
        for description in result:
            json.dumps(description.as_dict())
