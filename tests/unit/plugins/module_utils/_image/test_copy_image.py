# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""copy_image between local layouts: the image and its ``.sig`` tag, check mode, no-op runs, pinned digests; and how
wasm_image_copy's ``src`` and ``dest`` are read (copy_ends)."""

from __future__ import annotations

import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError, SignatureError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image.copy import copy_image
from ansible_collections.wasm.oci.plugins.module_utils._image.copy_ends import parse_ends
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSink, LayoutSource, OciLayout
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout_name import LayoutName
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference
from ansible_collections.wasm.oci.plugins.module_utils._signing.signature_image import signature_image, signature_layer
from ansible_collections.wasm.oci.plugins.module_utils._signing.simple_signing import build_payload, signature_tag
from ansible_collections.wasm.oci.plugins.module_utils._signing.verification import MAX_SIGNATURES
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import LayoutBuilder, proxy_module

DIGEST = 'sha256:' + 'ab' * 32


def _signed_layout(path: pathlib.Path, signatures: int = 1) -> tuple[str, str]:
    """A layout whose tag ``v1`` names an image with a ``.sig`` tag holding ``signatures`` layers; returns both digests."""
    builder = LayoutBuilder(path)
    config = builder.add(mt.OCI_IMAGE_CONFIG, b'{}')
    image = builder.manifest(config, [builder.add(mt.WASM_CONTENT_LAYER, proxy_module())])
    builder.tag('v1', image)
    layers = []
    for number in range(signatures):
        payload = build_payload('registry.example.com/filters/x', image['digest'], {'n': str(number)})
        builder.blob(payload)
        layers.append(signature_layer(payload, 'c2lnbmF0dXJl'))
    manifest, sig_config = signature_image(layers)
    builder.blob(sig_config)
    builder.tag(signature_tag(image['digest']), builder.add(mt.OCI_MANIFEST, manifest))
    return image['digest'], OciLayout(str(path)).find(signature_tag(image['digest']))['digest']


def _copy(source_path: pathlib.Path, dest_path: pathlib.Path, tag: str | None = 'copied', **options: t.Any) -> t.Any:
    with LayoutSink(str(dest_path)) as sink:
        return copy_image(LayoutSource(OciLayout(str(source_path)), 'v1'), sink, tag, **options)


def test_the_image_and_its_signatures_are_copied_and_a_second_copy_changes_nothing(tmp_path: pathlib.Path) -> None:
    digest, sig_digest = _signed_layout(tmp_path / 'src', signatures=2)
    first = _copy(tmp_path / 'src', tmp_path / 'dest')
    assert (first.changed, first.digest, first.before, first.signatures_copied) == (True, digest, None, 2)
    # config, module; the .sig config and two payloads.
    assert (first.counts.blobs_copied, first.counts.blobs_skipped) == (5, 0)
    dest = OciLayout(str(tmp_path / 'dest'))
    assert dest.find('copied')['digest'] == digest
    assert dest.find(signature_tag(digest))['digest'] == sig_digest
    second = _copy(tmp_path / 'src', tmp_path / 'dest')
    assert (second.changed, second.before, second.signatures_copied, second.counts.blobs_copied) == (False, digest, 0, 0)
    assert (second.signatures.before, second.signatures.after) == (sig_digest, sig_digest)


def test_signatures_alone_are_copied_when_the_image_is_there(tmp_path: pathlib.Path) -> None:
    digest, sig_digest = _signed_layout(tmp_path / 'src')
    _copy(tmp_path / 'src', tmp_path / 'dest', copy_signatures=False)
    assert OciLayout(str(tmp_path / 'dest')).find(signature_tag(digest)) is None
    outcome = _copy(tmp_path / 'src', tmp_path / 'dest')
    assert (outcome.changed, outcome.image_needed, outcome.signatures_copied) == (True, False, 1)
    assert (outcome.counts.blobs_copied, outcome.counts.blobs_skipped) == (2, 0)
    assert OciLayout(str(tmp_path / 'dest')).find(signature_tag(digest))['digest'] == sig_digest


def test_check_mode_reads_and_writes_nothing(tmp_path: pathlib.Path) -> None:
    digest, sig_digest = _signed_layout(tmp_path / 'src')
    outcome = _copy(tmp_path / 'src', tmp_path / 'dest', check_mode=True)
    assert (outcome.changed, outcome.digest, outcome.before, outcome.signatures.after) == (True, digest, None, sig_digest)
    assert (outcome.signatures_copied, outcome.counts.blobs_copied) == (0, 0)
    assert not (tmp_path / 'dest').exists()


def test_a_copy_by_digest_alone_and_a_pinned_digest(tmp_path: pathlib.Path) -> None:
    digest, _sig = _signed_layout(tmp_path / 'src')
    with pytest.raises(WasmOciError, match=f'dest names digest {DIGEST}, but src .* is {digest}'):
        _copy(tmp_path / 'src', tmp_path / 'dest', pinned=DIGEST)
    assert not (tmp_path / 'dest').exists()
    outcome = _copy(tmp_path / 'src', tmp_path / 'dest', tag=None, pinned=digest, copy_signatures=False)
    assert outcome.changed
    assert OciLayout(str(tmp_path / 'dest')).has_blob(digest, (tmp_path / 'src' / 'blobs' / 'sha256' / digest[7:]).stat().st_size)
    assert not _copy(tmp_path / 'src', tmp_path / 'dest', tag=None, copy_signatures=False).changed


def test_a_missing_source_and_a_hostile_signature_manifest_are_refused_before_anything_is_written(tmp_path: pathlib.Path) -> None:
    _signed_layout(tmp_path / 'src', signatures=MAX_SIGNATURES + 1)
    with pytest.raises(SignatureError):
        _copy(tmp_path / 'src', tmp_path / 'dest')
    assert not (tmp_path / 'dest').exists()
    LayoutBuilder(tmp_path / 'empty')
    with pytest.raises(WasmOciError, match=r'src oci:.*:v1 does not exist'):
        _copy(tmp_path / 'empty', tmp_path / 'dest')


@pytest.mark.parametrize(('src', 'dest', 'expected'), [
    ('r.example/a:1.0', 'mirror.example/a', ImageReference('mirror.example', 'a', '1.0')),
    ('r.example/a:1.0', 'mirror.example:5000/a', ImageReference('mirror.example:5000', 'a', '1.0')),
    ('r.example/a:1.0', 'mirror.example/a:latest', ImageReference('mirror.example', 'a', 'latest')),
    ('r.example/a@' + DIGEST, 'mirror.example/a', ImageReference('mirror.example', 'a', None, DIGEST)),
    ('r.example/a@' + DIGEST, 'mirror.example/a:2', ImageReference('mirror.example', 'a', '2')),
    (f'oci:/l@{DIGEST}', 'localhost:5000/a', ImageReference('localhost:5000', 'a', None, DIGEST)),
    ('oci:/l:v3', 'localhost:5000/a', ImageReference('localhost:5000', 'a', 'v3')),
    ('r.example/a:1.0', 'oci:/srv/layout:x', LayoutName('/srv/layout', tag='x')),
])
def test_a_registry_dest_without_a_tag_takes_the_tag_of_src(src: str, dest: str, expected: t.Any) -> None:
    assert parse_ends(src, dest).dest == expected


def test_a_layout_dest_needs_a_tag() -> None:
    with pytest.raises(InvalidReferenceError, match='a copy into a layout needs a tag'):
        parse_ends('r.example/a:1', f'oci:/srv/layout@{DIGEST}')


@pytest.mark.parametrize(('src', 'dest', 'mount_from'), [
    ('r.example/staging/a:1', 'r.example/stable/a:1', ['staging/a']),
    ('r.example/a:1', 'r.example/a:2', []),
    ('r.example/a:1', 'other.example/a:1', []),
    ('oci:/l:1', 'r.example/a:1', []),
])
def test_blobs_are_mounted_from_the_source_repository_of_the_same_registry(src: str, dest: str, mount_from: list[str]) -> None:
    assert parse_ends(src, dest).mount_from == mount_from
