# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Media types of the Wasm image variants and of the standard images around them."""

from __future__ import annotations

OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json'
OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar'
OCI_LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
OCI_LAYER_TAR_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd'

DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json'
DOCKER_LAYER_TAR_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip'

# The Wasm Image Specification's own ("oci" variant) types.
WASM_CONFIG = 'application/vnd.module.wasm.config.v1+json'
WASM_CONTENT_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm'

# The CNCF TAG-Runtime "Wasm OCI Artifact" layout (wasm-pkg-tools, runwasi, wasmCloud).
WASM_ARTIFACT_CONFIG = 'application/vnd.wasm.config.v0+json'
WASM_ARTIFACT_LAYER = 'application/wasm'

# wasm-to-oci (engineerd, through ORAS v0): the config is "{}" under this type, the raw module the only layer.
WASM_TO_OCI_CONFIG = 'application/vnd.wasm.config.v1+json'
WASM_TO_OCI_LAYER = 'application/vnd.wasm.content.layer.v1+wasm'

# ORAS's configs when it is given none: the OCI 1.1 empty descriptor (ORAS 1.1 and later), and "{}" under a type of its
# own (ORAS 1.0, the ORAS Python SDK).
OCI_EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json'
ORAS_UNKNOWN_CONFIG = 'application/vnd.unknown.config.v1+json'

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
TAR_LAYERS = frozenset({OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP, OCI_LAYER_TAR_ZSTD, DOCKER_LAYER_TAR_GZIP})

ANNOTATION_TITLE = 'org.opencontainers.image.title'
ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name'
ANNOTATION_VARIANT = 'module.wasm.image/variant'
ANNOTATION_RUNTIME_TYPE = 'module.wasm.runtime/type'
ANNOTATION_ABI_VERSION = 'module.wasm.runtime/abi_version'

VARIANT_OCI = 'oci'
VARIANT_COMPAT = 'compat'
VARIANT_ARTIFACT = 'artifact'

MODULE_TITLE = 'filter.wasm'
RUNTIME_CONFIG_TITLE = 'runtime-config.json'
COMPAT_MODULE_FILE = 'plugin.wasm'

# cosign's key-based ("simple signing") signatures: one layer per signature in the manifest tagged sha256-<hex>.sig,
# the signature itself (base64 DER ECDSA) in this annotation of the layer.
COSIGN_SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json'
ANNOTATION_COSIGN_SIGNATURE = 'dev.cosignproject.cosign/signature'
