# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Property: arbitrary payloads and signature annotations give a refusal verdict or one of the collection's errors."""

from __future__ import annotations

import base64

from hypothesis import given, strategies as st

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import load_public_key
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import parse_payload
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import FoundSignature, Verdict, verify_signatures
from ansible_collections.wasm.oci.tests.unit.cosign_vectors import SIGNED_DIGEST, folder_signatures, vector_path
from ansible_collections.wasm.oci.tests.unit.property_support import JSON_BYTES, PARSER_SETTINGS, mutated, outcome

COSIGN = load_public_key(str(vector_path('cosign.pub')), 'verify_keys[0]')
VALID = folder_signatures('valid')[0]
VALID_DER = base64.b64decode(VALID.signature or '')
PAYLOADS = st.one_of(JSON_BYTES, mutated(st.just(VALID.payload)))
SIGNATURES = st.one_of(
    st.none(),
    st.text(max_size=120),
    mutated(st.just(VALID_DER)).map(lambda der: base64.b64encode(der).decode()),
    mutated(st.just((VALID.signature or '').encode())).map(lambda text: text.decode('latin-1')),
)


@PARSER_SETTINGS
@given(payload=PAYLOADS)
def test_arbitrary_payloads_parse_or_raise_the_collections_errors(payload: bytes) -> None:
    outcome(parse_payload, payload)


@PARSER_SETTINGS
@given(found=st.lists(st.builds(FoundSignature, PAYLOADS, SIGNATURES), max_size=3))
def test_arbitrary_signatures_give_a_refusal_verdict_or_the_collections_errors(found: list[FoundSignature]) -> None:
    verdict = outcome(verify_signatures, found, SIGNED_DIGEST, [COSIGN])
    if isinstance(verdict, WasmOciError):
        return
    assert isinstance(verdict, Verdict)
    assert len(verdict.accepted) + len(verdict.refusals) == len(found)
    # Only cosign's own signature (however its base64 is spelled) over the untouched payload may be accepted.
    assert len(verdict.accepted) == sum(1 for item in found if item.payload == VALID.payload and _der(item.signature) == VALID_DER)


def _der(signature: str | None) -> bytes | None:
    try:
        return base64.b64decode((signature or '').encode('ascii'), validate=True)
    except (UnicodeEncodeError, ValueError):
        return None
