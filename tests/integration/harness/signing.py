"""Material for the signing tests: keys in every form users give (and the wrong ones), Wasm images put into a registry
byte for byte, and ``.sig`` manifests read, copied and forged with raw registry requests.

Nothing here uses the collection's code: what the modules write is read back the way any client would read it, and
the forged signature images are built by hand, so a test compares the modules against an independent view. The cosign
vectors (``../shared/vectors/cosign/``, see the README there) are read here directly, since integration tests do not
import the unit tests' helpers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import re
import typing as t
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .registries import Registry, registry_request
from .wild_images import OCI_CONFIG, OCI_MANIFEST, WildImage, encode, sha256

COSIGN_SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json'
COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature'
SIGNATURE_TYPE = 'cosign container image signature'
MANIFEST_ACCEPT = ', '.join((
    OCI_MANIFEST, 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
))
PASSPHRASE = 'correct horse battery staple'
# A header cosign generate-key-pair writes; the body is never read, since only cosign can decrypt it.
COSIGN_KEY = ('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n'
              'eyJrZGYiOnsibmFtZSI6InNjcnlwdCJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94In19\n'
              '-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n')
VECTORS = pathlib.Path(__file__).resolve().parents[3].parent / 'shared' / 'vectors' / 'cosign'
MODULE_HEAD = b'\0asm\x01\0\0\0'

# -- keys ------------------------------------------------------------------------------------------------


def _private_pem(key: t.Any, passphrase: str | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _public_pem(key: t.Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_keys(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """Key files by name: ``ci`` (P-256), ``release`` (P-256, encrypted with PASSPHRASE), ``stranger`` (P-256, signs
    nothing), each with ``<name>.pub``; and the wrong ones: ``p384``, ``ed25519``, ``cosign`` (cosign's own format)."""
    made = {
        'ci': (ec.generate_private_key(ec.SECP256R1()), None),
        'release': (ec.generate_private_key(ec.SECP256R1()), PASSPHRASE),
        'stranger': (ec.generate_private_key(ec.SECP256R1()), None),
        'p384': (ec.generate_private_key(ec.SECP384R1()), None),
        'ed25519': (ed25519.Ed25519PrivateKey.generate(), None),
    }
    paths: dict[str, pathlib.Path] = {}
    for name, (key, passphrase) in made.items():
        paths[name] = directory / f'{name}.pem'
        paths[name].write_bytes(_private_pem(key, passphrase))
        paths[f'{name}.pub'] = directory / f'{name}.pub'
        paths[f'{name}.pub'].write_bytes(_public_pem(key))
    paths['cosign'] = directory / 'cosign.key'
    paths['cosign'].write_text(COSIGN_KEY, encoding='ascii')
    return paths


def key_id(public_key_path: pathlib.Path) -> str:
    """How messages and results name a key: ``sha256:`` of its DER SubjectPublicKeyInfo (cosign's key id)."""
    public_key = serialization.load_pem_public_key(public_key_path.read_bytes())
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return 'sha256:' + hashlib.sha256(der).hexdigest()


def sign(private_key_path: pathlib.Path, payload: bytes, passphrase: str | None = None) -> str:
    """The base64 DER ECDSA P-256/SHA-256 signature of ``payload``, as cosign puts it in the layer annotation."""
    key = serialization.load_pem_private_key(private_key_path.read_bytes(), passphrase.encode() if passphrase else None)
    return base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode('ascii')  # type: ignore[union-attr,call-arg]


# -- payloads and the cosign vectors ---------------------------------------------------------------------


def cosign_payload(docker_reference: str, digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """A simple-signing payload as cosign serialises it (Go's struct order is alphabetical here, no spaces)."""
    document = {
        'critical': {'identity': {'docker-reference': docker_reference}, 'image': {'docker-manifest-digest': digest}, 'type': SIGNATURE_TYPE},
        'optional': annotations or None,
    }
    return json.dumps(document, sort_keys=True, separators=(',', ':')).encode()


def vector_signature(name: str = 'valid/signature-1.json') -> tuple[bytes, str]:
    """``(payload bytes, signature annotation)`` of one signature the real cosign made."""
    path = VECTORS / name
    # Tests run beside ../shared: a missing vector is a broken checkout, never a reason to skip.
    assert path.is_file(), f'The cosign test vector {path} is missing (../shared/vectors/cosign beside the repository)'
    document = json.loads(path.read_text(encoding='utf-8'))
    return base64.b64decode(document['payload']), document['annotations'][COSIGN_SIGNATURE_ANNOTATION]


def key_structure(value: t.Any) -> t.Any:
    """The nested key sets of a JSON document, with the JSON type of every leaf: what two payloads share in shape."""
    if isinstance(value, dict):
        return {key: key_structure(item) for key, item in value.items()}
    return type(value).__name__


# -- images ----------------------------------------------------------------------------------------------


def wasm_module(label: str) -> bytes:
    """A valid Wasm module (magic, version, one custom section) whose bytes are unique to ``label``."""
    custom = b'\x04sign' + label.encode()
    assert len(custom) < 128, 'the section size is written as one LEB128 byte'
    return MODULE_HEAD + b'\x00' + bytes([len(custom)]) + custom


def with_label(module: bytes, label: str) -> bytes:
    """``module`` with one more custom section: the same module, another digest."""
    custom = b'\x04sign' + label.encode()
    assert len(custom) < 128, 'the section size is written as one LEB128 byte'
    return module + b'\x00' + bytes([len(custom)]) + custom


# -- raw registry requests -------------------------------------------------------------------------------


def _expect(response: t.Any, statuses: tuple[int, ...], what: str) -> t.Any:
    assert response.status_code in statuses, f'{what}: HTTP {response.status_code} {response.text[:500]}'
    return response


def put_blob(registry: Registry, repository: str, data: bytes) -> str:
    digest = sha256(data)
    if registry_request(registry, 'HEAD', f'/v2/{repository}/blobs/{digest}').status_code == 200:
        return digest
    started = _expect(registry_request(registry, 'POST', f'/v2/{repository}/blobs/uploads/'), (202,), f'Starting an upload to {repository}')
    location = urllib.parse.urljoin(f'{registry.url}/', started.headers['Location'])
    separator = '&' if '?' in location else '?'
    _expect(registry_request(registry, 'PUT', f'{location}{separator}digest={digest}', data=data,
                             headers={'Content-Type': 'application/octet-stream'}), (201,), f'Uploading {digest} to {repository}')
    return digest


def put_manifest(registry: Registry, repository: str, version: str, media_type: str, data: bytes) -> str:
    stored = _expect(registry_request(registry, 'PUT', f'/v2/{repository}/manifests/{version}', data=data,
                                      headers={'Content-Type': media_type}), (201,), f'Putting {repository}:{version}')
    assert stored.headers['Docker-Content-Digest'] == sha256(data)
    return sha256(data)


def get_manifest(registry: Registry, repository: str, version: str) -> bytes | None:
    """The manifest exactly as the registry serves it; None when there is no such tag or digest."""
    response = registry_request(registry, 'GET', f'/v2/{repository}/manifests/{version}', headers={'Accept': MANIFEST_ACCEPT})
    if response.status_code == 404:
        return None
    return _expect(response, (200,), f'Fetching {repository}:{version}').content


def get_blob(registry: Registry, repository: str, digest: str) -> bytes:
    data = _expect(registry_request(registry, 'GET', f'/v2/{repository}/blobs/{digest}', allow_redirects=True), (200,),
                   f'Fetching blob {digest} of {repository}').content
    assert sha256(data) == digest
    return data


def tags(registry: Registry, repository: str) -> list[str]:
    response = _expect(registry_request(registry, 'GET', f'/v2/{repository}/tags/list'), (200,), f'Listing the tags of {repository}')
    return sorted(response.json().get('tags') or [])


def put_image(registry: Registry, repository: str, tag: str, image: WildImage) -> str:
    """Every blob, then the manifests children first, the root under ``tag``; returns the root's digest. Unlike
    wild_images.put_image, answers the registry's credential challenges."""
    for data in image.blobs.values():
        put_blob(registry, repository, data)
    for position, (media_type, data) in enumerate(image.manifests):
        put_manifest(registry, repository, tag if position == len(image.manifests) - 1 else sha256(data), media_type, data)
    return sha256(image.root[1])


# -- signature images ------------------------------------------------------------------------------------


def signature_tag(digest: str) -> str:
    return digest.replace(':', '-', 1) + '.sig'


def signature_manifest(registry: Registry, repository: str, digest: str) -> dict[str, t.Any] | None:
    """The ``.sig`` manifest of the image ``digest`` in ``repository``, parsed; None when there is none."""
    data = get_manifest(registry, repository, signature_tag(digest))
    return None if data is None else json.loads(data)


def put_signature_image(registry: Registry, repository: str, digest: str, layers: list[dict[str, t.Any]],
                        blobs: t.Iterable[bytes] = ()) -> bytes:
    """Forge a ``.sig`` manifest for the image ``digest`` holding ``layers`` (descriptors, their blobs in ``blobs``)."""
    for data in blobs:
        put_blob(registry, repository, data)
    config = encode({'architecture': '', 'config': {}, 'created': '0001-01-01T00:00:00Z', 'os': '',
                     'rootfs': {'type': 'layers', 'diff_ids': []}})
    put_blob(registry, repository, config)
    manifest = encode({'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
                       'config': {'mediaType': OCI_CONFIG, 'size': len(config), 'digest': sha256(config)}, 'layers': layers})
    put_manifest(registry, repository, signature_tag(digest), OCI_MANIFEST, manifest)
    return manifest


def payload_layer(payload: bytes, signature: str | None, media_type: str = COSIGN_SIMPLE_SIGNING, size: int | None = None) -> dict[str, t.Any]:
    """A layer descriptor as cosign writes one; ``size`` may lie about the payload."""
    layer: dict[str, t.Any] = {'mediaType': media_type, 'size': len(payload) if size is None else size, 'digest': sha256(payload)}
    if signature is not None:
        layer['annotations'] = {COSIGN_SIGNATURE_ANNOTATION: signature}
    return layer


def copy_signature_image(registry: Registry, source_repository: str, source_digest: str, target_repository: str,
                         target_digest: str) -> bytes:
    """Put the ``.sig`` manifest of ``source_digest`` byte for byte under ``target_digest``'s ``.sig`` tag, with its blobs."""
    data = get_manifest(registry, source_repository, signature_tag(source_digest))
    assert data is not None, f'{source_repository} has no signatures for {source_digest}'
    manifest = json.loads(data)
    if target_repository != source_repository:
        for descriptor in [manifest['config'], *manifest['layers']]:
            put_blob(registry, target_repository, get_blob(registry, source_repository, descriptor['digest']))
    put_manifest(registry, target_repository, signature_tag(target_digest), manifest['mediaType'], data)
    return data


# -- the registry's access log ---------------------------------------------------------------------------


def blob_downloads(log_path: pathlib.Path, repository: str, digest: str) -> list[str]:
    """The access log lines of every GET of blob ``digest`` in ``repository``."""
    pattern = re.compile(rf'"GET /v2/{re.escape(repository)}/blobs/{re.escape(digest)}[ ?]')
    return [line for line in log_path.read_text(encoding='utf-8', errors='replace').splitlines() if pattern.search(line)]
