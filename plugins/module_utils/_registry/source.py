# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""A repository in a registry, as a content source for the image reader."""

from __future__ import annotations

import contextlib
import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import parse_json_document
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient


class RegistrySource:
    def __init__(self, client: RegistryClient, tag: str | None = None) -> None:
        """The image ``client``'s reference names, or ``tag`` in its repository."""
        self.client = client
        named = client.reference if tag is None else dataclasses.replace(client.reference, tag=tag, digest=None)
        self.version = named.version
        self.reference = str(named)
        # The manifest the reference names is fetched once, when it is resolved.
        self._manifests: dict[str, bytes] = {}

    def root_descriptor(self) -> dict[str, t.Any] | None:
        found = self.client.get_manifest(self.version)
        if found is None:
            return None
        manifest, data = found
        self._manifests[manifest.digest] = data
        media_type = manifest.media_type or parse_json_document(data, f'Manifest of {self.reference}').get('mediaType')
        return {'mediaType': media_type, 'digest': manifest.digest, 'size': manifest.size}

    def read_manifest(self, descriptor: dict[str, t.Any]) -> bytes:
        digest = descriptor['digest']
        data = self._manifests.get(digest)
        if data is None:
            found = self.client.get_manifest(digest)
            if found is None:
                raise RegistryError(f'{self.reference} refers to manifest {digest}, which the registry does not have')
            data = found[1]
        if len(data) != descriptor['size']:
            raise RegistryError(f'Manifest {digest} of {self.reference} has {len(data)} bytes, not {descriptor["size"]}')
        return data

    @contextlib.contextmanager
    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.Iterator[DigestingReader]:
        digest, size = descriptor['digest'], descriptor['size']
        with self.client.open_blob(digest, size, f'Downloading {what}') as reply:
            # One byte more than declared is enough for the reader to refuse a longer blob; the rest is never read.
            yield DigestingReader(reply.body(limit=size + 1), digest, size, what)

    def tagged(self, tag: str) -> RegistrySource:
        # The same client, so a token for the repository serves both.
        return RegistrySource(self.client, tag)
