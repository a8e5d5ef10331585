# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Build the blobs and manifest of a Wasm image, reproducibly, in memory.

Same inputs, same bytes: canonical JSON, fixed tar metadata, gzip without a
timestamp, no creation time in any config. So the manifest digest identifies the
inputs and a rebuild can be recognised as a no-op.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
from ansible_collections.wasm.oci.plugins.module_utils._image.tar_layer import build_tar_gzip_layer
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, canonical_json, sha256_digest

VARIANTS = (mt.VARIANT_OCI, mt.VARIANT_COMPAT)
COMPAT_MEDIA_TYPES = ('oci', 'docker')
# A compat image is a standard image, so its config needs a platform; this is the one
# multi-platform builders give Wasm, and the one an index reader picks.
COMPAT_PLATFORM = {'architecture': 'wasm', 'os': 'wasi'}


@dataclasses.dataclass(frozen=True)
class BuiltImage:
    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def layout_blobs(self) -> dict[str, bytes]:
        """What a layout stores: the blobs and the manifest itself."""
        return {**self.blobs, self.digest: self.manifest}

    @property
    def descriptor(self) -> dict[str, t.Any]:
        return {'mediaType': self.media_type, 'digest': self.digest, 'size': len(self.manifest)}


def _descriptor(media_type: str, data: bytes, title: str | None = None) -> dict[str, t.Any]:
    descriptor: dict[str, t.Any] = {'mediaType': media_type, 'digest': sha256_digest(data), 'size': len(data)}
    if title:
        descriptor['annotations'] = {mt.ANNOTATION_TITLE: title}
    return descriptor


def _finish(media_type: str, manifest: dict[str, t.Any], blobs: t.Iterable[bytes]) -> BuiltImage:
    return BuiltImage(
        manifest=canonical_json(manifest),
        media_type=media_type,
        blobs={sha256_digest(blob): blob for blob in blobs},
    )


def _runtime_annotations(runtime: RuntimeConfig) -> dict[str, str]:
    annotations = {mt.ANNOTATION_RUNTIME_TYPE: runtime.runtime_type or ''}
    if runtime.abi_versions:
        annotations[mt.ANNOTATION_ABI_VERSION] = ','.join(runtime.abi_versions)
    return annotations


def build_oci_variant(module: bytes, runtime: RuntimeConfig, annotations: dict[str, str]) -> BuiltImage:
    """Config blob plus two layers (the config again, then the module), as Istio and Envoy Gateway expect."""
    config = runtime.to_json()
    manifest = {
        'schemaVersion': 2,
        'mediaType': mt.OCI_MANIFEST,
        'config': _descriptor(mt.WASM_CONFIG, config),
        'layers': [
            _descriptor(mt.WASM_CONFIG, config, mt.RUNTIME_CONFIG_TITLE),
            _descriptor(mt.WASM_CONTENT_LAYER, module, mt.MODULE_TITLE),
        ],
        'annotations': {**_runtime_annotations(runtime), **annotations},
    }
    return _finish(mt.OCI_MANIFEST, manifest, (config, module))


def build_compat_variant(
    module: bytes, runtime: RuntimeConfig, annotations: dict[str, str], compat_media_type: str,
) -> BuiltImage:
    """A standard one-layer image holding ``plugin.wasm`` and ``runtime-config.json``."""
    if compat_media_type not in COMPAT_MEDIA_TYPES:
        raise ImageFormatError(f'compat_media_type must be one of {", ".join(COMPAT_MEDIA_TYPES)}, not {compat_media_type!r}')
    # The runtime config goes first, so a reader after the root IDs can stop before the module.
    tar_bytes, layer = build_tar_gzip_layer({mt.RUNTIME_CONFIG_TITLE: runtime.to_json(), mt.COMPAT_MODULE_FILE: module})
    config = canonical_json(dict(COMPAT_PLATFORM, config={}, rootfs={'type': 'layers', 'diff_ids': [sha256_digest(tar_bytes)]}))
    if compat_media_type == 'docker':
        if annotations:
            raise ImageFormatError(
                'Docker v2 manifests cannot carry annotations; drop annotations or use compat_media_type: oci'
            )
        manifest = {
            'schemaVersion': 2,
            'mediaType': mt.DOCKER_MANIFEST,
            'config': _descriptor(mt.DOCKER_IMAGE_CONFIG, config),
            'layers': [_descriptor(mt.DOCKER_LAYER_TAR_GZIP, layer)],
        }
        return _finish(mt.DOCKER_MANIFEST, manifest, (config, layer))
    manifest = {
        'schemaVersion': 2,
        'mediaType': mt.OCI_MANIFEST,
        'config': _descriptor(mt.OCI_IMAGE_CONFIG, config),
        'layers': [_descriptor(mt.OCI_LAYER_TAR_GZIP, layer)],
        'annotations': {**_runtime_annotations(runtime), **annotations, mt.ANNOTATION_VARIANT: mt.VARIANT_COMPAT},
    }
    return _finish(mt.OCI_MANIFEST, manifest, (config, layer))


def build_image(
    variant: str, module: bytes, runtime: RuntimeConfig, annotations: dict[str, str], compat_media_type: str = 'oci',
) -> BuiltImage:
    if variant == mt.VARIANT_OCI:
        return build_oci_variant(module, runtime, annotations)
    if variant == mt.VARIANT_COMPAT:
        return build_compat_variant(module, runtime, annotations, compat_media_type)
    raise ImageFormatError(f'variant must be one of {", ".join(VARIANTS)}, not {variant!r}')


@dataclasses.dataclass(frozen=True)
class BuiltImageSource:
    """A built image read back through the image reader before (or without) storing it."""

    image: BuiltImage
    reference: str

    def root_descriptor(self) -> dict[str, t.Any]:
        return self.image.descriptor

    def read_manifest(self, descriptor: dict[str, t.Any]) -> bytes:
        return self.image.manifest

    @contextlib.contextmanager
    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.Iterator[DigestingReader]:
        data = self.image.blobs[descriptor['digest']]
        yield DigestingReader(io.BytesIO(data), descriptor['digest'], len(data), what)
