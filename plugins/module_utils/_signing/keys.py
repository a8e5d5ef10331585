# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The keys of cosign's key-based signatures: ECDSA P-256, public keys and PKCS#8 private keys in PEM.

Each key is given as a path or as the PEM text itself. Messages name the key by its path or its
position and by its key id (a digest of the public key), never by any of its bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._common.small_file import read_small_file
from ansible_collections.wasm.oci.plugins.module_utils._signing import optional_cryptography as deps

# A PEM P-256 key is a few hundred bytes; a larger file is not a key (or is a file given by mistake).
KEY_FILE_LIMIT = 64 * 1024
_PEM_LABEL = re.compile(r'-----BEGIN ([A-Z0-9 ]+)-----')
_PRIVATE_LABELS = frozenset({'PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'EC PRIVATE KEY'})
# cosign generate-key-pair writes its own scrypt/secretbox format, which only cosign reads.
_COSIGN_LABELS = frozenset({'ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'})
_MAKE_KEY = 'make one with: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem'


@dataclasses.dataclass(frozen=True)
class VerificationKey:
    key_id: str
    public_key: t.Any


@dataclasses.dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_key: t.Any

    def verification_key(self) -> VerificationKey:
        return VerificationKey(self.key_id, self.private_key.public_key())


def key_id(public_key: t.Any) -> str:
    """``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo: stable, short, and safe to print."""
    der = public_key.public_bytes(deps.crypto_serialization.Encoding.DER, deps.crypto_serialization.PublicFormat.SubjectPublicKeyInfo)
    return 'sha256:' + hashlib.sha256(der).hexdigest()


def load_public_key(source: str, what: str) -> VerificationKey:
    """The P-256 public key in ``source`` (a path or PEM text); ``what`` names it in messages, e.g. ``verify_keys[0]``."""
    deps.require_cryptography()
    pem, named = _pem_text(source, what)
    labels = set(_PEM_LABEL.findall(pem))
    if 'PUBLIC KEY' not in labels:
        if labels & (_PRIVATE_LABELS | _COSIGN_LABELS):
            raise SigningKeyError(f'{named} is a private key; verification needs the public key '
                                  f'(openssl pkey -in key.pem -pubout -out key.pub)')
        raise SigningKeyError(_not_a_key(named, labels, 'PUBLIC KEY'))
    try:
        public_key = deps.crypto_serialization.load_pem_public_key(pem.encode('latin-1'))
    except (ValueError, deps.UnsupportedAlgorithm):
        raise SigningKeyError(f'{named} cannot be read as a PEM public key; it is damaged or of an unsupported kind') from None
    _require_p256(public_key, named)
    return VerificationKey(key_id(public_key), public_key)


def load_private_key(source: str, passphrase: str | None, what: str) -> SigningKey:
    """The P-256 private key in ``source`` (a path or PEM text), decrypted with ``passphrase`` when it is encrypted."""
    deps.require_cryptography()
    pem, named = _pem_text(source, what)
    labels = set(_PEM_LABEL.findall(pem))
    if labels & _COSIGN_LABELS:
        raise SigningKeyError(f'{named} is in cosign\'s own encrypted format, which only cosign reads; use a PKCS#8 PEM key ({_MAKE_KEY})')
    if not labels & _PRIVATE_LABELS:
        if 'PUBLIC KEY' in labels:
            raise SigningKeyError(f'{named} is a public key; signing needs the private key')
        raise SigningKeyError(_not_a_key(named, labels, 'PRIVATE KEY'))
    encrypted = 'ENCRYPTED PRIVATE KEY' in labels or 'Proc-Type: 4,ENCRYPTED' in pem
    if encrypted and not passphrase:
        raise SigningKeyError(f'{named} is encrypted; give its passphrase in key_passphrase')
    if passphrase and not encrypted:
        raise SigningKeyError(f'{named} is not encrypted, but a key_passphrase was given; remove key_passphrase or use the encrypted key')
    try:
        private_key = deps.crypto_serialization.load_pem_private_key(pem.encode('latin-1'), passphrase.encode('utf-8') if passphrase else None)
    except (ValueError, TypeError, deps.UnsupportedAlgorithm):
        if encrypted:
            raise SigningKeyError(f'{named} cannot be decrypted: the key_passphrase is wrong, or the key is damaged') from None
        raise SigningKeyError(f'{named} cannot be read as a PEM private key; it is damaged or of an unsupported kind') from None
    _require_p256(private_key, named)
    return SigningKey(key_id(private_key.public_key()), private_key)


def _pem_text(source: str, what: str) -> tuple[str, str]:
    """The PEM text of ``source`` and how messages name it: by path, or only by ``what`` when it is the text itself."""
    if not isinstance(source, str) or not source.strip():
        raise SigningKeyError(f'{what} is empty; give a path to a PEM key file or the PEM text')
    if source.lstrip().startswith('-----BEGIN'):
        return source, f'{what} (PEM text)'
    named = f'{what} ({source})'
    try:
        data = read_small_file(source, KEY_FILE_LIMIT)
    except OSError as exc:
        raise SigningKeyError(f'{named} cannot be read: {exc.strerror or exc}') from None
    if data is None:
        raise SigningKeyError(f'{named} is larger than {KEY_FILE_LIMIT} bytes, so it is not a PEM key file')
    # latin-1 maps every byte, so a binary file reaches the "not PEM" message instead of a decoding error.
    return data.decode('latin-1'), named


def _not_a_key(named: str, labels: set[str], wanted: str) -> str:
    if labels:
        return f'{named} holds PEM {", ".join(sorted(labels))}, not a {wanted}'
    return f'{named} is not a PEM key (no -----BEGIN {wanted}----- line)'


def _require_p256(key: t.Any, named: str) -> None:
    if not isinstance(key, (deps.crypto_ec.EllipticCurvePublicKey, deps.crypto_ec.EllipticCurvePrivateKey)):
        raise SigningKeyError(f'{named} is not an EC key; cosign signatures use ECDSA P-256 keys ({_MAKE_KEY})')
    if not isinstance(key.curve, deps.crypto_ec.SECP256R1):
        raise SigningKeyError(f'{named} is an EC key on curve {key.curve.name}, not P-256 (secp256r1/prime256v1); {_MAKE_KEY}')
