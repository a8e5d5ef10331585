# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Shared test material: hand-encoded Wasm modules, tar layers and OCI layout content.

Nothing here needs external tools, so the unit tests run anywhere Python does.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import tarfile
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import canonical_json, sha256_digest
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
        for entry in entries:
            if isinstance(entry, tuple):
                entry = TarEntry(*entry)
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
