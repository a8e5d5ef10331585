"""Wasm images as the tools in the wild write them, made by hand and put into a registry byte for byte.

Each form copies what one tool really writes (from its source and issue threads), so the collection is tested
against those bytes, not against what it writes itself:

- ``wasm-to-oci`` (engineerd/wasm-to-oci, through ORAS v0's ``pack``): the manifest has no ``mediaType`` field
  (image-spec 1.0.0 had none), the config is ``{}`` typed ``application/vnd.wasm.config.v1+json``, and the raw module
  is the one ``application/vnd.wasm.content.layer.v1+wasm`` layer, titled with its file name.
- ``oras-1x``: ``oras push --artifact-type ... filter.wasm:<type>`` packs an OCI 1.1 artifact: ``artifactType`` names
  the kind, the config is the empty descriptor ``application/vnd.oci.empty.v1+json`` (blob ``{}``, inline ``data``
  ``e30=``), the layer is titled and typed as given, and ORAS adds ``org.opencontainers.image.created``.
- ``oras-untyped``: ``oras push reg/repo:tag plugin.wasm`` with no ``:type`` (ORAS 1.1 and later): the module under
  ORAS's default file type, a plain ``application/vnd.oci.image.layer.v1.tar`` layer (oras-go's ``content/file``),
  titled with the file name, ``artifactType`` ``application/vnd.unknown.artifact.v1`` and the empty config. (ORAS 1.0 and
  the ORAS Python SDK write ``{}`` typed ``application/vnd.unknown.config.v1+json`` and no ``artifactType``: the test
  pushes that with the SDK itself.)
- ``higress-compat``: Higress's documented ``FROM scratch`` + ``COPY main.wasm plugin.wasm`` built with the classic
  ``docker build``: a Docker v2 manifest, a Docker config for linux/amd64 (scratch takes the builder's platform), one
  ``.tar.gzip`` layer holding ``plugin.wasm``.
- ``higress-oci``: Higress's plugin builder pushes with ORAS 1.0: ``spec.yaml`` and ``README.md`` layers of its own
  types, then ``plugin.tar.gz`` (``tar czf`` of ``plugin.wasm``, GNU tar) as the last, tar+gzip layer; the config is
  ORAS 1.0's ``{}`` typed ``application/vnd.unknown.config.v1+json``.
- ``buildx``: ``docker buildx build --platform linux/amd64,linux/arm64 --push`` of the same Dockerfile: an OCI index,
  one OCI image per platform, and per image an attestation manifest (platform unknown/unknown, annotations
  ``vnd.docker.reference.type: attestation-manifest`` and ``vnd.docker.reference.digest``, an in-toto layer).
- ``manifest-list``: ``docker manifest create`` (or buildx without attestations and OCI media types): a Docker
  manifest list of Docker v2 images per platform.
- ``crane-oci-docker-layer``: ``crane mutate --append`` on an OCI image adds a Docker-typed layer under the OCI
  manifest (go-containerregistry #1427).
- ``crane-docker-oci-layer``: apko/ko-style writers put OCI layers under a Docker v2 manifest (skopeo refuses to copy
  it: "unsupported docker v2s2 media type").
- ``docker-plain-tar-as-gzip``: a Docker ``.tar.gzip`` layer that is plain tar (go-containerregistry #1826); readers
  must go by the bytes, not the label.

Every manifest is PUT through the Distribution API in the exact bytes made here: skopeo converts or refuses some of
these forms, and the tests must read what the tools wrote.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
import typing as t
import urllib.parse

import requests

from harness.registries import Registry

OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
OCI_TAR = 'application/vnd.oci.image.layer.v1.tar'
OCI_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'
DOCKER_TAR_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip'
WASM_CONTENT_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm'
TITLE = 'org.opencontainers.image.title'
TIMEOUT = 10


def sha256(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def encode(document: dict[str, t.Any]) -> bytes:
    return json.dumps(document, separators=(',', ':')).encode()


@dataclasses.dataclass
class WildImage:
    """Blobs and manifests of one image; ``root`` is what the tag names, ``chosen`` the manifest a reader should end at."""

    blobs: dict[str, bytes] = dataclasses.field(default_factory=dict)
    manifests: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)  # (media type, bytes), children first

    def blob(self, media_type: str, content: bytes, **extra: t.Any) -> dict[str, t.Any]:
        self.blobs[sha256(content)] = content
        return {'mediaType': media_type, 'digest': sha256(content), 'size': len(content), **extra}

    def manifest(self, media_type: str, document: dict[str, t.Any], **extra: t.Any) -> dict[str, t.Any]:
        data = encode(document)
        self.manifests.append((media_type, data))
        return {'mediaType': media_type, 'digest': sha256(data), 'size': len(data), **extra}

    @property
    def root(self) -> tuple[str, bytes]:
        return self.manifests[-1]


def tar_of(files: t.Sequence[tuple[str, bytes]], tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tar_format) as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def container(image: WildImage, files: t.Sequence[tuple[str, bytes]], *, manifest_type: str = DOCKER_MANIFEST,
              layer_type: str = DOCKER_TAR_GZIP, compress: bool = True, architecture: str = 'amd64',
              **extra: t.Any) -> dict[str, t.Any]:
    """A one-layer linux container image of ``files``, as docker, buildx and crane write them."""
    tar = tar_of(files)
    config = encode({'architecture': architecture, 'os': 'linux', 'config': {}, 'rootfs': {'type': 'layers', 'diff_ids': [sha256(tar)]}})
    document = {
        'schemaVersion': 2, 'mediaType': manifest_type,
        'config': image.blob(DOCKER_CONFIG if manifest_type == DOCKER_MANIFEST else OCI_CONFIG, config),
        'layers': [image.blob(layer_type, gzip.compress(tar, mtime=0) if compress else tar)],
    }
    return image.manifest(manifest_type, document, **extra)


def wasm_to_oci(image: WildImage, module: bytes) -> None:
    image.manifest(OCI_MANIFEST, {
        'schemaVersion': 2,
        'config': image.blob('application/vnd.wasm.config.v1+json', b'{}'),
        'layers': [image.blob('application/vnd.wasm.content.layer.v1+wasm', module, annotations={TITLE: 'filter.wasm'})],
    })


def oras_1x(image: WildImage, module: bytes) -> None:
    image.manifest(OCI_MANIFEST, {
        'schemaVersion': 2, 'mediaType': OCI_MANIFEST, 'artifactType': WASM_CONTENT_LAYER,
        'config': image.blob('application/vnd.oci.empty.v1+json', b'{}', data='e30='),
        'layers': [image.blob(WASM_CONTENT_LAYER, module, annotations={TITLE: 'filter.wasm'})],
        'annotations': {'org.opencontainers.image.created': '2024-01-01T00:00:00Z'},
    })


def oras_untyped(image: WildImage, module: bytes) -> None:
    image.manifest(OCI_MANIFEST, {
        'schemaVersion': 2, 'mediaType': OCI_MANIFEST, 'artifactType': 'application/vnd.unknown.artifact.v1',
        'config': image.blob('application/vnd.oci.empty.v1+json', b'{}', data='e30='),
        'layers': [image.blob(OCI_TAR, module, annotations={TITLE: 'plugin.wasm'})],
        'annotations': {'org.opencontainers.image.created': '2024-01-01T00:00:00Z'},
    })


def higress_oci(image: WildImage, module: bytes) -> None:
    image.manifest(OCI_MANIFEST, {
        'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
        'config': image.blob('application/vnd.unknown.config.v1+json', b'{}'),
        'layers': [
            image.blob('application/vnd.module.wasm.spec.v1+yaml', b'apiVersion: 1.0.0\n', annotations={TITLE: 'spec.yaml'}),
            image.blob('application/vnd.module.wasm.doc.v1+markdown', b'# plugin\n', annotations={TITLE: 'README.md'}),
            image.blob(OCI_TAR_GZIP, gzip.compress(tar_of([('plugin.wasm', module)], tarfile.GNU_FORMAT), mtime=0),
                       annotations={TITLE: 'plugin.tar.gz'}),
        ],
    })


def platform_index(image: WildImage, module: bytes, *, docker: bool, attestations: bool) -> dict[str, str]:
    """A linux/amd64 + linux/arm64 index of ``module`` (buildx or a manifest list); returns the child digest by architecture."""
    children = [
        container(image, [('plugin.wasm', module)], manifest_type=DOCKER_MANIFEST if docker else OCI_MANIFEST,
                  layer_type=DOCKER_TAR_GZIP if docker else OCI_TAR_GZIP, architecture=architecture,
                  platform={'os': 'linux', 'architecture': architecture})
        for architecture in ('amd64', 'arm64')
    ]
    if attestations:
        for child in list(children):
            statement = image.blob('application/vnd.in-toto+json', b'{"_type":"https://in-toto.io/Statement/v0.1"}')
            config = image.blob(OCI_CONFIG, encode({'architecture': 'unknown', 'os': 'unknown', 'rootfs': {'type': 'layers', 'diff_ids': []}}))
            children.append(image.manifest(
                OCI_MANIFEST, {'schemaVersion': 2, 'mediaType': OCI_MANIFEST, 'config': config, 'layers': [statement]},
                platform={'os': 'unknown', 'architecture': 'unknown'},
                annotations={'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': child['digest']}))
    media_type = DOCKER_LIST if docker else OCI_INDEX
    image.manifest(media_type, {'schemaVersion': 2, 'mediaType': media_type, 'manifests': children})
    return {child['platform']['architecture']: child['digest'] for child in children[:2]}


FORMS: dict[str, t.Callable[[WildImage, bytes], t.Any]] = {
    'wasm-to-oci': wasm_to_oci,
    'oras-1x': oras_1x,
    'oras-untyped': oras_untyped,
    'higress-compat': lambda image, module: container(image, [('plugin.wasm', module)]),
    'higress-oci': higress_oci,
    'buildx': lambda image, module: platform_index(image, module, docker=False, attestations=True),
    'manifest-list': lambda image, module: platform_index(image, module, docker=True, attestations=False),
    'crane-oci-docker-layer': lambda image, module: container(image, [('plugin.wasm', module)], manifest_type=OCI_MANIFEST),
    'crane-docker-oci-layer': lambda image, module: container(image, [('plugin.wasm', module)], layer_type=OCI_TAR_GZIP),
    'docker-plain-tar-as-gzip': lambda image, module: container(image, [('./plugin.wasm', module)], compress=False),
}


def put_image(registry: Registry, repository: str, tag: str, image: WildImage) -> str:
    """Upload every blob, then the manifests children first, the root under ``tag``; returns the root's digest."""
    for digest, data in image.blobs.items():
        started = requests.post(f'{registry.url}/v2/{repository}/blobs/uploads/', timeout=TIMEOUT)
        assert started.status_code == 202, started.text
        location = urllib.parse.urljoin(f'{registry.url}/', started.headers['Location'])
        separator = '&' if '?' in location else '?'
        finished = requests.put(f'{location}{separator}digest={digest}', data=data, timeout=TIMEOUT,
                                headers={'Content-Type': 'application/octet-stream'})
        assert finished.status_code == 201, finished.text
    for position, (media_type, data) in enumerate(image.manifests):
        version = tag if position == len(image.manifests) - 1 else sha256(data)
        stored = requests.put(f'{registry.url}/v2/{repository}/manifests/{version}', data=data, timeout=TIMEOUT,
                              headers={'Content-Type': media_type})
        assert stored.status_code == 201, stored.text
        assert stored.headers['Docker-Content-Digest'] == sha256(data)
    return sha256(image.root[1])
