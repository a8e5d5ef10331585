# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Read a Wasm image from any content source: resolve indexes, classify, describe, extract.

Everything that knows the Wasm image format lives here, so every module reads every
variant the same way, from a registry or a local layout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import (
    METADATA_LIMIT, ContentSource, check_descriptor, descriptor_list, parse_json_document, read_small_blob,
)
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._image.description import ImageDescription
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig, parse_runtime_config
from ansible_collections.wasm.oci.plugins.module_utils._image.tar_layer import scan_layer
from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import WASM_MAGIC

DEFAULT_MAX_SIZE = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
_WASM_OS = frozenset({'wasi', 'wasip1', 'wasip2'})
_ATTESTATION_ANNOTATION = 'vnd.docker.reference.type'


@dataclasses.dataclass(frozen=True)
class ResolvedImage:
    """An image manifest, reached through an index when the reference names one."""

    digest: str
    media_type: str
    manifest: dict[str, t.Any]
    variant: str
    index_digest: str | None = None
    index_platform: dict[str, t.Any] | None = None


@dataclasses.dataclass(frozen=True)
class ModuleContent:
    digest: str
    size: int


def _platform_name(platform: dict[str, t.Any] | None) -> str:
    if not platform:
        return 'unknown'
    parts = [platform.get('os', '?'), platform.get('architecture', '?')]
    if platform.get('variant'):
        parts.append(platform['variant'])
    return '/'.join(str(part) for part in parts)


def choose_platform_child(index: dict[str, t.Any], platform: str | None, what: str) -> dict[str, t.Any]:
    """Pick an image from an index: the named platform, else wasi/wasm, else the only image."""
    children = [
        child for child in descriptor_list(index, 'manifests', what)
        if (child.get('annotations') or {}).get(_ATTESTATION_ANNOTATION) != 'attestation-manifest'
    ]
    if platform:
        wanted_parts = platform.strip('/').split('/')
        matches = [
            child for child in children
            if _platform_name(child.get('platform')).split('/')[:len(wanted_parts)] == wanted_parts
        ]
    else:
        matches = [
            child for child in children
            if (child.get('platform') or {}).get('architecture') == 'wasm' and (child.get('platform') or {}).get('os') in _WASM_OS
        ] or (children if len(children) == 1 else [])
    if matches:
        return matches[0]
    available = ', '.join(_platform_name(child.get('platform')) for child in children) or 'none'
    wanted = f'image for platform {platform}' if platform else 'wasi/wasm image and more than one image'
    raise ImageFormatError(f'{what} has no {wanted}; it offers: {available}. Set platform to one of them')


def classify(manifest: dict[str, t.Any], what: str) -> str:
    layer_types = [layer.get('mediaType') for layer in descriptor_list(manifest, 'layers', what)]
    config_type = check_descriptor(manifest.get('config'), f'Config descriptor of {what}').get('mediaType')
    if config_type == mt.WASM_CONFIG or mt.WASM_CONTENT_LAYER in layer_types:
        return mt.VARIANT_OCI
    if config_type == mt.WASM_ARTIFACT_CONFIG or (layer_types and set(layer_types) == {mt.WASM_ARTIFACT_LAYER}):
        return mt.VARIANT_ARTIFACT
    if layer_types and any(layer_type in mt.TAR_LAYERS for layer_type in layer_types):
        return mt.VARIANT_COMPAT
    raise ImageFormatError(
        f'{what} is not a Wasm image: config type {config_type}, layer types {", ".join(map(str, layer_types)) or "none"}'
    )


def resolve(source: ContentSource, platform: str | None = None) -> ResolvedImage | None:
    """Follow the reference to an image manifest; None when it names nothing."""
    descriptor = source.root_descriptor()
    if descriptor is None:
        return None
    check_descriptor(descriptor, f'Descriptor of {source.reference}')
    what = f'Manifest of {source.reference}'
    document = parse_json_document(source.read_manifest(descriptor), what)
    media_type = document.get('mediaType') or descriptor.get('mediaType')
    if media_type in mt.INDEXES or (media_type is None and 'manifests' in document):
        child = choose_platform_child(document, platform, f'Index of {source.reference}')
        manifest = parse_json_document(source.read_manifest(child), what)
        return ResolvedImage(
            digest=child['digest'],
            media_type=manifest.get('mediaType') or child.get('mediaType') or mt.OCI_MANIFEST,
            manifest=manifest,
            variant=classify(manifest, what),
            index_digest=descriptor['digest'],
            index_platform=child.get('platform'),
        )
    return ResolvedImage(
        digest=descriptor['digest'],
        media_type=media_type or mt.OCI_MANIFEST,
        manifest=document,
        variant=classify(document, what),
    )


class _ModuleSink:
    """Hash, count and check what is written, and pass it on to ``target`` if given."""

    def __init__(self, target: t.BinaryIO | None, max_size: int, what: str) -> None:
        self._target = target
        self._max_size = max_size
        self._what = what
        self._hash = hashlib.sha256()
        self._head = b''
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max_size:
            raise ImageFormatError(f'{self._what} is larger than max_size ({self._max_size} bytes)')
        if len(self._head) < len(WASM_MAGIC):
            self._head += chunk[:len(WASM_MAGIC)]
            if not WASM_MAGIC.startswith(self._head[:len(WASM_MAGIC)]):
                raise ImageFormatError(f'{self._what} is not a WebAssembly module (it lacks the \\0asm magic)')
        self._hash.update(chunk)
        if self._target is not None:
            self._target.write(chunk)

    def finish(self) -> ModuleContent:
        if self._head[:len(WASM_MAGIC)] != WASM_MAGIC:
            raise ImageFormatError(f'{self._what} is not a WebAssembly module (it lacks the \\0asm magic)')
        return ModuleContent(digest='sha256:' + self._hash.hexdigest(), size=self.size)


def _copy(stream: t.BinaryIO, sink: _ModuleSink) -> None:
    while chunk := stream.read(_CHUNK):
        sink.write(chunk)


def module_layer(resolved: ResolvedImage, what: str) -> dict[str, t.Any]:
    layer_type = mt.WASM_CONTENT_LAYER if resolved.variant == mt.VARIANT_OCI else mt.WASM_ARTIFACT_LAYER
    layers = [layer for layer in resolved.manifest['layers'] if layer.get('mediaType') == layer_type]
    if len(layers) != 1:
        raise ImageFormatError(f'{what} must have exactly one {layer_type} layer, it has {len(layers)}')
    return layers[0]


@dataclasses.dataclass
class _CompatScan:
    runtime: RuntimeConfig | None = None
    module: ModuleContent | None = None


def _scan_compat(
    source: ContentSource, resolved: ResolvedImage, max_size: int, target: t.BinaryIO | None, need_module: bool,
) -> _CompatScan:
    """Find ``plugin.wasm`` in the last layer that has it, and the runtime config beside it."""
    wanted = {mt.COMPAT_MODULE_FILE, mt.RUNTIME_CONFIG_TITLE}
    tar_layers = [layer for layer in resolved.manifest['layers'] if layer.get('mediaType') in mt.TAR_LAYERS]
    for layer in reversed(tar_layers):
        what = f'Layer {layer["digest"]} of {source.reference}'
        if layer['size'] > max_size:
            raise ImageFormatError(f'{what} is {layer["size"]} bytes, more than max_size ({max_size} bytes)')
        scan = _CompatScan()
        with source.open_blob(layer, what) as reader:
            stopped_early = False
            for member in scan_layer(t.cast(t.BinaryIO, reader), what, wanted, max_size):
                if member.name == mt.RUNTIME_CONFIG_TITLE:
                    if member.size > METADATA_LIMIT:
                        raise ImageFormatError(f'{what}: {member.name} is larger than {METADATA_LIMIT} bytes')
                    scan.runtime = parse_runtime_config(member.stream.read(), f'{what} ({member.name})')
                else:
                    sink = _ModuleSink(target, max_size, f'{mt.COMPAT_MODULE_FILE} in {what}')
                    _copy(member.stream, sink)
                    scan.module = sink.finish()
                if scan.runtime and (scan.module or not need_module):
                    stopped_early = True
                    break
            # Module bytes are only trusted from a layer checked against its digest; a
            # metadata-only look may stop early and leave the rest of the layer unread.
            if need_module or not stopped_early:
                reader.verify()
            elif scan.module:
                # Hashed from a layer that was not read to its end, so not checked against its digest.
                scan.module = None
        if scan.module or (scan.runtime and not need_module):
            return scan
    if need_module:
        raise ImageFormatError(
            f'{source.reference} (manifest {resolved.digest}) is not a Wasm image: it has tar layers, but none holds '
            f'a {mt.COMPAT_MODULE_FILE}'
        )
    return _CompatScan()


def _runtime_from_annotations(annotations: dict[str, str]) -> RuntimeConfig:
    abi = annotations.get(mt.ANNOTATION_ABI_VERSION, '')
    return RuntimeConfig(
        runtime_type=annotations.get(mt.ANNOTATION_RUNTIME_TYPE),
        abi_versions=tuple(part.strip() for part in abi.split(',') if part.strip()),
    )


def _copy_module_layer(
    source: ContentSource, layer: dict[str, t.Any], target: t.BinaryIO, max_size: int,
) -> ModuleContent:
    what = f'Module layer {layer["digest"]} of {source.reference}'
    if layer['size'] > max_size:
        raise ImageFormatError(f'{what} is {layer["size"]} bytes, more than max_size ({max_size} bytes)')
    sink = _ModuleSink(target, max_size, what)
    with source.open_blob(layer, what) as reader:
        _copy(t.cast(t.BinaryIO, reader), sink)
        reader.verify()
    return sink.finish()


def describe(
    source: ContentSource, resolved: ResolvedImage, max_size: int = DEFAULT_MAX_SIZE, module_digest: bool = True,
    target: t.BinaryIO | None = None,
) -> ImageDescription:
    """Describe the image, and stream its module into ``target`` when one is given.

    ``module_digest=False`` lets a compat image skip hashing its module, so a metadata
    look reads its layer only up to the runtime config. The other variants never need
    the module layer for a description: its digest is the module digest.
    """
    what = f'Image {source.reference}'
    manifest = resolved.manifest
    raw_annotations = manifest.get('annotations') or {}
    if not isinstance(raw_annotations, dict):
        raise ImageFormatError(f'{what} has annotations that are not an object')
    annotations = {str(key): str(value) for key, value in raw_annotations.items()}
    config_blob = read_small_blob(source, manifest.get('config'), f'Config of {source.reference}')

    platform = resolved.index_platform
    wasm: ModuleContent | None
    if resolved.variant == mt.VARIANT_OCI:
        runtime = parse_runtime_config(config_blob, f'the config of {source.reference}')
    else:
        # Standard image configs and the CNCF artifact config carry the platform instead.
        config = parse_json_document(config_blob, f'Config of {source.reference}')
        platform = platform or {key: config[key] for key in ('os', 'architecture') if key in config}
        runtime = RuntimeConfig(runtime_type=None)

    if resolved.variant == mt.VARIANT_COMPAT:
        scan = _scan_compat(source, resolved, max_size, target, need_module=module_digest or target is not None)
        runtime = scan.runtime or _runtime_from_annotations(annotations)
        wasm = scan.module
    else:
        layer = module_layer(resolved, what)
        if target is None:
            wasm = ModuleContent(digest=layer['digest'], size=layer['size'])
        else:
            wasm = _copy_module_layer(source, layer, target, max_size)

    return ImageDescription(
        reference=source.reference,
        digest=resolved.digest,
        media_type=resolved.media_type,
        variant=resolved.variant,
        runtime=runtime,
        wasm_digest=wasm.digest if wasm else None,
        wasm_size=wasm.size if wasm else None,
        annotations=annotations,
        platform=platform or None,
        index_digest=resolved.index_digest,
    )


def describe_tag(layout: OciLayout, tag: str, platform: str | None = None, max_size: int = DEFAULT_MAX_SIZE) -> ImageDescription | None:
    """The image ``tag`` names in ``layout``, or None when the layout has no such tag."""
    source = LayoutSource(layout, tag)
    resolved = resolve(source, platform)
    return describe(source, resolved, max_size) if resolved else None
