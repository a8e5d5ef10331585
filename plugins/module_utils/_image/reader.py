# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Read a Wasm image from any content source: resolve indexes, classify, describe, extract.

Everything that knows the Wasm image format lives here, so every module reads every
variant the same way, from a registry or a local layout.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import typing as t

# By name, with the other imports: concurrent.futures imports its executor on first use, which in a new process took
# 2 ms in the middle of a pull.
from concurrent.futures import Future, ThreadPoolExecutor

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._image.description import ImageDescription
from ansible_collections.wasm.oci.plugins.module_utils._image.platform import choose_platform_child, is_index, platform_name
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig, parse_runtime_config
from ansible_collections.wasm.oci.plugins.module_utils._image.tar_layer import PeekableStream, scan_layer
from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import WASM_MAGIC
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import (
    METADATA_LIMIT,
    ContentSource,
    check_descriptor,
    descriptor_list,
    parse_json_document,
    read_small_blob,
)
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout

DEFAULT_MAX_SIZE = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
# Layers that hold the module bytes themselves, by variant; wasm-to-oci's are an older spelling of the oci variant's.
_MODULE_LAYERS = {
    mt.VARIANT_OCI: frozenset({mt.WASM_CONTENT_LAYER, mt.WASM_TO_OCI_LAYER}),
    mt.VARIANT_ARTIFACT: frozenset({mt.WASM_ARTIFACT_LAYER}),
}
# ORAS's configs for a push that names none; with them, a plain "tar" layer may be a module ORAS pushed untyped.
_ORAS_CONFIGS = frozenset({mt.OCI_EMPTY_CONFIG, mt.ORAS_UNKNOWN_CONFIG})


@dataclasses.dataclass(frozen=True)
class ResolvedImage:
    """An image manifest, reached through an index when the reference names one.

    ``variant`` comes from the media types alone. A compat image may still turn out to be a module that ORAS
    pushed untyped (see ``_untyped_oras_module``), which only its bytes tell: describe() reports the variant read.
    """

    digest: str
    media_type: str
    manifest: dict[str, t.Any]
    variant: str
    index_digest: str | None = None
    index_platform: dict[str, t.Any] | None = None

    @property
    def named_digest(self) -> str:
        """The digest of what the reference named: the index when it named one. Signatures cover this digest."""
        return self.index_digest or self.digest


@dataclasses.dataclass(frozen=True)
class ModuleContent:
    digest: str
    size: int


def classify(manifest: dict[str, t.Any], what: str) -> str:
    """The variant of an image manifest, from its media types alone.

    The config type decides where it names a Wasm type; otherwise the layers do, so
    ORAS 1.x artifacts (an empty config, the kind in ``artifactType``) are read by their module layer.
    """
    layer_types = [layer.get('mediaType') for layer in descriptor_list(manifest, 'layers', what)]
    config_type = check_descriptor(manifest.get('config'), f'Config descriptor of {what}').get('mediaType')
    if config_type in (mt.WASM_CONFIG, mt.WASM_TO_OCI_CONFIG) or _MODULE_LAYERS[mt.VARIANT_OCI].intersection(layer_types):
        return mt.VARIANT_OCI
    if config_type == mt.WASM_ARTIFACT_CONFIG or mt.WASM_ARTIFACT_LAYER in layer_types:
        return mt.VARIANT_ARTIFACT
    if any(layer_type in mt.TAR_LAYERS for layer_type in layer_types):
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
    if not is_index(document, media_type):
        return ResolvedImage(
            digest=descriptor['digest'], media_type=media_type or mt.OCI_MANIFEST, manifest=document, variant=classify(document, what),
        )
    index_what = f'Index of {source.reference}'
    child = choose_platform_child(document, platform, index_what)
    manifest = parse_json_document(source.read_manifest(child), what)
    child_type = manifest.get('mediaType') or child.get('mediaType')
    if is_index(manifest, child_type):
        raise ImageFormatError(
            f'{index_what} chose {child["digest"]} (platform {platform_name(child.get("platform"))}), which is itself an '
            'index: nested indexes are not followed. Name the inner index by its digest instead, or flatten the image'
        )
    return ResolvedImage(
        digest=child['digest'],
        media_type=child_type or mt.OCI_MANIFEST,
        manifest=manifest,
        variant=classify(manifest, what),
        index_digest=descriptor['digest'],
        index_platform=child.get('platform'),
    )


class _ModuleSink:
    """Hash, count and check what is written, and pass it on to ``target`` if given.

    ``hashed=False`` for a module that is a whole blob: the blob's own digest, checked as it streams, is the module's,
    so a second hash would only cost time (a quarter of a large pull).
    """

    def __init__(self, target: t.BinaryIO | None, max_size: int, what: str, hashed: bool = True) -> None:
        self._target = target
        self._max_size = max_size
        self._what = what
        self._hash = hashlib.sha256() if hashed else None
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
        if self._hash is not None:
            self._hash.update(chunk)
        if self._target is not None:
            self._target.write(chunk)

    def finish(self, blob_digest: str | None = None) -> ModuleContent:
        """What was written; its digest is ``blob_digest`` (verified by the caller) when the sink does not hash."""
        if self._head[:len(WASM_MAGIC)] != WASM_MAGIC:
            raise ImageFormatError(f'{self._what} is not a WebAssembly module (it lacks the \\0asm magic)')
        if self._hash is None:
            if blob_digest is None:
                raise ValueError('a sink that does not hash needs the digest of the blob it wrote')
            return ModuleContent(digest=blob_digest, size=self.size)
        return ModuleContent(digest='sha256:' + self._hash.hexdigest(), size=self.size)


def _copy(stream: t.BinaryIO, sink: _ModuleSink) -> None:
    while chunk := stream.read(_CHUNK):
        sink.write(chunk)


def module_layer(resolved: ResolvedImage, what: str) -> dict[str, t.Any]:
    layer_types = _MODULE_LAYERS[resolved.variant]
    layers: list[dict[str, t.Any]] = [layer for layer in resolved.manifest['layers'] if layer.get('mediaType') in layer_types]
    if len(layers) != 1:
        raise ImageFormatError(f'{what} must have exactly one {" or ".join(sorted(layer_types))} layer, it has {len(layers)}')
    return layers[0]


class _OneCopy:
    """The one distinct content met under a file name: identical copies are harmless, different ones ambiguous.

    Each copy is compared as it is met, so only the first is kept, however many a layer holds.
    """

    def __init__(self, name: str, reference: str) -> None:
        self._name = name
        self._reference = reference
        self.where: str | None = None
        self.value: t.Any = None

    def add(self, where: str, value: t.Any) -> None:
        if self.where is None:
            self.where, self.value = where, value
        elif value != self.value:
            raise ImageFormatError(
                f'{self._reference} is ambiguous: it holds two different {self._name} files, {self.where} and {where}; '
                f'rebuild the image with exactly one {self._name}'
            )


@dataclasses.dataclass(frozen=True)
class _CompatScan:
    runtime: RuntimeConfig | None
    module: ModuleContent
    variant: str = mt.VARIANT_COMPAT


def _untyped_oras_module(manifest: dict[str, t.Any], config: t.Any) -> dict[str, t.Any] | None:
    """The layer that may be a module ORAS pushed without a media type, or None when the image cannot be one.

    ``oras push reg/repo:tag plugin.wasm`` (no ``:type``) labels the raw module with ORAS's default file type, a
    plain tar layer, titled with the file name, under ORAS's config of ``{}``. Only that whole shape makes the label
    doubtful: one layer, a ``.wasm`` title, an empty ORAS config. Its bytes then decide, as a tar never starts
    with the Wasm magic.
    """
    layers: list[dict[str, t.Any]] = manifest['layers']
    if manifest['config'].get('mediaType') not in _ORAS_CONFIGS or config != {} or len(layers) != 1:
        return None
    title = (layers[0].get('annotations') or {}).get(mt.ANNOTATION_TITLE)
    if layers[0].get('mediaType') == mt.OCI_LAYER_TAR and isinstance(title, str) and title.endswith('.wasm'):
        return layers[0]
    return None


def _scan_compat(
    source: ContentSource, resolved: ResolvedImage, max_size: int, target: t.BinaryIO | None, untyped: dict[str, t.Any] | None,
    started: t.Callable[[], None] = lambda: None,
) -> _CompatScan:
    """Read every tar layer to its end, checked against its digest, and find the one ``plugin.wasm`` in them.

    Tools put ``plugin.wasm`` in the last layer, an earlier one, or (by mistake) twice; which copy a
    runtime would load is a guess, so two different copies are refused rather than one picked. Only the
    first copy met is streamed into ``target``: the others are hashed to be compared with it.
    ``untyped`` (the only layer, when the image may be ORAS's untyped module) is read as the module
    itself when it starts with the Wasm magic, in the same one pass; any other tar-labelled module is refused.
    ``started`` is called each time a layer's download has begun.
    """
    tar_layers = [layer for layer in resolved.manifest['layers'] if layer.get('mediaType') in mt.TAR_LAYERS]
    total = sum(layer['size'] for layer in tar_layers)
    if total > max_size:
        raise ImageFormatError(f'The tar layers of {source.reference} add up to {total} bytes, more than max_size ({max_size} bytes)')
    module = _OneCopy(mt.COMPAT_MODULE_FILE, source.reference)
    runtime = _OneCopy(mt.RUNTIME_CONFIG_TITLE, source.reference)
    for layer in tar_layers:
        what = f'Layer {layer["digest"]} of {source.reference}'
        with source.open_blob(layer, what) as reader:
            started()
            peekable = PeekableStream(t.cast(t.BinaryIO, reader))
            stream = t.cast(t.BinaryIO, peekable)
            if peekable.peek(len(WASM_MAGIC)) == WASM_MAGIC:
                if untyped is not None and layer is untyped:
                    # The image's only layer, so nothing else is left to scan.
                    whole = _verified_module(reader, stream, target, max_size, what, layer['digest'])
                    return _CompatScan(runtime=None, module=whole, variant=mt.VARIANT_OCI)
                raise ImageFormatError(
                    f'{what} is labelled {layer["mediaType"]}, but holds a WebAssembly module, not a tar; push the module '
                    f'as a layer of type {mt.WASM_CONTENT_LAYER} (with ORAS: plugin.wasm:{mt.WASM_CONTENT_LAYER})'
                )
            for member in scan_layer(stream, what, (mt.COMPAT_MODULE_FILE, mt.RUNTIME_CONFIG_TITLE), max_size):
                where = f'{member.path} in layer {layer["digest"]}'
                if member.name == mt.RUNTIME_CONFIG_TITLE:
                    if member.size > METADATA_LIMIT:
                        raise ImageFormatError(f'{what}: {member.path} is larger than {METADATA_LIMIT} bytes')
                    runtime.add(where, parse_runtime_config(member.stream.read(), f'{what} ({member.path})'))
                else:
                    sink = _ModuleSink(target if module.where is None else None, max_size, f'{member.path} in {what}')
                    _copy(member.stream, sink)
                    module.add(where, sink.finish())
            reader.verify()
    if module.where is None:
        raise ImageFormatError(
            f'{source.reference} (manifest {resolved.digest}) is not a Wasm image: it has tar layers, but none holds '
            f'a {mt.COMPAT_MODULE_FILE}'
        )
    return _CompatScan(runtime=runtime.value, module=module.value)


def _runtime_from_annotations(annotations: dict[str, str]) -> RuntimeConfig:
    abi = annotations.get(mt.ANNOTATION_ABI_VERSION, '')
    return RuntimeConfig(
        runtime_type=annotations.get(mt.ANNOTATION_RUNTIME_TYPE),
        abi_versions=tuple(part.strip() for part in abi.split(',') if part.strip()),
    )


def _verified_module(
    reader: DigestingReader, stream: t.BinaryIO, target: t.BinaryIO | None, max_size: int, what: str, blob_digest: str,
) -> ModuleContent:
    """Copy ``stream`` (``reader``, perhaps with its first bytes already peeked at) into ``target``, checked against
    ``blob_digest``, the digest ``reader`` verifies: the whole blob is the module, so that is the module's digest."""
    sink = _ModuleSink(target, max_size, what, hashed=False)
    _copy(stream, sink)
    reader.verify()
    return sink.finish(blob_digest)


class _FetchOnStart:
    """A small blob (an image's config), fetched in ``pool`` once ``start`` is called, else by ``blob`` itself.

    Started when the module's download has begun, its round trip overlaps the download and costs a small pull nothing.
    Started earlier, the registry answered both at once and the download's first byte came later (a 16 MiB pull took a
    tenth longer); fetched after the download, its round trip added to the pull.
    """

    def __init__(self, pool: ThreadPoolExecutor, fetch: t.Callable[[], bytes]) -> None:
        self._pool = pool
        self._fetch = fetch
        self._future: Future[bytes] | None = None

    def start(self) -> None:
        if self._future is None:
            self._future = self._pool.submit(self._fetch)

    def blob(self) -> bytes:
        """The blob, verified: from the pool when it was started (its error raised here), else fetched now."""
        return self._future.result() if self._future is not None else self._fetch()


def _copy_module_layer(
    source: ContentSource, layer: dict[str, t.Any], target: t.BinaryIO, max_size: int, started: t.Callable[[], None],
) -> ModuleContent:
    """Copy the module layer into ``target``; ``started`` is called once its download has begun."""
    what = f'Module layer {layer["digest"]} of {source.reference}'
    if layer['size'] > max_size:
        raise ImageFormatError(f'{what} is {layer["size"]} bytes, more than max_size ({max_size} bytes)')
    with source.open_blob(layer, what) as reader:
        started()
        return _verified_module(reader, t.cast(t.BinaryIO, reader), target, max_size, what, layer['digest'])


def describe(
    source: ContentSource, resolved: ResolvedImage, max_size: int = DEFAULT_MAX_SIZE, target: t.BinaryIO | None = None,
) -> ImageDescription:
    """Describe the image, and stream its module into ``target`` when one is given.

    Everything described is checked against a digest. The oci and artifact variants name
    their module layer's digest in the manifest, so their module is read only for ``target``.
    A compat image keeps its module (and runtime config) in a tar layer, so every tar layer is
    read to its end and checked: nothing is reported from a part of a layer that was not verified,
    and an image whose layers hold no ``plugin.wasm``, or two different ones, is refused. A module
    ORAS pushed untyped is labelled a tar layer, so it too is read to its end (and then described
    as the oci variant it is: a module layer, its runtime in annotations).
    """
    what = f'Image {source.reference}'
    manifest = resolved.manifest
    raw_annotations = manifest.get('annotations') or {}
    if not isinstance(raw_annotations, dict):
        raise ImageFormatError(f'{what} has annotations that are not an object')
    annotations = {str(key): str(value) for key, value in raw_annotations.items()}
    config_descriptor = check_descriptor(manifest.get('config'), f'Descriptor of Config of {source.reference}')
    variant = resolved.variant
    # The oci and artifact variants name their module layer; a compat image's module is found by scanning its layers.
    layer = module_layer(resolved, what) if variant != mt.VARIANT_COMPAT else None
    # A module going into ``target`` streams while the config is fetched, unless the config must be read first: only
    # under ORAS's config can a compat image be an untyped module, which the config decides.
    wasm: ModuleContent | None = None
    scan: _CompatScan | None = None
    # Leaving the pool waits for its thread, so nothing is left running when the download fails.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix='wasm-oci-config') as pool:
        config_fetch = _FetchOnStart(pool, functools.partial(read_small_blob, source, config_descriptor, f'Config of {source.reference}'))
        if layer is not None:
            wasm = (_copy_module_layer(source, layer, target, max_size, config_fetch.start) if target is not None
                    else ModuleContent(layer['digest'], layer['size']))
        elif target is not None and config_descriptor.get('mediaType') not in _ORAS_CONFIGS:
            scan = _scan_compat(source, resolved, max_size, target, None, config_fetch.start)
        config_blob = config_fetch.blob()

    platform = resolved.index_platform
    config: t.Any = None
    if config_descriptor.get('mediaType') == mt.WASM_CONFIG:
        runtime = parse_runtime_config(config_blob, f'the config of {source.reference}')
    else:
        # Image configs and the CNCF artifact config carry the platform; wasm-to-oci's and ORAS's are "{}".
        config = parse_json_document(config_blob, f'Config of {source.reference}')
        platform = platform or {key: config[key] for key in ('os', 'architecture') if key in config}
        runtime = _runtime_from_annotations(annotations)

    if wasm is None:  # a compat image: its scan, if the config had to come first, reads its layers now
        untyped = _untyped_oras_module(manifest, config)
        scan = scan or _scan_compat(source, resolved, max_size, target, untyped)
        runtime = scan.runtime or runtime
        wasm = scan.module
        variant = scan.variant

    return ImageDescription(
        reference=source.reference,
        digest=resolved.digest,
        media_type=resolved.media_type,
        variant=variant,
        runtime=runtime,
        wasm_digest=wasm.digest,
        wasm_size=wasm.size,
        annotations=annotations,
        platform=platform or None,
        index_digest=resolved.index_digest,
    )


def describe_tag(layout: OciLayout, tag: str, platform: str | None = None, max_size: int = DEFAULT_MAX_SIZE) -> ImageDescription | None:
    """The image ``tag`` names in ``layout``, or None when the layout has no such tag."""
    source = LayoutSource(layout, tag)
    resolved = resolve(source, platform)
    return describe(source, resolved, max_size) if resolved else None
