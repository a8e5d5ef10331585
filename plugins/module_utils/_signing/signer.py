# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Signing a simple-signing payload as cosign does: ECDSA P-256 over SHA-256 of the exact bytes, DER, base64."""

from __future__ import annotations

import base64

from ansible_collections.wasm.oci.plugins.module_utils._signing import optional_cryptography as deps
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import SigningKey


def sign_payload(key: SigningKey, payload: bytes) -> str:
    """The value of the layer annotation ``dev.cosignproject.cosign/signature`` for ``payload``."""
    deps.require_cryptography()
    der = key.private_key.sign(payload, deps.crypto_ec.ECDSA(deps.crypto_hashes.SHA256()))
    return base64.b64encode(der).decode('ascii')
