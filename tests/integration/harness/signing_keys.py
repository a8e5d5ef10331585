"""ECDSA P-256 key pairs for cosign-compatible signatures, made with the openssl CLI as the signing guide tells users to.

``make_key_pair(directory, 'ci')`` writes ``ci.pem`` (PKCS#8 private key) and ``ci.pub`` (its public key) and returns
them with the key id the collection names the key by in its messages and results (``sha256:`` of the DER public key).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import subprocess

OPENSSL_TIMEOUT = 30


@dataclasses.dataclass(frozen=True)
class KeyPair:
    private: pathlib.Path  # PEM, PKCS#8, unencrypted: what wasm_image_sign's key takes
    public: pathlib.Path  # PEM SubjectPublicKeyInfo: what verify_keys takes, as a path
    key_id: str  # sha256:<hex> of the DER public key

    @property
    def public_pem(self) -> str:
        """The public key as PEM text: what verify_keys takes where the key file is not (a host that pulls)."""
        return self.public.read_text(encoding='ascii')


def _openssl(*args: str) -> bytes:
    return subprocess.run(['openssl', *args], check=True, capture_output=True, timeout=OPENSSL_TIMEOUT).stdout


def make_key_pair(directory: pathlib.Path, name: str) -> KeyPair:
    private, public = directory / f'{name}.pem', directory / f'{name}.pub'
    _openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', str(private))
    _openssl('pkey', '-in', str(private), '-pubout', '-out', str(public))
    der = _openssl('pkey', '-pubin', '-in', str(public), '-outform', 'DER')
    return KeyPair(private, public, 'sha256:' + hashlib.sha256(der).hexdigest())
