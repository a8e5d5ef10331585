# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Pull the module of a Wasm image into a file: atomically, verified, and only when it changed.

A small record beside the file (``.<name>.wasm-oci.json``) keeps the manifest digest
and the image description, so an image already pulled is recognised from its manifest
alone (one request, no blob: not the config, nor a compat layer, whose module digest is
not in its manifest), and so an image pinned by digest whose module the file still holds
needs no registry at all (the pull policy ``if_not_present``). The record is trusted only
as far as the file re-hashes to the module digest it names.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.atomic_file import DEFAULT_FILE_MODE, atomic_writer
from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError, WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import ResolvedImage, describe, module_layer, resolve
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import canonical_json, file_sha256_digest
from ansible_collections.wasm.oci.plugins.module_utils._oci.documents import METADATA_LIMIT, ContentSource, load_json

PULL_ALWAYS = 'always'
PULL_IF_NOT_PRESENT = 'if_not_present'
PULL_POLICIES = (PULL_ALWAYS, PULL_IF_NOT_PRESENT)


def record_path(dest: str) -> str:
    directory, name = os.path.split(dest)
    return os.path.join(directory, f'.{name}.wasm-oci.json')


def _file_digest(path: str) -> str | None:
    try:
        return file_sha256_digest(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WasmOciError(f'Cannot read dest {path}: {exc.strerror}') from None


def _read_record(dest: str) -> dict[str, t.Any]:
    try:
        with open(record_path(dest), 'rb') as stream:
            record = load_json(stream.read(METADATA_LIMIT + 1), f'Record of {dest}')
    except (OSError, WasmOciError):
        return {}
    return record if isinstance(record, dict) else {}


def pull_policy(policy: str | None, pinned_digest: str | None) -> str:
    """The policy asked for, else Istio's default: a digest names one image for ever, a tag may move to another."""
    if policy is None:
        return PULL_IF_NOT_PRESENT if pinned_digest else PULL_ALWAYS
    return policy


def present_image(
    dest: str, reference: str, pinned_digest: str | None, *, policy: str, platform: str | None, sha256: str | None, force: bool,
) -> dict[str, t.Any] | None:
    """With ``if_not_present``, the image ``dest`` holds when its record names the image asked for and ``dest`` re-hashes
    to the recorded module; else None, and the source must be asked. Reads only ``dest`` and its record.

    A manifest digest names the image outright; an index digest or a tag only together with the same ``platform``.
    """
    if force or policy != PULL_IF_NOT_PRESENT:
        return None
    record = _read_record(dest)
    image, module_digest = record.get('image'), record.get('module')
    if not isinstance(image, dict) or not isinstance(module_digest, str):
        return None
    if not (pinned_digest and record.get('manifest') == pinned_digest):
        named = image.get('index_digest') == pinned_digest if pinned_digest else image.get('reference') == reference
        if not named or 'platform' not in record or record['platform'] != platform:
            return None
    if os.path.isdir(dest) or _file_digest(dest) != module_digest:
        return None
    _check_pin(module_digest, sha256, reference)
    return dict(image, reference=reference)


def _recorded_image(record: dict[str, t.Any], resolved: ResolvedImage, current: str, reference: str) -> dict[str, t.Any] | None:
    """The image ``record`` describes, if it proves that a dest hashing to ``current`` holds the module of ``resolved``;
    else None, and the image must be read. Costs no request: the manifest is at hand.

    Proof: the record names this very manifest (a digest, so its config and layers too), reached the same way (the same
    index, or none), and the module digest dest hashes to, both at its top and in its image; for a variant whose
    manifest names the module layer, that layer's digest is dest's too. Anything else, a damaged record included, is
    no proof.
    """
    image = record.get('image')
    if not isinstance(image, dict) or record.get('manifest') != resolved.digest or record.get('module') != current:
        return None
    wasm = image.get('wasm')
    if image.get('digest') != resolved.digest or image.get('index_digest') != resolved.index_digest:
        return None
    if not isinstance(wasm, dict) or wasm.get('digest') != current:
        return None
    if resolved.variant != mt.VARIANT_COMPAT and module_layer(resolved, f'Image {reference}')['digest'] != current:
        return None
    return image


def _write_record(dest: str, manifest_digest: str, module_digest: str | None, image: dict[str, t.Any], platform: str | None) -> None:
    record = {'manifest': manifest_digest, 'module': module_digest, 'image': image, 'platform': platform}
    if _read_record(dest) != record:
        replace_record(record_path(dest), canonical_json(record))


def replace_record(path: str, data: bytes) -> None:
    """Replace the record at ``path`` atomically (a reader sees the old one or the new one), but not durably: no fsync.

    The record is a cache that is always checked against dest (its module digest is what dest must hash to), so the
    old record, or none, after a crash only means a pull; the fsyncs would cost a pull of a small module a quarter of
    its time.
    """
    directory, name = os.path.split(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = DEFAULT_FILE_MODE
    handle, temporary = tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _check_pin(module_digest: str | None, sha256: str | None, reference: str) -> None:
    if sha256 and module_digest and module_digest != f'sha256:{sha256.lower().removeprefix("sha256:")}':
        raise ImageFormatError(
            f'The module of {reference} has digest {module_digest}, not the pinned sha256 {sha256}; '
            'the image changed, or the pin is out of date'
        )


def existing_image(source: ContentSource, platform: str | None) -> ResolvedImage:
    """The image manifest ``source`` names, which must exist."""
    resolved = resolve(source, platform)
    if resolved is None:
        raise WasmOciError(f'{source.reference} does not exist: no such tag or digest')
    return resolved


def pull_module(
    source: ContentSource, resolved: ResolvedImage, dest: str, *, platform: str | None, max_size: int, sha256: str | None,
    force: bool, check_mode: bool,
) -> tuple[bool, dict[str, t.Any]]:
    """Make ``dest`` hold the module of the image ``resolved`` (from ``source``); returns ``(changed, image)``."""
    if os.path.isdir(dest):
        raise WasmOciError(f'dest {dest} is a directory; give the path of the module file to write')
    if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        if check_mode:
            # A play creates the directory in an earlier task, which check mode did not run.
            return True, describe(source, resolved, max_size).as_dict()
        raise WasmOciError(f'The directory of dest {dest} does not exist; create it first (ansible.builtin.file state=directory)')

    current = None if force else _file_digest(dest)
    if current is not None:
        image = _recorded_image(_read_record(dest), resolved, current, source.reference)
        if image is None and resolved.variant != mt.VARIANT_COMPAT and module_layer(resolved, f'Image {source.reference}')['digest'] == current:
            # No record of this image: the manifest names the module's digest, and the config blob the rest.
            image = describe(source, resolved, max_size).as_dict()
        if image is not None:
            _check_pin(current, sha256, source.reference)
            image = dict(image, reference=source.reference)
            if not check_mode:
                # Kept up to date so that a later run with if_not_present can do without the source; dest is right
                # either way, so a directory this user may not write does not fail the pull.
                with contextlib.suppress(OSError):
                    _write_record(dest, resolved.digest, current, image, platform)
            return False, image

    if check_mode:
        # describe() reads and verifies a compat layer, so check mode fails where the pull would.
        image = describe(source, resolved, max_size).as_dict()
        _check_pin(image['wasm']['digest'], sha256, source.reference)
        return True, image

    try:
        with atomic_writer(dest) as target:
            description = describe(source, resolved, max_size, target=target)
            _check_pin(description.wasm_digest, sha256, source.reference)
        image = description.as_dict()
        _write_record(dest, resolved.digest, description.wasm_digest, image, platform)
    except OSError as exc:
        raise WasmOciError(f'Cannot write dest {dest}: {exc}') from None
    # Without a record, a compat dest can only be compared after the download.
    return description.wasm_digest != current, image
