# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import load_private_key
from ansible_collections.wasm.oci.plugins.module_utils._signing.signer import sign_payload
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import build_payload
from ansible_collections.wasm.oci.tests.unit.cosign_vectors import SIGNED_DIGEST
from ansible_collections.wasm.oci.tests.unit.signing_fixtures import p256_key, private_pem


def test_signature_is_base64_der_ecdsa_sha256_over_the_exact_payload() -> None:
    key = p256_key()
    payload = build_payload('registry.test/filters/auth', SIGNED_DIGEST)
    signature = sign_payload(load_private_key(private_pem(key), None, 'key'), payload)
    der = base64.b64decode(signature, validate=True)
    decode_dss_signature(der)
    key.public_key().verify(der, payload, ec.ECDSA(hashes.SHA256()))
