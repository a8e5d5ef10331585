# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import hashlib
import pathlib
import re
import subprocess
import typing as t

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import MissingDependency, SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._signing import optional_cryptography
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import KEY_FILE_LIMIT, load_private_key, load_public_key
from ansible_collections.wasm.oci.tests.unit.cosign_vectors import vector_path
from ansible_collections.wasm.oci.tests.unit.signing_fixtures import PASSPHRASE, ed25519_key, p256_key, p384_key, private_pem, public_pem

COSIGN_PUB_ID = 'sha256:c87a79018f346cc02482448b77296b0bea143ef2ccab99b04776fb0f638f301f'


def test_public_key_from_a_path_and_from_its_text_have_the_same_id() -> None:
    path = vector_path('cosign.pub')
    from_path = load_public_key(str(path), 'verify_keys[0]')
    from_text = load_public_key(path.read_text(encoding='ascii'), 'verify_keys[1]')
    assert from_path.key_id == from_text.key_id == COSIGN_PUB_ID


def test_key_id_is_the_sha256_of_the_der_subject_public_key_info() -> None:
    key = load_public_key(str(vector_path('cosign.pub')), 'k').public_key
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert 'sha256:' + hashlib.sha256(der).hexdigest() == COSIGN_PUB_ID


@pytest.mark.parametrize('traditional', [False, True])
def test_private_key_plain_and_encrypted_load_with_the_public_keys_id(tmp_path: pathlib.Path, traditional: bool) -> None:
    key = p256_key()
    public_id = load_public_key(public_pem(key), 'k').key_id
    plain = tmp_path / 'plain.pem'
    plain.write_text(private_pem(key, traditional=traditional), encoding='ascii')
    assert load_private_key(str(plain), None, 'key').key_id == public_id
    encrypted = private_pem(key, PASSPHRASE, traditional=traditional)
    assert load_private_key(encrypted, PASSPHRASE, 'key').key_id == public_id
    assert load_private_key(encrypted, PASSPHRASE, 'key').verification_key().key_id == public_id


def test_encrypted_key_without_passphrase_is_refused() -> None:
    with pytest.raises(SigningKeyError, match=r'key \(PEM text\) is encrypted; give its passphrase in key_passphrase'):
        load_private_key(private_pem(p256_key(), PASSPHRASE), None, 'key')


@pytest.mark.parametrize('traditional', [False, True])
def test_wrong_passphrase_is_refused(traditional: bool) -> None:
    with pytest.raises(SigningKeyError, match='cannot be decrypted: the key_passphrase is wrong'):
        load_private_key(private_pem(p256_key(), PASSPHRASE, traditional=traditional), 'not it', 'key')


def test_passphrase_for_a_plain_key_is_refused() -> None:
    with pytest.raises(SigningKeyError, match='is not encrypted, but a key_passphrase was given'):
        load_private_key(private_pem(p256_key()), PASSPHRASE, 'key')


def test_public_key_where_a_private_one_is_needed_is_refused() -> None:
    with pytest.raises(SigningKeyError, match=r'key \(.*cosign.pub\) is a public key; signing needs the private key'):
        load_private_key(str(vector_path('cosign.pub')), None, 'key')


@pytest.mark.parametrize('passphrase', [None, PASSPHRASE])
def test_private_key_where_a_public_one_is_needed_is_refused(passphrase: str | None) -> None:
    with pytest.raises(SigningKeyError, match=r'verify_keys\[0\] \(PEM text\) is a private key; verification needs the public key'):
        load_public_key(private_pem(p256_key(), passphrase), 'verify_keys[0]')


@pytest.mark.parametrize('make', [p384_key, ed25519_key], ids=['p384', 'ed25519'])
def test_keys_that_are_not_p256_are_refused(make: t.Any) -> None:
    key = make()
    with pytest.raises(SigningKeyError, match=r'not P-256|is not an EC key'):
        load_private_key(private_pem(key), None, 'key')
    with pytest.raises(SigningKeyError, match=r'not P-256|is not an EC key'):
        load_public_key(public_pem(key), 'verify_keys[0]')


def test_cosigns_own_key_format_is_named() -> None:
    pem = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
    with pytest.raises(SigningKeyError, match="cosign's own encrypted format"):
        load_private_key(pem, PASSPHRASE, 'key')


@pytest.mark.parametrize(('content', 'message'), [
    (b'\x00\x01binary', 'is not a PEM key'),
    (b'-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'holds PEM CERTIFICATE, not a PUBLIC KEY'),
    (b'-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n', 'cannot be read as a PEM public key'),
    (b'x' * (KEY_FILE_LIMIT + 1), f'larger than {KEY_FILE_LIMIT} bytes'),
])
def test_public_key_files_that_are_not_keys_are_refused(tmp_path: pathlib.Path, content: bytes, message: str) -> None:
    path = tmp_path / 'key.pub'
    path.write_bytes(content)
    with pytest.raises(SigningKeyError, match=re.escape(f'verify_keys[0] ({path})') + '.*' + message):
        load_public_key(str(path), 'verify_keys[0]')


def test_damaged_private_key_is_refused() -> None:
    with pytest.raises(SigningKeyError, match='cannot be read as a PEM private key'):
        load_private_key('-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n', None, 'key')


@pytest.mark.parametrize('source', ['', '   '])
def test_empty_key_is_refused(source: str) -> None:
    with pytest.raises(SigningKeyError, match='is empty'):
        load_public_key(source, 'verify_keys[0]')


def test_missing_key_file_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SigningKeyError, match='cannot be read: No such file'):
        load_private_key(str(tmp_path / 'absent.pem'), None, 'key')


def test_messages_never_show_key_material() -> None:
    pem = private_pem(p256_key(), PASSPHRASE)
    body = pem.splitlines()[1]
    for call in (lambda: load_private_key(pem, 'wrong', 'key'), lambda: load_public_key(pem, 'key'), lambda: load_private_key(pem, None, 'key')):
        with pytest.raises(SigningKeyError) as caught:
            call()
        assert body not in str(caught.value)
        assert PASSPHRASE not in str(caught.value)


def test_without_cryptography_the_package_to_install_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optional_cryptography, 'HAS_CRYPTOGRAPHY', False)
    with pytest.raises(MissingDependency, match='Signing or verifying images needs the Python package cryptography'):
        load_public_key(str(vector_path('cosign.pub')), 'verify_keys[0]')


def test_key_id_is_what_openssl_and_sha256sum_print_for_the_public_key(tmp_path: pathlib.Path) -> None:
    # docs/signing.md tells users to compute key ids this way.
    public = tmp_path / 'key.pub'
    public.write_text(public_pem(p256_key()), encoding='ascii')
    der = subprocess.run(['openssl', 'pkey', '-pubin', '-in', str(public), '-outform', 'DER'], capture_output=True, check=True).stdout
    assert load_public_key(str(public), 'verify_keys[0]').key_id == 'sha256:' + hashlib.sha256(der).hexdigest()
