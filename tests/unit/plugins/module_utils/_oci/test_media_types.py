# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt


def test_wasm_image_specification_types_are_the_published_ones() -> None:
    assert mt.WASM_CONFIG == 'application/vnd.module.wasm.config.v1+json'
    assert mt.WASM_CONTENT_LAYER == 'application/vnd.module.wasm.content.layer.v1+wasm'
    assert mt.ANNOTATION_VARIANT == 'module.wasm.image/variant'
    assert (mt.MODULE_TITLE, mt.RUNTIME_CONFIG_TITLE, mt.COMPAT_MODULE_FILE) == ('filter.wasm', 'runtime-config.json', 'plugin.wasm')


def test_cncf_artifact_types() -> None:
    assert mt.WASM_ARTIFACT_CONFIG == 'application/vnd.wasm.config.v0+json'
    assert mt.WASM_ARTIFACT_LAYER == 'application/wasm'


def test_groups_hold_every_manifest_index_and_tar_layer_type() -> None:
    assert {mt.OCI_MANIFEST, mt.DOCKER_MANIFEST} == mt.IMAGE_MANIFESTS
    assert {mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST} == mt.INDEXES
    assert {
        'application/vnd.oci.image.layer.v1.tar',
        'application/vnd.oci.image.layer.v1.tar+gzip',
        'application/vnd.oci.image.layer.v1.tar+zstd',
        'application/vnd.docker.image.rootfs.diff.tar.gzip',
    } == mt.TAR_LAYERS
    assert not mt.IMAGE_MANIFESTS & mt.INDEXES
