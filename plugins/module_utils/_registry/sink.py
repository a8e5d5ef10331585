# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""A repository in a registry, as where a copy writes (see _oci/copy.py)."""

from __future__ import annotations

import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.copy import BlobOpener
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient

# What a registry answers when the credentials may push here but not pull from the repository a mount names.
_MOUNT_REFUSALS = (401, 403)


class RegistrySink:
    """The repository of ``client``'s reference. Blobs missing there are linked from the ``mount_from`` repositories of
    the same registry when they have them (a cross-repository mount), else uploaded.

    ``mount_refusal_uploads``: a mount the registry refuses outright (the credentials may not read that repository)
    uploads the blob instead of failing; for mounts the copy tries on its own rather than ones the user asked for.
    """

    def __init__(self, client: RegistryClient, mount_from: t.Sequence[str] = (), mount_refusal_uploads: bool = False) -> None:
        self.client = client
        self.reference = f'{client.reference.registry}/{client.reference.repository}'
        self.mount_from = tuple(mount_from)
        self.mount_refusal_uploads = mount_refusal_uploads

    def find_tag(self, tag: str) -> dict[str, t.Any] | None:
        remote = self.client.head_manifest(tag)
        if remote is None:
            return None
        return {'mediaType': remote.media_type, 'digest': remote.digest, 'size': remote.size}

    def has_manifest(self, descriptor: dict[str, t.Any]) -> bool:
        return self.client.head_manifest(descriptor['digest']) is not None

    def has_blob(self, descriptor: dict[str, t.Any]) -> bool:
        return self.client.has_blob(descriptor['digest'], descriptor['size'])

    def mount_blob(self, descriptor: dict[str, t.Any]) -> bool:
        for repository in self.mount_from:
            try:
                if self.client.mount_blob(descriptor['digest'], repository):
                    return True
            except RegistryError as exc:
                if not (self.mount_refusal_uploads and exc.status in _MOUNT_REFUSALS):
                    raise
        return False

    def write_blob(self, descriptor: dict[str, t.Any], open_blob: BlobOpener) -> None:
        # The blob streams as the upload's body; a retried upload session opens it again.
        self.client.upload_blob(descriptor['digest'], descriptor['size'], open_blob)

    def put_manifest(self, descriptor: dict[str, t.Any], data: bytes, tag: str | None) -> None:
        self.client.put_manifest(tag or descriptor['digest'], descriptor['mediaType'], data)
