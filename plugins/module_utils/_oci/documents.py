# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""OCI documents (manifests, indexes, descriptors) and the sources they are read from.

A content source (a local OCI layout, a registry) only has to find the root descriptor
and stream manifests and blobs; the image format is read in ``_image``.
"""

from __future__ import annotations

import json
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader, validate_digest

# Manifests, indexes, configs and runtime configs are small; anything larger is refused.
METADATA_LIMIT = 4 * 1024 * 1024
# OCI documents nest four or five levels; json's C decoder recurses once per level, and a
# RecursionError (100,000 levels) can leave the interpreter short of stack, so depth is checked first.
JSON_DEPTH_LIMIT = 100
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r'[^\[\]{}]+')
# Fields the OCI spec gives string values, in descriptors and at the top of manifests and indexes.
_STRING_FIELDS = ('mediaType', 'artifactType')
_PLATFORM_STRING_FIELDS = ('architecture', 'os', 'os.version', 'variant')
_PLATFORM_LIST_FIELDS = ('os.features', 'features')


class ContentSource(t.Protocol):
    @property
    def reference(self) -> str:
        """The image as messages name it; read-only, so frozen dataclasses are sources too."""

    def root_descriptor(self) -> dict[str, t.Any] | None:
        """The descriptor the reference names, or None when it names nothing."""

    def read_manifest(self, descriptor: dict[str, t.Any]) -> bytes:
        """The verified bytes of a manifest or index."""

    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.ContextManager[DigestingReader]:
        """A stream of a blob that checks itself against ``descriptor``."""


def _nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of JSON ``text`` nest, in one linear pass that never recurses."""
    depth = deepest = 0
    for bracket in _NOT_A_BRACKET.sub('', _JSON_STRING.sub('', text)):
        if bracket in '[{':
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(data: bytes, what: str, error: type[WasmOciError] = ImageFormatError) -> t.Any:
    """Decode untrusted JSON ``data``; every failure, nesting too deep included, is an ``error`` naming ``what``."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise error(f'{what} is not valid JSON: {exc}') from None
    if _nesting_depth(text) > JSON_DEPTH_LIMIT:
        raise error(f'{what} nests arrays or objects more than {JSON_DEPTH_LIMIT} levels deep; refusing it')
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f'{what} is not valid JSON: {exc}') from None


def parse_json_document(data: bytes, what: str) -> dict[str, t.Any]:
    """A JSON object whose own ``mediaType``, ``artifactType`` and ``annotations`` have the types the OCI spec gives them."""
    document = load_json(data, what)
    if not isinstance(document, dict):
        raise ImageFormatError(f'{what} must be a JSON object, not {type(document).__name__}')
    _check_string_fields(document, what)
    _check_annotations(document.get('annotations'), what)
    return document


def _check_string_fields(document: dict[str, t.Any], what: str, fields: tuple[str, ...] = _STRING_FIELDS, label: str = '') -> None:
    for field in fields:
        value = document.get(field)
        if value is not None and not isinstance(value, str):
            raise ImageFormatError(f'{what} has a {label}{field} that is not a string: {_shape(value)}')


def _check_annotations(annotations: t.Any, what: str) -> None:
    if annotations is None:
        return
    if not isinstance(annotations, dict):
        raise ImageFormatError(f'{what} has annotations that are not an object: {_shape(annotations)}')
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise ImageFormatError(f'{what} has an annotation {key[:100]!r} whose value is not a string: {_shape(value)}')


def _check_platform(platform: t.Any, what: str) -> None:
    if platform is None:
        return
    if not isinstance(platform, dict):
        raise ImageFormatError(f'{what} has a platform that is not an object: {_shape(platform)}')
    _check_string_fields(platform, what, _PLATFORM_STRING_FIELDS, 'platform ')
    for field in _PLATFORM_LIST_FIELDS:
        value = platform.get(field)
        if value is not None and not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise ImageFormatError(f'{what} has a platform {field} that is not a list of strings: {_shape(value)}')


def _shape(value: t.Any) -> str:
    """A short description of a wrongly typed value: its JSON type, never a dump of hostile content."""
    names = {dict: 'an object', list: 'an array', str: 'a string', bool: 'a boolean', int: 'a number', float: 'a number'}
    return names.get(type(value), 'null')


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
        shown = repr(size) if isinstance(size, (int, float, type(None))) else _shape(size)
        raise ImageFormatError(f'{what} has no valid size: {shown}')
    _check_string_fields(descriptor, what)
    _check_platform(descriptor.get('platform'), what)
    _check_annotations(descriptor.get('annotations'), what)
    return descriptor
