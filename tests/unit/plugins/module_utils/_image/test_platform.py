# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import re
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import ImageFormatError
from ansible_collections.wasm.oci.plugins.module_utils._image import platform as image_platform
from ansible_collections.wasm.oci.plugins.module_utils._image.platform import choose_platform_child, host_platform, is_index, platform_name
from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import sha256_digest

AMD64 = {'os': 'linux', 'architecture': 'amd64'}
ARM64 = {'os': 'linux', 'architecture': 'arm64'}
WASI = {'os': 'wasi', 'architecture': 'wasm'}


def _child(platform: dict[str, str] | None, name: str, **extra: t.Any) -> dict[str, t.Any]:
    entry: dict[str, t.Any] = {'mediaType': mt.OCI_MANIFEST, 'digest': sha256_digest(name.encode()), 'size': len(name), **extra}
    if platform is not None:
        entry['platform'] = platform
    return entry


def _attestation(name: str) -> dict[str, t.Any]:
    return _child({'os': 'unknown', 'architecture': 'unknown'}, name, annotations={
        'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': sha256_digest(b'x'),
    })


def _choose(children: list[dict[str, t.Any]], platform: str | None = None, machine: str = 'x86_64') -> dict[str, t.Any]:
    return choose_platform_child({'manifests': children}, platform, 'Index of x', host_platform(machine))


@pytest.mark.parametrize(('machine', 'expected'), [
    ('x86_64', AMD64),
    ('AMD64', AMD64),
    ('aarch64', ARM64),
    ('arm64', ARM64),
    ('armv7l', {'os': 'linux', 'architecture': 'arm', 'variant': 'v7'}),
    ('armv6l', {'os': 'linux', 'architecture': 'arm', 'variant': 'v6'}),
    ('i686', {'os': 'linux', 'architecture': '386'}),
    ('ppc64le', {'os': 'linux', 'architecture': 'ppc64le'}),
    ('s390x', {'os': 'linux', 'architecture': 's390x'}),
    ('riscv64', {'os': 'linux', 'architecture': 'riscv64'}),
    ('sparc64', {'os': 'linux', 'architecture': 'sparc64'}),
])
def test_host_platform_names_the_machine_as_go_does(machine: str, expected: dict[str, str]) -> None:
    assert host_platform(machine) == expected


def test_host_platform_defaults_to_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_platform.stdlib_platform, 'machine', lambda: 'aarch64')
    assert host_platform() == ARM64
    children = [_child(AMD64, 'amd'), _child(ARM64, 'arm')]
    assert choose_platform_child({'manifests': children}, None, 'Index of x') is children[1]


def test_wasi_child_comes_before_the_machine_platform() -> None:
    children = [_child(AMD64, 'amd'), _child(WASI, 'wasi')]
    assert _choose(children) is children[1]


@pytest.mark.parametrize(('machine', 'index'), [('x86_64', 0), ('aarch64', 1)])
def test_machine_platform_is_chosen_without_a_wasi_child(machine: str, index: int) -> None:
    children = [_child(AMD64, 'amd'), _child(ARM64, 'arm'), _attestation('att-amd'), _attestation('att-arm')]
    assert _choose(children, machine=machine) is children[index]


def test_arm_machine_takes_its_variant_or_a_child_without_one() -> None:
    v6 = _child({'os': 'linux', 'architecture': 'arm', 'variant': 'v6'}, 'v6')
    v7 = _child({'os': 'linux', 'architecture': 'arm', 'variant': 'v7'}, 'v7')
    plain = _child({'os': 'linux', 'architecture': 'arm'}, 'plain')
    assert _choose([v6, v7, _child(AMD64, 'amd')], machine='armv7l') is v7
    assert _choose([v6, plain, _child(AMD64, 'amd')], machine='armv7l') is plain


def test_arm64_machine_takes_a_v8_child() -> None:
    v8 = _child({'os': 'linux', 'architecture': 'arm64', 'variant': 'v8'}, 'v8')
    assert _choose([_child(AMD64, 'amd'), v8], machine='aarch64') is v8


def test_other_os_of_the_same_architecture_is_not_the_machine_platform() -> None:
    children = [_child({'os': 'windows', 'architecture': 'amd64'}, 'win'), _child(ARM64, 'arm')]
    with pytest.raises(ImageFormatError, match=r'none for the platform of this machine \(linux/amd64\)'):
        _choose(children)


def test_the_only_image_is_chosen_on_any_machine() -> None:
    children = [_child(ARM64, 'arm'), _attestation('att')]
    assert _choose(children, machine='s390x') is children[0]
    assert _choose([_child(None, 'bare')], machine='s390x')['digest'] == sha256_digest(b'bare')


def test_no_choice_lists_what_is_offered_and_says_to_set_platform() -> None:
    children = [_child(ARM64, 'arm'), _child({'os': 'linux', 'architecture': 'arm', 'variant': 'v7'}, 'v7'), _attestation('att')]
    expected = ('Index of x has no wasi/wasm image, none for the platform of this machine (linux/amd64), and more than one image; '
                'it offers: linux/arm64, linux/arm/v7. Set platform to one of them')
    with pytest.raises(ImageFormatError, match=f'^{re.escape(expected)}$'):
        _choose(children)


def test_explicit_platform_wins_over_wasi_and_the_machine() -> None:
    children = [_child(WASI, 'wasi'), _child(AMD64, 'amd'), _child(ARM64, 'arm')]
    assert _choose(children, 'linux/arm64') is children[2]


def test_attestation_is_never_chosen_even_when_named() -> None:
    with pytest.raises(ImageFormatError, match=r'^Index of x has no image for platform unknown/unknown; it offers: linux/amd64\. Set'):
        _choose([_child(AMD64, 'amd'), _attestation('att')], 'unknown/unknown')


def test_index_of_only_attestations_offers_none() -> None:
    with pytest.raises(ImageFormatError, match=r'it offers: none\. Set platform'):
        _choose([_attestation('a'), _attestation('b')])


@pytest.mark.parametrize(('document', 'media_type', 'expected'), [
    ({'manifests': []}, mt.OCI_INDEX, True),
    ({'manifests': []}, mt.DOCKER_MANIFEST_LIST, True),
    ({'manifests': []}, None, True),
    ({'manifests': [], 'layers': []}, None, False),
    ({'layers': []}, mt.OCI_MANIFEST, False),
    ({'manifests': []}, mt.OCI_MANIFEST, False),
])
def test_is_index(document: dict[str, t.Any], media_type: str | None, expected: bool) -> None:
    assert is_index(document, media_type) is expected


@pytest.mark.parametrize(('platform', 'name'), [(None, 'unknown'), ({}, 'unknown'), (AMD64, 'linux/amd64'), ({'os': 'linux'}, 'linux/?')])
def test_platform_name(platform: dict[str, str] | None, name: str) -> None:
    assert platform_name(platform) == name
