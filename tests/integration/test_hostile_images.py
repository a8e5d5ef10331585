"""wasm_image_pull against broken and hostile images in a real registry, and wasm_image_push of them.

Every image here is made by hand in an OCI layout and pushed to ``registry_plain`` with ``skopeo copy
--preserve-digests`` (so the registry serves exactly these bytes), or, where skopeo itself refuses an image
(a config blob over 4 MiB), with plain Distribution API requests. Each is pulled through Ansible into a directory that already holds
the destination file. The pull must fail with a clear message, leave that file byte-for-byte as it was,
and leave nothing else behind: no temporary file, no record, nothing written outside the directory.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import pathlib
import tarfile
import typing as t
import urllib.parse

import pytest
import requests

from harness.module_runner import run_module
from harness.registries import Registry, skopeo_inspect_raw, skopeo_push

OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json'
OCI_LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
WASM_CONFIG = 'application/vnd.module.wasm.config.v1+json'
WASM_CONTENT_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm'
TITLE = 'org.opencontainers.image.title'

# The smallest valid WebAssembly module: the magic and version 1, no sections.
EMPTY_MODULE = b'\0asm\x01\0\0\0'
OLD_DEST = b'\0asm\x01\0\0\0 the module that was deployed before this pull; it must survive\n'
MAX_SIZE = 1024 * 1024
MIB = 1024 * 1024
RUNTIME_CONFIG = json.dumps({'type': 'envoy_proxy', 'abiVersions': [], 'config': {'root_ids': ['hostile']}}).encode()


# -- hand-made images ------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, title: str | None = None) -> dict[str, t.Any]:
    result: dict[str, t.Any] = {'mediaType': media_type, 'digest': sha256(data), 'size': len(data)}
    if title:
        result['annotations'] = {TITLE: title}
    return result


@dataclasses.dataclass(frozen=True)
class HandImage:
    """An image written by hand into an OCI layout; ``blobs`` holds the config and layers by digest."""

    layout: pathlib.Path
    tag: str
    manifest: bytes
    blobs: dict[str, bytes]

    @property
    def ref(self) -> str:
        return f'oci:{self.layout}:{self.tag}'

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def write_image(layout: pathlib.Path, manifest: dict[str, t.Any], blobs: t.Iterable[bytes], tag: str = 'latest') -> HandImage:
    """Store ``manifest`` and ``blobs`` in a fresh OCI layout under ``tag``."""
    blob_dir = layout / 'blobs' / 'sha256'
    blob_dir.mkdir(parents=True)
    stored = {sha256(blob): blob for blob in blobs}
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    for digest, data in {**stored, sha256(manifest_bytes): manifest_bytes}.items():
        (blob_dir / digest.split(':', 1)[1]).write_bytes(data)
    (layout / 'oci-layout').write_text('{"imageLayoutVersion": "1.0.0"}', encoding='utf-8')
    entry = dict(descriptor(manifest['mediaType'], manifest_bytes), annotations={'org.opencontainers.image.ref.name': tag})
    (layout / 'index.json').write_text(json.dumps({'schemaVersion': 2, 'manifests': [entry]}), encoding='utf-8')
    return HandImage(layout, tag, manifest_bytes, stored)


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    return info, data


def link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, target, 0o777, 0
    return info, None


def tar_gzip(*members: tuple[tarfile.TarInfo, bytes | None]) -> tuple[bytes, bytes]:
    """``(tar, gzip of it)`` holding ``members`` exactly as given: names are not cleaned up."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue(), gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)


def compat_image(layout: pathlib.Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> HandImage:
    """A compat image (OCI manifest, one tar+gzip layer) whose layer holds ``members``."""
    tar, layer = tar_gzip(*members)
    config = json.dumps({'architecture': 'wasm', 'os': 'wasi', 'config': {},
                         'rootfs': {'type': 'layers', 'diff_ids': [sha256(tar)]}}, sort_keys=True).encode()
    manifest = {
        'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
        'config': descriptor(OCI_IMAGE_CONFIG, config),
        'layers': [descriptor(OCI_LAYER_TAR_GZIP, layer)],
        'annotations': {'module.wasm.image/variant': 'compat'},
    }
    return write_image(layout, manifest, [config, layer])


def oci_image(layout: pathlib.Path, module: bytes, config: bytes = RUNTIME_CONFIG, module_size: int | None = None) -> HandImage:
    """An oci-variant image as the reference CLI wrote it (the config again as the first layer, then the module);
    ``module_size`` makes the module layer's descriptor declare another size than the real one."""
    module_descriptor = descriptor(WASM_CONTENT_LAYER, module, 'filter.wasm')
    if module_size is not None:
        module_descriptor['size'] = module_size
    manifest = {
        'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
        'config': descriptor(WASM_CONFIG, config),
        'layers': [descriptor(WASM_CONFIG, config, 'runtime-config.json'), module_descriptor],
    }
    return write_image(layout, manifest, [config, module])


# -- getting images into the registry --------------------------------------------------------------------


def push_with_requests(registry: Registry, repository: str, tag: str, image: HandImage) -> None:
    """Push ``image`` through the Distribution API, byte for byte: a monolithic upload per blob, then the manifest."""
    for digest, data in image.blobs.items():
        started = requests.post(f'{registry.url}/v2/{repository}/blobs/uploads/', timeout=10, verify=registry.verify)
        assert started.status_code == 202, started.text
        location = urllib.parse.urljoin(f'{registry.url}/', started.headers['Location'])
        separator = '&' if '?' in location else '?'
        finished = requests.put(f'{location}{separator}digest={digest}', data=data, timeout=10, verify=registry.verify,
                                headers={'Content-Type': 'application/octet-stream'})
        assert finished.status_code == 201, finished.text
    stored = requests.put(f'{registry.url}/v2/{repository}/manifests/{tag}', data=image.manifest, timeout=10,
                          verify=registry.verify, headers={'Content-Type': json.loads(image.manifest)['mediaType']})
    assert stored.status_code == 201, stored.text
    assert stored.headers['Docker-Content-Digest'] == image.digest


def push(registry: Registry, repository: str, image: HandImage, via: str = 'skopeo') -> str:
    """Put ``image`` in ``repository:1`` unchanged and return the reference the modules take."""
    if via == 'skopeo':
        skopeo_push(registry, image.ref, f'{repository}:1', extra_args=['--preserve-digests'])
    else:
        push_with_requests(registry, repository, '1', image)
    served = skopeo_inspect_raw(registry, f'{repository}:1').stdout.encode()
    assert served == image.manifest, 'the registry must serve the hostile manifest exactly as it was made'
    return registry.ref(f'{repository}:1')


# -- pulling ---------------------------------------------------------------------------------------------


@pytest.fixture
def dest(tmp_path: pathlib.Path) -> pathlib.Path:
    """``<tmp>/deployed/filter.wasm``, already holding ``OLD_DEST``; images are made under ``<tmp>/layout``."""
    directory = tmp_path / 'deployed'
    directory.mkdir()
    path = directory / 'filter.wasm'
    path.write_bytes(OLD_DEST)
    return path


def pull(reference: str, dest_path: pathlib.Path, environment: dict[str, str], **options: t.Any) -> dict[str, t.Any]:
    return run_module('wasm_image_pull', {'name': reference, 'dest': str(dest_path), 'plain_http': True, 'timeout': 10, **options},
                      environment)


def assert_refused(result: dict[str, t.Any], phrase: str, dest_path: pathlib.Path) -> None:
    """The pull failed with ``phrase`` in a real error message, and left the directory exactly as it was."""
    assert result['failed'], f'the pull must fail, but it returned {result}'
    message = result.get('msg', '')
    assert 'MODULE FAILURE' not in message, f'the module crashed: {result}'
    assert 'module_stderr' not in result, f'the module crashed: {result}'
    assert phrase in message, f'expected {phrase!r} in the message: {message}'
    assert dest_path.read_bytes() == OLD_DEST, 'a failed pull must leave dest untouched'
    assert sorted(path.name for path in dest_path.parent.iterdir()) == [dest_path.name], 'a failed pull must leave no file behind'
    assert sorted(path.name for path in dest_path.parent.parent.iterdir()) == sorted(['deployed', 'layout']), \
        'nothing may be written beside the dest directory'


# -- the cases -------------------------------------------------------------------------------------------

HostileCase = t.Callable[[pathlib.Path], HandImage]

CASES: dict[str, tuple[HostileCase, dict[str, t.Any], str, str]] = {
    # name: (image maker, extra pull options, key phrase of the error, how to push)
    'escape-dotdot': (
        lambda layout: compat_image(layout, regular('../plugin.wasm', EMPTY_MODULE)),
        {}, 'escapes the layer root', 'skopeo'),
    'escape-absolute': (
        lambda layout: compat_image(layout, regular('/plugin.wasm', EMPTY_MODULE)),
        {}, 'escapes the layer root', 'skopeo'),
    'escape-deep': (
        lambda layout: compat_image(layout, regular('etc/../../plugin.wasm', EMPTY_MODULE)),
        {}, 'escapes the layer root', 'skopeo'),
    'symlink': (
        lambda layout: compat_image(layout, link('plugin.wasm', '/etc/passwd', tarfile.SYMTYPE)),
        {}, 'not a regular file', 'skopeo'),
    'hardlink': (
        lambda layout: compat_image(layout, regular('other.wasm', EMPTY_MODULE), link('plugin.wasm', 'other.wasm', tarfile.LNKTYPE)),
        {}, 'not a regular file', 'skopeo'),
    'compat-without-plugin': (
        lambda layout: compat_image(layout, regular('filter.wasm', EMPTY_MODULE), regular('runtime-config.json', RUNTIME_CONFIG)),
        {}, 'but none holds a plugin.wasm', 'skopeo'),
    'oci-layer-not-wasm': (
        lambda layout: oci_image(layout, b'#!/bin/sh\necho this is not WebAssembly\n'),
        {}, 'not a WebAssembly module', 'skopeo'),
    'compat-plugin-not-wasm': (
        lambda layout: compat_image(layout, regular('plugin.wasm', b'<html>not WebAssembly</html>\n')),
        {}, 'not a WebAssembly module', 'skopeo'),
    'oci-config-invalid-json': (
        lambda layout: oci_image(layout, EMPTY_MODULE, config=b'{"type": "envoy_proxy", "config": {"root_ids": ['),
        {}, 'not valid JSON', 'skopeo'),
    # skopeo refuses to copy a config over 4 MiB ("exceeded maximum allowed size"); the module must refuse it too.
    'oci-config-over-metadata-limit': (
        lambda layout: oci_image(layout, EMPTY_MODULE, config=b'{"type": "envoy_proxy", "pad": "' + b'x' * (5 * MIB) + b'"}'),
        {}, 'allowed for metadata', 'requests'),
    'decompression-bomb': (
        lambda layout: compat_image(layout, regular('padding.bin', bytes(20 * MIB)), regular('plugin.wasm', EMPTY_MODULE)),
        {'max_size': MAX_SIZE}, 'decompresses to more than max_size', 'skopeo'),
    'oci-module-over-max-size': (
        lambda layout: oci_image(layout, EMPTY_MODULE + bytes(2 * MIB)),
        {'max_size': MAX_SIZE}, 'more than max_size', 'skopeo'),
    'compat-module-over-max-size': (
        lambda layout: compat_image(layout, regular('plugin.wasm', EMPTY_MODULE + bytes(2 * MIB))),
        {'max_size': MAX_SIZE}, 'more than max_size', 'skopeo'),
    # A module layer longer than its descriptor says (Distribution checks only that the blob exists).
    'oci-layer-longer-than-declared': (
        lambda layout: oci_image(layout, EMPTY_MODULE + bytes(4096), module_size=len(EMPTY_MODULE)),
        {}, 'declares', 'skopeo'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_hostile_image_is_refused(case: str, registry_plain: Registry, dest: pathlib.Path, tmp_path: pathlib.Path,
                                  ansible_environment: dict[str, str]) -> None:
    make, options, phrase, via = CASES[case]
    reference = push(registry_plain, f'hostile/{case}', make(tmp_path / 'layout'), via=via)
    assert_refused(pull(reference, dest, ansible_environment, **options), phrase, dest)


def test_missing_tag(registry_plain: Registry, dest: pathlib.Path, tmp_path: pathlib.Path,
                     ansible_environment: dict[str, str]) -> None:
    push(registry_plain, 'hostile/missing-tag', oci_image(tmp_path / 'layout', EMPTY_MODULE))
    missing_tag = registry_plain.ref('hostile/missing-tag:no-such-tag')
    missing_repository = registry_plain.ref('hostile/no-such-repository:1')

    for reference in (missing_tag, missing_repository):
        info = run_module('wasm_image_info', {'name': reference, 'plain_http': True, 'timeout': 10}, ansible_environment)
        assert not info['failed'], info
        assert info['exists'] is False
        assert 'image' not in info

    result = pull(missing_tag, dest, ansible_environment)
    assert_refused(result, 'does not exist', dest)
    assert missing_tag in result['msg']


# -- pushing ---------------------------------------------------------------------------------------------

# The compat cases: wasm_image_push describes such an image while its layer uploads, so these fail only after the upload.
PUSH_CASES = ('escape-dotdot', 'symlink', 'compat-without-plugin', 'compat-plugin-not-wasm')


@pytest.mark.parametrize('case', PUSH_CASES)
def test_hostile_layout_push_moves_no_tag(case: str, registry_plain: Registry, tmp_path: pathlib.Path,
                                          ansible_environment: dict[str, str]) -> None:
    """A push of a hostile compat layout fails with the reader's message, and the remote tag keeps naming the image
    it named before: the tag is set only once the description of the image has passed."""
    repository = f'hostile-push/{case}'
    good = compat_image(tmp_path / 'good', regular('plugin.wasm', EMPTY_MODULE))
    push(registry_plain, repository, good)
    make, _options, phrase, _via = CASES[case]
    hostile = make(tmp_path / 'layout')

    result = run_module('wasm_image_push', {'name': registry_plain.ref(f'{repository}:1'), 'layout': str(hostile.layout), 'tag': hostile.tag,
                                            'plain_http': True, 'timeout': 10}, ansible_environment)

    assert result['failed'], f'the push must fail, but it returned {result}'
    assert 'module_stderr' not in result, f'the module crashed: {result}'
    assert phrase in result.get('msg', ''), result
    assert skopeo_inspect_raw(registry_plain, f'{repository}:1').stdout.encode() == good.manifest
