# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""pull_module against real OCI layouts written by the image builder; no network."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image import pull
from ansible_collections.wasm.oci.plugins.module_utils._image.builder import BuiltImage, build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.pull import (
    PULL_ALWAYS,
    PULL_IF_NOT_PRESENT,
    PULL_POLICIES,
    existing_image,
    present_image,
    pull_module,
    pull_policy,
    record_path,
)
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import DEFAULT_MAX_SIZE
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import DigestingReader
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout, store_image
from ansible_collections.wasm.oci.tests.unit.wasm_fixtures import proxy_module

MODULE = proxy_module()
OTHER_MODULE = proxy_module(marker='other_export')
ABI = 'proxy_abi_version_0_2_1'
RUNTIME = RuntimeConfig('envoy_proxy', (ABI,), ('add_header',))
TAG = '1.0'

# (variant, compat_media_type): the oci variant, and compat with OCI and Docker v2 manifests.
KINDS = [('oci', 'oci'), ('compat', 'oci'), ('compat', 'docker')]
KIND_IDS = ['oci', 'compat-oci', 'compat-docker']


def _sha256(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


class CountingLayoutSource(LayoutSource):
    """A layout source that remembers every blob it opened, by digest."""

    def __init__(self, layout: OciLayout, tag: str) -> None:
        super().__init__(layout, tag)
        self.opened: list[str] = []

    def open_blob(self, descriptor: dict[str, t.Any], what: str) -> t.ContextManager[DigestingReader]:
        self.opened.append(descriptor['digest'])
        return super().open_blob(descriptor, what)


@contextlib.contextmanager
def _unchanged_dir(directory: pathlib.Path) -> t.Iterator[None]:
    """Check that the names and bytes of every file in ``directory`` are the same afterwards."""
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    yield
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before


@pytest.fixture
def layout_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / 'layout'


@pytest.fixture
def out_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    directory = tmp_path / 'out'
    directory.mkdir()
    return directory


def _store(
    layout_dir: pathlib.Path, variant: str, compat_media_type: str = 'oci', module: bytes = MODULE, tag: str = TAG,
) -> BuiltImage:
    image = build_image(variant, module, RUNTIME, {}, compat_media_type)
    store_image(str(layout_dir), tag, image.descriptor, image.layout_blobs)
    return image


def _source(layout_dir: pathlib.Path, tag: str = TAG) -> CountingLayoutSource:
    return CountingLayoutSource(OciLayout(str(layout_dir)), tag)


def _module_blobs(image: BuiltImage) -> set[str]:
    """Digests of the blobs that carry the module: the module layer, or the compat tar layer."""
    manifest = json.loads(image.manifest)
    return {layer['digest'] for layer in manifest['layers'] if layer['mediaType'] != mt.WASM_CONFIG}


def _pull(
    source: LayoutSource, dest: pathlib.Path, *, platform: str | None = None, max_size: int = DEFAULT_MAX_SIZE,
    sha256: str | None = None, force: bool = False, check_mode: bool = False,
) -> tuple[bool, dict[str, t.Any]]:
    return pull_module(
        source, existing_image(source, platform), str(dest), platform=platform, max_size=max_size, sha256=sha256, force=force, check_mode=check_mode,
    )


def _module_blob_reads(source: CountingLayoutSource, image: BuiltImage) -> int:
    return sum(1 for digest in source.opened if digest in _module_blobs(image))


# -- first pull ---------------------------------------------------------------------


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_pull_writes_the_exact_module(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    image = _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    source = _source(layout_dir)

    changed, described = _pull(source, dest)

    assert changed is True
    assert dest.read_bytes() == MODULE
    assert sorted(os.listdir(out_dir)) == sorted(['filter.wasm', os.path.basename(record_path(str(dest)))])
    assert described['variant'] == variant
    assert described['digest'] == image.digest
    assert described['media_type'] == image.media_type
    assert described['reference'] == source.reference
    assert described['wasm'] == {'digest': _sha256(MODULE), 'size': len(MODULE)}
    assert described['runtime']['root_ids'] == ['add_header']
    assert described['runtime']['abi_versions'] == [ABI]
    assert _module_blob_reads(source, image) == 1


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_pull_writes_a_record_of_manifest_and_module(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    image = _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _changed, described = _pull(_source(layout_dir), dest)

    assert record_path(str(dest)) == str(out_dir / '.filter.wasm.wasm-oci.json')
    record = json.loads(pathlib.Path(record_path(str(dest))).read_text())
    assert record == {'manifest': image.digest, 'module': _sha256(MODULE), 'image': described, 'platform': None}


def test_record_path_is_a_hidden_file_beside_dest() -> None:
    assert record_path('/etc/envoy/wasm/add_header.wasm') == '/etc/envoy/wasm/.add_header.wasm.wasm-oci.json'
    assert record_path('filter.wasm') == '.filter.wasm.wasm-oci.json'


# -- idempotence ----------------------------------------------------------------------


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_second_pull_is_unchanged_and_reads_no_module_blob(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    image = _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _changed, first = _pull(_source(layout_dir), dest)
    inode = dest.stat().st_ino

    second_source = _source(layout_dir)
    with _unchanged_dir(out_dir):
        changed, described = _pull(second_source, dest)

    assert changed is False
    assert dest.stat().st_ino == inode
    assert _module_blob_reads(second_source, image) == 0
    assert described == first
    assert described['runtime']['root_ids'] == ['add_header']


@pytest.mark.parametrize('compat_media_type', ['oci', 'docker'])
def test_compat_second_pull_relies_on_the_record(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, compat_media_type: str,
) -> None:
    image = _store(layout_dir, 'compat', compat_media_type)
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    os.unlink(record_path(str(dest)))

    # Without the record the module digest is unknown without reading the layer.
    source = _source(layout_dir)
    _changed, described = _pull(source, dest)
    assert _module_blob_reads(source, image) == 1
    assert dest.read_bytes() == MODULE
    assert described['wasm']['digest'] == _sha256(MODULE)
    assert os.path.exists(record_path(str(dest)))

    # The record is back, so the next pull reads no layer.
    third_source = _source(layout_dir)
    changed, _described = _pull(third_source, dest)
    assert changed is False
    assert _module_blob_reads(third_source, image) == 0


@pytest.mark.parametrize('record_content', [b'{not json', b'[1, 2]', b'\xff\xfe', b''], ids=['truncated', 'list', 'binary', 'empty'])
def test_compat_pull_with_a_damaged_record_pulls_again(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, record_content: bytes,
) -> None:
    image = _store(layout_dir, 'compat')
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    pathlib.Path(record_path(str(dest))).write_bytes(record_content)

    source = _source(layout_dir)
    _changed, described = _pull(source, dest)
    assert _module_blob_reads(source, image) == 1
    assert dest.read_bytes() == MODULE
    assert json.loads(pathlib.Path(record_path(str(dest))).read_text())['image'] == described


@pytest.mark.parametrize('recorded_image', ['a string', [1, 2], 42], ids=['string', 'list', 'number'])
def test_compat_record_with_a_damaged_image_pulls_again(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, recorded_image: t.Any,
) -> None:
    # A record whose manifest and module match but whose image is not an object is as
    # good as no record: pull again rather than fail with a traceback.
    image = _store(layout_dir, 'compat')
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    record_file = pathlib.Path(record_path(str(dest)))
    record_file.write_text(json.dumps(dict(json.loads(record_file.read_text()), image=recorded_image)))

    source = _source(layout_dir)
    _changed, described = _pull(source, dest)
    assert described['runtime']['root_ids'] == ['add_header']
    assert _module_blob_reads(source, image) == 1
    assert json.loads(record_file.read_text())['image'] == described


def test_compat_record_of_another_manifest_pulls_again(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    _store(layout_dir, 'compat', module=OTHER_MODULE)
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    image = _store(layout_dir, 'compat', module=MODULE)  # the tag moves to a new image

    source = _source(layout_dir)
    changed, described = _pull(source, dest)
    assert changed is True
    assert dest.read_bytes() == MODULE
    assert described['digest'] == image.digest
    assert _module_blob_reads(source, image) == 1


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_dest_edited_after_pull_is_restored(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    dest.write_bytes(b'tampered')  # the record still names the old module digest

    changed, _described = _pull(_source(layout_dir), dest)
    assert changed is True
    assert dest.read_bytes() == MODULE


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_force_pulls_again(layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str) -> None:
    image = _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    inode = dest.stat().st_ino

    source = _source(layout_dir)
    changed, described = _pull(source, dest, force=True)
    assert changed is True
    assert _module_blob_reads(source, image) == 1
    assert dest.stat().st_ino != inode
    assert dest.read_bytes() == MODULE
    assert described['wasm']['digest'] == _sha256(MODULE)


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_existing_dest_with_other_content_is_replaced(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    dest.write_bytes(OTHER_MODULE)

    changed, described = _pull(_source(layout_dir), dest)
    assert changed is True
    assert dest.read_bytes() == MODULE
    assert described['wasm']['digest'] == _sha256(MODULE)
    assert sorted(os.listdir(out_dir)) == ['.filter.wasm.wasm-oci.json', 'filter.wasm']


def test_oci_dest_already_holding_the_module_is_unchanged_without_a_record(
    layout_dir: pathlib.Path, out_dir: pathlib.Path,
) -> None:
    # The oci variant's module layer digest is the module digest: no record needed to tell.
    image = _store(layout_dir, 'oci')
    dest = out_dir / 'filter.wasm'
    dest.write_bytes(MODULE)
    inode = dest.stat().st_ino

    source = _source(layout_dir)
    changed, described = _pull(source, dest)
    assert changed is False
    assert _module_blob_reads(source, image) == 0
    assert described['wasm']['digest'] == _sha256(MODULE)
    assert described['runtime']['root_ids'] == ['add_header']
    assert dest.stat().st_ino == inode
    assert dest.read_bytes() == MODULE
    # The record is written, so that a later pull with if_not_present can do without the source.
    record = json.loads(pathlib.Path(record_path(str(dest))).read_text())
    assert record == {'manifest': image.digest, 'module': _sha256(MODULE), 'image': described, 'platform': None}


def test_a_record_that_cannot_be_written_does_not_fail_an_unchanged_pull(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in a directory this user may read but not write: dest is right, so the pull succeeds.
    _store(layout_dir, 'oci')
    dest = out_dir / 'filter.wasm'
    dest.write_bytes(MODULE)

    def refuse(path: str, data: bytes) -> None:
        raise PermissionError(13, 'Permission denied', path)

    monkeypatch.setattr(pull, 'replace_record', refuse)
    changed, _described = _pull(_source(layout_dir), dest)
    assert changed is False
    assert dest.read_bytes() == MODULE
    assert not os.path.exists(record_path(str(dest)))


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_a_pull_with_its_record_opens_no_blob_at_all(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    # From a registry, a no-op pull is then one request: the manifest. Not even the config blob is read.
    image = _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _changed, first = _pull(_source(layout_dir), dest)

    source = _source(layout_dir)
    changed, described = _pull(source, dest)
    assert changed is False
    assert source.opened == [image.digest], 'a layout keeps the manifest as a blob too: nothing else is read'
    assert described == first


# What a record must say to be taken for the image, damaged one way at a time.
RECORD_DAMAGES = {
    'other-manifest': lambda record: dict(record, manifest='sha256:' + 'b' * 64),
    'other-module': lambda record: dict(record, module=_sha256(OTHER_MODULE)),
    'image-of-another-manifest': lambda record: dict(record, image=dict(record['image'], digest='sha256:' + 'b' * 64)),
    'image-through-an-index': lambda record: dict(record, image=dict(record['image'], index_digest='sha256:' + 'c' * 64)),
    'image-of-another-module': lambda record: dict(record, image=dict(record['image'], wasm={'digest': _sha256(OTHER_MODULE), 'size': 1})),
    'image-without-wasm': lambda record: dict(record, image={key: value for key, value in record['image'].items() if key != 'wasm'}),
    'not-an-object': lambda record: ['a', 'list'],
}


@pytest.mark.parametrize('damage', sorted(RECORD_DAMAGES))
@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_a_record_that_proves_nothing_is_not_taken_for_the_image(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str, damage: str,
) -> None:
    image = _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _changed, first = _pull(_source(layout_dir), dest)
    record_file = pathlib.Path(record_path(str(dest)))
    record_file.write_text(json.dumps(RECORD_DAMAGES[damage](json.loads(record_file.read_text()))))

    source = _source(layout_dir)
    changed, described = _pull(source, dest)
    # The image is read again: the oci variant's config (its manifest names the module), a compat layer to its end.
    assert len(source.opened) > 1, 'more than the manifest'
    assert _module_blob_reads(source, image) == (1 if variant == 'compat' else 0)
    assert changed is False
    assert described == first
    assert json.loads(record_file.read_text())['image'] == described


def test_a_record_is_replaced_atomically_without_fsync(out_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cache checked against dest on every use: losing it in a crash costs a pull, so it is not worth two fsyncs.
    path = out_dir / '.filter.wasm.wasm-oci.json'
    path.write_bytes(b'old')
    path.chmod(0o640)
    synced: list[int] = []
    monkeypatch.setattr(os, 'fsync', synced.append)

    pull.replace_record(str(path), b'{"new": 1}')
    assert path.read_bytes() == b'{"new": 1}'
    assert path.stat().st_mode & 0o777 == 0o640
    assert synced == []
    assert os.listdir(out_dir) == [path.name]

    fresh = out_dir / '.other.wasm.wasm-oci.json'
    pull.replace_record(str(fresh), b'{}')
    assert fresh.stat().st_mode & 0o777 == 0o644


def test_a_record_that_cannot_be_replaced_leaves_no_temporary_file(out_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: str, target: str) -> None:
        raise PermissionError(13, 'Permission denied', target)

    monkeypatch.setattr(os, 'replace', refuse)
    with pytest.raises(PermissionError):
        pull.replace_record(str(out_dir / '.filter.wasm.wasm-oci.json'), b'{}')
    assert os.listdir(out_dir) == []


# -- check mode ----------------------------------------------------------------------


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_check_mode_reports_changed_and_writes_nothing(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'

    changed, described = _pull(_source(layout_dir), dest, check_mode=True)

    assert changed is True
    assert os.listdir(out_dir) == []
    assert described['variant'] == variant
    assert described['runtime']['root_ids'] == ['add_header']


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_check_mode_leaves_an_outdated_dest_alone(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    dest.write_bytes(OTHER_MODULE)

    with _unchanged_dir(out_dir):
        changed, _described = _pull(_source(layout_dir), dest, check_mode=True)
    assert changed is True


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_check_mode_after_a_pull_is_unchanged(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _changed, first = _pull(_source(layout_dir), dest)

    with _unchanged_dir(out_dir):
        changed, described = _pull(_source(layout_dir), dest, check_mode=True)
    assert changed is False
    assert described == first


def test_check_mode_oci_reports_the_module_digest_without_reading_it(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    image = _store(layout_dir, 'oci')
    source = _source(layout_dir)
    _changed, described = _pull(source, out_dir / 'filter.wasm', check_mode=True)
    assert described['wasm'] == {'digest': _sha256(MODULE), 'size': len(MODULE)}
    assert _module_blob_reads(source, image) == 0


# -- sha256 pin ---------------------------------------------------------------------


def _pins(module: bytes) -> list[str]:
    hex_digest = hashlib.sha256(module).hexdigest()
    return [hex_digest, f'sha256:{hex_digest}', hex_digest.upper(), f'SHA256:{hex_digest.upper()}']


@pytest.mark.parametrize('pin', _pins(MODULE), ids=['hex', 'prefixed', 'upper', 'upper-prefixed'])
@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_matching_pin_pulls(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str, pin: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    changed, _described = _pull(_source(layout_dir), dest, sha256=pin)
    assert changed is True
    assert dest.read_bytes() == MODULE
    # ... and the unchanged path checks the pin as well, and accepts it.
    assert _pull(_source(layout_dir), dest, sha256=pin)[0] is False


@pytest.mark.parametrize('pin', _pins(OTHER_MODULE)[:2], ids=['hex', 'prefixed'])
@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_mismatching_pin_fails_and_writes_nothing(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str, pin: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    with pytest.raises(ImageFormatError, match=f'has digest {_sha256(MODULE)}, not the pinned sha256'):
        _pull(_source(layout_dir), dest, sha256=pin)
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_mismatching_pin_keeps_the_old_dest(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    dest.write_bytes(OTHER_MODULE)
    with _unchanged_dir(out_dir), pytest.raises(ImageFormatError, match='pinned sha256'):
        _pull(_source(layout_dir), dest, sha256=_sha256(OTHER_MODULE))
    assert dest.read_bytes() == OTHER_MODULE


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_mismatching_pin_fails_even_when_dest_is_up_to_date(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    with _unchanged_dir(out_dir), pytest.raises(ImageFormatError, match='pinned sha256'):
        _pull(_source(layout_dir), dest, sha256=_sha256(OTHER_MODULE))


def test_mismatching_pin_fails_in_check_mode_for_oci(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    _store(layout_dir, 'oci')
    with pytest.raises(ImageFormatError, match='pinned sha256'):
        _pull(_source(layout_dir), out_dir / 'filter.wasm', sha256=_sha256(OTHER_MODULE), check_mode=True)
    assert os.listdir(out_dir) == []


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize('check_mode', [False, True])
def test_missing_tag_does_not_exist(layout_dir: pathlib.Path, out_dir: pathlib.Path, check_mode: bool) -> None:
    _store(layout_dir, 'oci')
    source = _source(layout_dir, 'no-such-tag')
    with pytest.raises(WasmOciError, match='does not exist') as raised:
        _pull(source, out_dir / 'filter.wasm', check_mode=check_mode)
    assert source.reference in str(raised.value)
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize('check_mode', [False, True])
def test_dest_that_is_a_directory_fails(layout_dir: pathlib.Path, out_dir: pathlib.Path, check_mode: bool) -> None:
    _store(layout_dir, 'oci')
    with pytest.raises(WasmOciError, match='is a directory'):
        _pull(_source(layout_dir), out_dir, check_mode=check_mode)
    assert os.listdir(out_dir) == []


def test_dest_in_a_missing_directory_fails_cleanly(layout_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # Modules report WasmOciError as a task failure; anything else is a traceback.
    _store(layout_dir, 'oci')
    with pytest.raises(WasmOciError, match='does not exist'):
        _pull(_source(layout_dir), tmp_path / 'missing' / 'filter.wasm', check_mode=False)
    assert not (tmp_path / 'missing').exists()


def test_dest_in_a_missing_directory_is_a_change_in_check_mode(layout_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # In a play an earlier task creates the directory; check mode did not run it.
    _store(layout_dir, 'oci')
    changed, image = _pull(_source(layout_dir), tmp_path / 'missing' / 'filter.wasm', check_mode=True)
    assert changed
    assert image['runtime']['root_ids'] == ['add_header']
    assert not (tmp_path / 'missing').exists()


@pytest.mark.parametrize('compat_media_type', ['oci', 'docker'])
def test_compat_layer_without_wasm_fails_without_a_partial_file(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, compat_media_type: str,
) -> None:
    _store(layout_dir, 'compat', compat_media_type, module=b'#!/bin/sh\necho not a wasm module\n')
    dest = out_dir / 'filter.wasm'
    with pytest.raises(ImageFormatError, match='is not a WebAssembly module'):
        _pull(_source(layout_dir), dest)
    assert os.listdir(out_dir) == []


def test_compat_layer_without_wasm_keeps_the_old_dest(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    _store(layout_dir, 'compat', module=b'not wasm')
    dest = out_dir / 'filter.wasm'
    dest.write_bytes(OTHER_MODULE)
    with _unchanged_dir(out_dir), pytest.raises(ImageFormatError, match='is not a WebAssembly module'):
        _pull(_source(layout_dir), dest)


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
@pytest.mark.parametrize('existing', [None, OTHER_MODULE], ids=['no-dest', 'old-dest'])
def test_module_larger_than_max_size_fails_without_a_partial_file(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str, existing: bytes | None,
) -> None:
    _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    if existing is not None:
        dest.write_bytes(existing)
    with _unchanged_dir(out_dir), pytest.raises(ImageFormatError, match=r'max_size \(16 bytes\)'):
        _pull(_source(layout_dir), dest, max_size=16)


def test_oci_module_of_exactly_max_size_is_pulled(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    # (For compat images max_size also bounds the decompressed layer, which is larger than the module.)
    _store(layout_dir, 'oci')
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest, max_size=len(MODULE))
    assert dest.read_bytes() == MODULE


def test_pull_follows_the_tag_to_a_new_module(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    _store(layout_dir, 'oci', module=MODULE)
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    _store(layout_dir, 'oci', module=OTHER_MODULE)

    changed, described = _pull(_source(layout_dir), dest)
    assert changed is True
    assert dest.read_bytes() == OTHER_MODULE
    assert described['wasm']['digest'] == _sha256(OTHER_MODULE)
    record = json.loads(pathlib.Path(record_path(str(dest))).read_text())
    assert record['module'] == _sha256(OTHER_MODULE)


# -- pull policy ----------------------------------------------------------------------


@pytest.mark.parametrize(('policy', 'pinned', 'expected'), [
    (None, 'sha256:' + 'a' * 64, PULL_IF_NOT_PRESENT),
    (None, None, PULL_ALWAYS),
    (PULL_ALWAYS, 'sha256:' + 'a' * 64, PULL_ALWAYS),
    (PULL_IF_NOT_PRESENT, None, PULL_IF_NOT_PRESENT),
], ids=['digest-default', 'tag-default', 'always-wins', 'if-not-present-for-a-tag'])
def test_pull_policy_defaults_as_istio_does(policy: str | None, pinned: str | None, expected: str) -> None:
    assert pull_policy(policy, pinned) == expected
    assert expected in PULL_POLICIES


def _present(dest: pathlib.Path, pinned: str | None, *, reference: str = 'oci:/layout:1.0', policy: str = PULL_IF_NOT_PRESENT,
             platform: str | None = None, sha256: str | None = None, force: bool = False) -> dict[str, t.Any] | None:
    return present_image(str(dest), reference, pinned, policy=policy, platform=platform, sha256=sha256, force=force)


@pytest.mark.parametrize(('variant', 'compat_media_type'), KINDS, ids=KIND_IDS)
def test_a_dest_holding_the_pinned_image_is_present_from_its_record_alone(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, variant: str, compat_media_type: str,
) -> None:
    image = _store(layout_dir, variant, compat_media_type)
    dest = out_dir / 'filter.wasm'
    _changed, pulled = _pull(_source(layout_dir), dest)
    # The layout may go: what present_image needs is dest and its record.
    shutil.rmtree(layout_dir)

    with _unchanged_dir(out_dir):
        present = _present(dest, image.digest, reference='registry.example/filters/x@' + image.digest)
    assert present == dict(pulled, reference='registry.example/filters/x@' + image.digest)


def test_always_and_force_never_take_the_record_for_the_image(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    image = _store(layout_dir, 'oci')
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    assert _present(dest, image.digest, policy=PULL_ALWAYS) is None
    assert _present(dest, image.digest, force=True) is None
    assert _present(dest, image.digest) is not None


@pytest.mark.parametrize('damage', ['other-bytes', 'no-dest', 'no-record', 'other-manifest', 'other-module', 'no-image'])
def test_a_record_or_dest_that_disagrees_means_pulling(
    layout_dir: pathlib.Path, out_dir: pathlib.Path, damage: str,
) -> None:
    image = _store(layout_dir, 'oci')
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    record_file = pathlib.Path(record_path(str(dest)))
    record = json.loads(record_file.read_text())
    if damage == 'other-bytes':
        dest.write_bytes(OTHER_MODULE)
    elif damage == 'no-dest':
        dest.unlink()
    elif damage == 'no-record':
        record_file.unlink()
    else:
        changes = {'other-manifest': {'manifest': 'sha256:' + 'b' * 64}, 'other-module': {'module': _sha256(OTHER_MODULE)},
                   'no-image': {'image': None}}
        record_file.write_text(json.dumps(dict(record, **changes[damage])))
    assert _present(dest, image.digest) is None


def test_a_present_module_is_checked_against_the_sha256_pin(layout_dir: pathlib.Path, out_dir: pathlib.Path) -> None:
    image = _store(layout_dir, 'oci')
    dest = out_dir / 'filter.wasm'
    _pull(_source(layout_dir), dest)
    assert _present(dest, image.digest, sha256=_sha256(MODULE)) is not None
    with pytest.raises(ImageFormatError, match=f'has digest {_sha256(MODULE)}, not the pinned sha256'):
        _present(dest, image.digest, sha256=_sha256(OTHER_MODULE))


def _recorded(dest: pathlib.Path, *, manifest: str, index: str | None, reference: str, platform: str | None) -> None:
    dest.write_bytes(MODULE)
    image = {'reference': reference, 'digest': manifest, 'index_digest': index, 'wasm': {'digest': _sha256(MODULE), 'size': len(MODULE)}}
    record = {'manifest': manifest, 'module': _sha256(MODULE), 'image': image, 'platform': platform}
    pathlib.Path(record_path(str(dest))).write_text(json.dumps(record))


def test_an_index_digest_names_the_recorded_image_only_for_the_same_platform(out_dir: pathlib.Path) -> None:
    dest = out_dir / 'filter.wasm'
    manifest, index = 'sha256:' + 'a' * 64, 'sha256:' + 'b' * 64
    _recorded(dest, manifest=manifest, index=index, reference='r@' + index, platform='wasi/wasm')
    assert _present(dest, index, platform='wasi/wasm') is not None
    assert _present(dest, index) is None
    assert _present(dest, index, platform='linux/amd64') is None
    # A manifest digest names one image whatever the platform.
    assert _present(dest, manifest, platform='linux/amd64') is not None


def test_a_tag_with_if_not_present_keeps_the_image_recorded_for_that_reference(out_dir: pathlib.Path) -> None:
    dest = out_dir / 'filter.wasm'
    _recorded(dest, manifest='sha256:' + 'a' * 64, index=None, reference='registry.example/filters/x:1.0', platform=None)
    assert _present(dest, None, reference='registry.example/filters/x:1.0') is not None
    assert _present(dest, None, reference='registry.example/filters/x:2.0') is None
    assert _present(dest, None, reference='registry.example/filters/x:1.0', platform='wasi/wasm') is None
    assert _present(dest, None, reference='registry.example/filters/x:1.0', policy=PULL_ALWAYS) is None


def test_a_record_without_its_platform_names_no_index_or_tag(out_dir: pathlib.Path) -> None:
    # Written before records kept the platform: which child was chosen is unknown.
    dest = out_dir / 'filter.wasm'
    index = 'sha256:' + 'b' * 64
    _recorded(dest, manifest='sha256:' + 'a' * 64, index=index, reference='r:1.0', platform=None)
    record_file = pathlib.Path(record_path(str(dest)))
    record_file.write_text(json.dumps({key: value for key, value in json.loads(record_file.read_text()).items() if key != 'platform'}))
    assert _present(dest, index) is None
    assert _present(dest, None, reference='r:1.0') is None


def test_a_directory_as_dest_is_never_present(out_dir: pathlib.Path) -> None:
    dest = out_dir / 'filter.wasm'
    _recorded(dest, manifest='sha256:' + 'a' * 64, index=None, reference='r:1.0', platform=None)
    dest.unlink()
    dest.mkdir()
    assert _present(dest, 'sha256:' + 'a' * 64) is None
