# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The ``image`` structure that every module of the collection returns."""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig


@dataclasses.dataclass(frozen=True)
class ImageDescription:
    reference: str
    digest: str
    media_type: str
    variant: str
    runtime: RuntimeConfig
    # Always known and verified: a compat image's module is hashed from a layer read to its end.
    wasm_digest: str
    wasm_size: int
    annotations: dict[str, str]
    platform: dict[str, t.Any] | None
    index_digest: str | None = None

    def as_dict(self) -> dict[str, t.Any]:
        return {
            'reference': self.reference,
            'digest': self.digest,
            'index_digest': self.index_digest,
            'media_type': self.media_type,
            'variant': self.variant,
            'runtime': self.runtime.as_dict(),
            'wasm': {'digest': self.wasm_digest, 'size': self.wasm_size},
            'annotations': dict(self.annotations),
            'platform': dict(self.platform) if self.platform is not None else None,
        }
