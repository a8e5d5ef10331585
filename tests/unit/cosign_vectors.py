# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The signatures made by the real cosign tool in ../shared/vectors/cosign/ (see the README there), as test data."""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib

from ansible_collections.wasm.oci.plugins.module_utils._oci.media_types import ANNOTATION_COSIGN_SIGNATURE
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import FoundSignature

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = REPO_ROOT.parent / 'shared' / 'vectors' / 'cosign'
# The digest every vector's payload names: the sha256 of valid/manifest.json.
SIGNED_DIGEST = 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00'
SIGNED_REFERENCE = '192.168.64.2:5000/cosign-signed-single-sample'


def vector_path(*parts: str) -> pathlib.Path:
    # make test runs beside ../shared: a missing folder is a broken checkout, never a reason to skip.
    assert VECTORS.is_dir(), f'The cosign test vectors are missing: expected the folder {VECTORS} (../shared/vectors/cosign beside the repo)'
    path = VECTORS.joinpath(*parts)
    assert path.exists(), f'The cosign test vector {path} is missing'
    return path


def signature(path: pathlib.Path) -> FoundSignature:
    """One vector signature as the pull module will hand it over: the payload blob's bytes and the layer's annotation."""
    document = json.loads(path.read_text(encoding='utf-8'))
    return FoundSignature(base64.b64decode(document['payload']), document['annotations'][ANNOTATION_COSIGN_SIGNATURE])


def folder_signatures(name: str) -> list[FoundSignature]:
    return [signature(path) for path in sorted(vector_path(name).glob('signature-*.json'))]


def manifest_digest(name: str) -> str:
    return 'sha256:' + hashlib.sha256(vector_path(name, 'manifest.json').read_bytes()).hexdigest()
