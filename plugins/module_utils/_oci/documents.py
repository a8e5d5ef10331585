# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""OCI documents (manifests, indexes, descriptors) and the sources they are read from.

A content source (a local OCI layout, a registry) only has to find the root descriptor
and stream manifests and blobs; the image format is read in ``_image``.
"""

from __future__ import annotations

import json
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, validate_digest

# Manifests, indexes, configs and runtime configs are small; anything larger is refused.
METADATA_LIMIT = 4 * 1024 * 1024


class ContentSource(t.Protocol):
    reference: str

    def root_descriptor(self) -> dict[str, t.Any] | None:
        """The descriptor the reference names, or None when it names nothing."""

    def read_manifest(self, descriptor: dict[str, t.Any]) -> bytes:
        """The verified bytes of a manifest or index."""

    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.ContextManager[DigestingReader]:
        """A stream of a blob that checks itself against ``descriptor``."""


def parse_json_document(data: bytes, what: str) -> dict[str, t.Any]:
    try:
        document = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImageFormatError(f'{what} is not valid JSON: {exc}') from None
    if not isinstance(document, dict):
        raise ImageFormatError(f'{what} must be a JSON object, not {type(document).__name__}')
    return document


def read_small_blob(source: ContentSource, descriptor: dict[str, t.Any], what: str) -> bytes:
    size = check_descriptor(descriptor, f'Descriptor of {what}')['size']
    if size > METADATA_LIMIT:
        raise ImageFormatError(f'{what} is {size} bytes, more than the {METADATA_LIMIT} bytes allowed for metadata')
    with source.open_blob(descriptor, what) as reader:
        data = reader.read(size + 1)
        reader.verify()
    return data


def descriptor_list(document: dict[str, t.Any], key: str, what: str) -> list[dict[str, t.Any]]:
    entries = document.get(key)
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ImageFormatError(f'{what} has no valid {key} list')
    for entry in entries:
        check_descriptor(entry, f'An entry of {what}')
    return entries


def check_descriptor(descriptor: t.Any, what: str) -> dict[str, t.Any]:
    """Fail unless ``descriptor`` has the shape the OCI spec gives descriptors."""
    if not isinstance(descriptor, dict):
        raise ImageFormatError(f'{what} is not a descriptor object')
    validate_digest(descriptor.get('digest'), what)
    size = descriptor.get('size')
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageFormatError(f'{what} has no valid size: {size!r}')
    for field in ('platform', 'annotations'):
        if not isinstance(descriptor.get(field) or {}, dict):
            raise ImageFormatError(f'{what} has a {field} that is not an object')
    return descriptor
