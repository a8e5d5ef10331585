# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Shared test material: hand-encoded Wasm modules, tar layers and OCI layout content.

Nothing here needs external tools, so the unit tests run anywhere Python does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import os
import tarfile
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, canonical_json, sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import OciLayout, open_or_create_layout

WASM_HEADER = b'\0asm\x01\x00\x00\x00'

SECTION_CUSTOM = 0
SECTION_TYPE = 1
SECTION_FUNCTION = 3
SECTION_MEMORY = 5
SECTION_GLOBAL = 6
SECTION_EXPORT = 7
SECTION_CODE = 10

EXPORT_FUNC = 0
EXPORT_TABLE = 1
EXPORT_MEMORY = 2
EXPORT_GLOBAL = 3

PROXY_EXPORTS = (
    'proxy_abi_version_0_2_1',
    'proxy_on_memory_allocate',
    'proxy_on_context_create',
    'proxy_on_vm_start',
    'proxy_on_configure',
    'proxy_on_request_headers',
    'proxy_on_response_headers',
    'proxy_on_done',
    'proxy_on_log',
    'proxy_on_delete',
)


def uleb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def name(text: str | bytes) -> bytes:
    raw = text.encode('utf-8') if isinstance(text, str) else text
    return uleb128(len(raw)) + raw


def vector(items: t.Sequence[bytes]) -> bytes:
    return uleb128(len(items)) + b''.join(items)


def section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + uleb128(len(body)) + body


def export_entry(export_name: str | bytes, kind: int, index: int = 0) -> bytes:
    return name(export_name) + bytes([kind]) + uleb128(index)


def export_section(entries: t.Sequence[bytes]) -> bytes:
    return section(SECTION_EXPORT, vector(entries))


def raw_module(*sections: bytes) -> bytes:
    return WASM_HEADER + b''.join(sections)


def build_module(
    function_exports: t.Sequence[str] = PROXY_EXPORTS,
    memory_exports: t.Sequence[str] = ('memory',),
    global_exports: t.Sequence[str] = (),
    custom: bytes = b'',
) -> bytes:
    """A valid core module: one ``() -> ()`` function per function export, one memory, one i32 global."""
    functions = len(function_exports)
    empty_body = vector([]) + b'\x0b'
    exports = (
        [export_entry(export, EXPORT_FUNC, index) for index, export in enumerate(function_exports)]
        + [export_entry(export, EXPORT_MEMORY, 0) for export in memory_exports]
        + [export_entry(export, EXPORT_GLOBAL, 0) for export in global_exports]
    )
    sections = [
        section(SECTION_TYPE, vector([b'\x60\x00\x00'])),
        section(SECTION_FUNCTION, vector([uleb128(0)] * functions)),
        section(SECTION_MEMORY, vector([b'\x00\x01'])),
        section(SECTION_GLOBAL, vector([b'\x7f\x00\x41\x00\x0b'])),
        export_section(exports),
        section(SECTION_CODE, vector([uleb128(len(empty_body)) + empty_body] * functions)),
    ]
    if custom:
        sections.insert(0, section(SECTION_CUSTOM, name('producers') + custom))
    return raw_module(*sections)


def proxy_module(abi: str = 'proxy_abi_version_0_2_1', marker: str = '') -> bytes:
    """A proxy-wasm shaped module; ``marker`` adds an export so modules can differ."""
    exports = [abi] + [export for export in PROXY_EXPORTS if not export.startswith('proxy_abi_version_')]
    if marker:
        exports.append(marker)
    return build_module(exports)


@dataclasses.dataclass(frozen=True)
class TarEntry:
    path: str
    data: bytes = b''
    kind: bytes = tarfile.REGTYPE
    linkname: str = ''


def tar_bytes(entries: t.Sequence[TarEntry | tuple[str, bytes]], tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed tar of ``entries`` in the given order; plain tuples are regular files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tar_format) as archive:
        for given in entries:
            entry = TarEntry(*given) if isinstance(given, tuple) else given
            info = tarfile.TarInfo(entry.path)
            info.type = entry.kind
            info.linkname = entry.linkname
            info.mode = 0o755 if entry.kind == tarfile.DIRTYPE else 0o644
            info.size = len(entry.data) if entry.kind == tarfile.REGTYPE else 0
            archive.addfile(info, io.BytesIO(entry.data) if entry.kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def descriptor(media_type: str, data: bytes, annotations: dict[str, str] | None = None, **extra: t.Any) -> dict[str, t.Any]:
    entry: dict[str, t.Any] = {'mediaType': media_type, 'digest': sha256_digest(data), 'size': len(data)}
    if annotations:
        entry['annotations'] = annotations
    entry.update(extra)
    return entry


def image_manifest(
    config: dict[str, t.Any],
    layers: t.Sequence[dict[str, t.Any]],
    media_type: str = mt.OCI_MANIFEST,
    annotations: dict[str, str] | None = None,
) -> bytes:
    document: dict[str, t.Any] = {'schemaVersion': 2, 'mediaType': media_type, 'config': config, 'layers': list(layers)}
    if annotations:
        document['annotations'] = annotations
    return canonical_json(document)


class LayoutBuilder:
    """Write hand-made images into an OCI layout, blob by blob."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        with open_or_create_layout(self.path) as layout:
            self.layout: OciLayout = layout

    def blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        self.layout.write_blob(digest, data)
        return digest

    def add(self, media_type: str, data: bytes, annotations: dict[str, str] | None = None, **extra: t.Any) -> dict[str, t.Any]:
        self.blob(data)
        return descriptor(media_type, data, annotations, **extra)

    def manifest(
        self,
        config: dict[str, t.Any],
        layers: t.Sequence[dict[str, t.Any]],
        media_type: str = mt.OCI_MANIFEST,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, t.Any]:
        return self.add(media_type, image_manifest(config, layers, media_type, annotations))

    def index(self, children: t.Sequence[dict[str, t.Any]], media_type: str = mt.OCI_INDEX) -> dict[str, t.Any]:
        document = {'schemaVersion': 2, 'mediaType': media_type, 'manifests': list(children)}
        return self.add(media_type, canonical_json(document))

    def tag(self, tag: str, target: dict[str, t.Any]) -> OciLayout:
        self.layout.set_tag(tag, target)
        return OciLayout(self.path)


# -- Wasm images as real tools write them (the integration suite pushes the same forms: harness/wild_images.py) --
#
# wasm-to-oci     ORAS v0 under the hood: no manifest mediaType, config "{}" typed application/vnd.wasm.config.v1+json,
#                 the raw module as the one application/vnd.wasm.content.layer.v1+wasm layer, titled by its file name.
# oras-1x         OCI 1.1 artifact: artifactType names the kind, the config is the empty descriptor
#                 (application/vnd.oci.empty.v1+json, data "{}"), the module a layer of the type given on the command line.
# oras-untyped    `oras push reg/repo:tag plugin.wasm` with no ":type": the module under ORAS's default file type, plain tar
#                 (oras-go content/file defaultBlobMediaType), titled with the file name; ORAS 1.1+ adds artifactType
#                 application/vnd.unknown.artifact.v1 and the empty config, ORAS 1.0 and the ORAS Python SDK (Registry.push
#                 of a file without ":type") no artifactType and "{}" typed application/vnd.unknown.config.v1+json.
# higress-compat  `docker build` of FROM scratch + COPY main.wasm plugin.wasm: Docker v2 manifest, a linux/amd64 config
#                 (scratch takes the builder's platform), one layer holding plugin.wasm.
# higress-oci     Higress's plugin builder: `oras push` of spec.yaml and README.md layers, then plugin.tar.gz (tar+gzip
#                 holding plugin.wasm) last, under ORAS's "{}" config of type application/vnd.unknown.config.v1+json.
# buildx          an OCI index: an image per platform plus, per image, an attestation manifest (platform unknown/unknown,
#                 annotation vnd.docker.reference.type=attestation-manifest, in-toto layers).
# manifest-list   `docker manifest create`/older buildx: a Docker manifest list of Docker v2 images, one per platform.
# crane-*         crane mutate/append keep the base's manifest type but add Docker-typed layers (go-containerregistry
#                 #1427), and apko-style writers put OCI layers under a Docker manifest; layer labels do not always
#                 match the compression either (a Docker .tar.gzip layer that is plain tar, go-containerregistry #1826).

UNKNOWN_ARTIFACT = 'application/vnd.unknown.artifact.v1'
IN_TOTO_LAYER = 'application/vnd.in-toto+json'
ATTESTATION_ANNOTATIONS = 'vnd.docker.reference.type'


def _manifest_document(builder: LayoutBuilder, document: dict[str, t.Any]) -> dict[str, t.Any]:
    return builder.add(document.get('mediaType', mt.OCI_MANIFEST), canonical_json(document))


def wasm_to_oci_image(builder: LayoutBuilder, module: bytes) -> dict[str, t.Any]:
    config = builder.add(mt.WASM_TO_OCI_CONFIG, b'{}')
    layer = builder.add(mt.WASM_TO_OCI_LAYER, module, {mt.ANNOTATION_TITLE: 'filter.wasm'})
    return _manifest_document(builder, {'schemaVersion': 2, 'config': config, 'layers': [layer]})


def oras_artifact(builder: LayoutBuilder, module: bytes, layer_type: str = mt.WASM_CONTENT_LAYER) -> dict[str, t.Any]:
    config = dict(builder.add(mt.OCI_EMPTY_CONFIG, b'{}'), data='e30=')
    layer = builder.add(layer_type, module, {mt.ANNOTATION_TITLE: 'filter.wasm'})
    return _manifest_document(builder, {
        'schemaVersion': 2, 'mediaType': mt.OCI_MANIFEST, 'artifactType': layer_type, 'config': config, 'layers': [layer],
        'annotations': {'org.opencontainers.image.created': '2024-01-01T00:00:00Z'},
    })


def container_image(
    builder: LayoutBuilder, files: t.Sequence[tuple[str, bytes]], *, manifest_type: str = mt.DOCKER_MANIFEST,
    layer_type: str = mt.DOCKER_LAYER_TAR_GZIP, compress: bool = True, architecture: str = 'amd64',
) -> dict[str, t.Any]:
    """A one-layer container image as docker, buildx or crane leave it: a linux config and a layer of ``files``."""
    config_type = mt.DOCKER_IMAGE_CONFIG if manifest_type == mt.DOCKER_MANIFEST else mt.OCI_IMAGE_CONFIG
    tar = tar_bytes(files)
    config = builder.add(config_type, canonical_json({
        'architecture': architecture, 'os': 'linux', 'config': {}, 'rootfs': {'type': 'layers', 'diff_ids': [sha256_digest(tar)]},
    }))
    layer = builder.add(layer_type, gzip_bytes(tar) if compress else tar)
    return builder.manifest(config, [layer], manifest_type)


def higress_oci_image(builder: LayoutBuilder, module: bytes) -> dict[str, t.Any]:
    config = builder.add(mt.ORAS_UNKNOWN_CONFIG, b'{}')
    layers = [
        builder.add('application/vnd.module.wasm.spec.v1+yaml', b'apiVersion: 1.0.0\ninfo:\n  name: demo/v1\n', {mt.ANNOTATION_TITLE: 'spec.yaml'}),
        builder.add('application/vnd.module.wasm.doc.v1+markdown', b'# demo\n', {mt.ANNOTATION_TITLE: 'README.md'}),
        builder.add(mt.OCI_LAYER_TAR_GZIP, gzip_bytes(tar_bytes([('plugin.wasm', module)], tarfile.GNU_FORMAT)),
                    {mt.ANNOTATION_TITLE: 'plugin.tar.gz'}),
    ]
    return builder.manifest(config, layers)


def attestation_for(builder: LayoutBuilder, image: dict[str, t.Any]) -> dict[str, t.Any]:
    """buildx's attestation manifest for ``image``, as an index entry."""
    config = builder.add(mt.OCI_IMAGE_CONFIG, canonical_json({'architecture': 'unknown', 'os': 'unknown', 'rootfs': {'type': 'layers', 'diff_ids': []}}))
    statement = builder.add(IN_TOTO_LAYER, b'{"_type":"https://in-toto.io/Statement/v0.1"}', {'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2'})
    return dict(builder.manifest(config, [statement]), platform={'os': 'unknown', 'architecture': 'unknown'}, annotations={
        ATTESTATION_ANNOTATIONS: 'attestation-manifest', 'vnd.docker.reference.digest': image['digest'],
    })


def platform_index(
    builder: LayoutBuilder, module: bytes, architectures: t.Sequence[str], *, attestations: bool, media_type: str = mt.OCI_INDEX,
) -> tuple[dict[str, t.Any], dict[str, dict[str, t.Any]]]:
    """A multi-platform index of FROM-scratch images holding ``module``; returns it and its images by architecture."""
    manifest_type = mt.DOCKER_MANIFEST if media_type == mt.DOCKER_MANIFEST_LIST else mt.OCI_MANIFEST
    layer_type = mt.DOCKER_LAYER_TAR_GZIP if media_type == mt.DOCKER_MANIFEST_LIST else mt.OCI_LAYER_TAR_GZIP
    images = {
        architecture: dict(container_image(builder, [('plugin.wasm', module)], manifest_type=manifest_type, layer_type=layer_type,
                                           architecture=architecture), platform={'os': 'linux', 'architecture': architecture})
        for architecture in architectures
    }
    children = list(images.values()) + ([attestation_for(builder, image) for image in images.values()] if attestations else [])
    return builder.index(children, media_type), images


def oras_untyped_file(
    module: bytes, *, oras_1_0: bool = False, title: str = 'plugin.wasm', config: bytes = b'{}', layer_type: str = mt.OCI_LAYER_TAR,
    extra_layers: t.Sequence[dict[str, t.Any]] = (),
) -> tuple[dict[str, t.Any], dict[str, bytes]]:
    """``oras push`` of ``module`` without a media type, as ``(root descriptor, blobs)``; ``oras_1_0`` as ORAS 1.0 and the SDK write it."""
    layer = descriptor(layer_type, module, {mt.ANNOTATION_TITLE: title} if title else None)
    document: dict[str, t.Any] = {'schemaVersion': 2, 'mediaType': mt.OCI_MANIFEST, 'layers': [layer, *extra_layers]}
    if oras_1_0:
        document.update(config=descriptor(mt.ORAS_UNKNOWN_CONFIG, config), annotations={})
    else:
        document.update(config=dict(descriptor(mt.OCI_EMPTY_CONFIG, config), data='e30='), artifactType=UNKNOWN_ARTIFACT,
                        annotations={'org.opencontainers.image.created': '2024-01-01T00:00:00Z'})
    manifest = canonical_json(document)
    return descriptor(mt.OCI_MANIFEST, manifest), {sha256_digest(data): data for data in (module, config, manifest)}


class MemorySource:
    """Blobs by digest, served as they are (however they differ from their digests), remembering every blob reader."""

    def __init__(self, root: dict[str, t.Any], blobs: dict[str, bytes], reference: str = 'registry.example.com/filters/oras:1') -> None:
        self.reference = reference
        self.root = root
        self.blobs = dict(blobs)
        self.readers: list[tuple[str, DigestingReader]] = []

    def root_descriptor(self) -> dict[str, t.Any]:
        return self.root

    def read_manifest(self, descriptor: dict[str, t.Any]) -> bytes:
        return self.blobs[descriptor['digest']]

    @contextlib.contextmanager
    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.Iterator[DigestingReader]:
        reader = DigestingReader(io.BytesIO(self.blobs[descriptor['digest']]), descriptor['digest'], descriptor['size'], what)
        self.readers.append((descriptor['digest'], reader))
        yield reader
