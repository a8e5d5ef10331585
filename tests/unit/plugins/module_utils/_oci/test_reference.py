# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference, names_repository, parse_reference, repository_name, validate_tag

DIGEST = 'sha256:' + 'ab' * 32


@pytest.mark.parametrize(
    ('text', 'registry', 'repository', 'tag', 'digest'),
    [
        ('registry.example.com/filters/add-header:1.0', 'registry.example.com', 'filters/add-header', '1.0', None),
        ('registry.example.com/filters/add-header', 'registry.example.com', 'filters/add-header', 'latest', None),
        ('registry.example.com/a/b/c/d:v2', 'registry.example.com', 'a/b/c/d', 'v2', None),
        ('nginx', 'docker.io', 'library/nginx', 'latest', None),
        ('nginx:1.25', 'docker.io', 'library/nginx', '1.25', None),
        ('someuser/filter:1', 'docker.io', 'someuser/filter', '1', None),
        ('docker.io/nginx', 'docker.io', 'library/nginx', 'latest', None),
        ('docker.io/library/nginx', 'docker.io', 'library/nginx', 'latest', None),
        ('index.docker.io/nginx:1', 'docker.io', 'library/nginx', '1', None),
        ('registry-1.docker.io/someuser/filter', 'docker.io', 'someuser/filter', 'latest', None),
        ('localhost/filter', 'localhost', 'filter', 'latest', None),
        ('localhost:5000/filter:dev', 'localhost:5000', 'filter', 'dev', None),
        ('registry.example.com:443/team/filter', 'registry.example.com:443', 'team/filter', 'latest', None),
        ('10.0.0.1:5000/filter', '10.0.0.1:5000', 'filter', 'latest', None),
        ('[::1]:5000/repo', '[::1]:5000', 'repo', 'latest', None),
        ('[::1]/repo:1.0', '[::1]', 'repo', '1.0', None),
        ('[fe80::1%eth0]:5000/repo', '[fe80::1%eth0]:5000', 'repo', 'latest', None),
        ('[2001:db8::1]:65535/a/b:t', '[2001:db8::1]:65535', 'a/b', 't', None),
        (f'registry.example.com/filter@{DIGEST}', 'registry.example.com', 'filter', None, DIGEST),
        (f'registry.example.com/filter:1.0@{DIGEST}', 'registry.example.com', 'filter', '1.0', DIGEST),
        (f'localhost:5000/filter@{DIGEST}', 'localhost:5000', 'filter', None, DIGEST),
        (f'nginx@{DIGEST}', 'docker.io', 'library/nginx', None, DIGEST),
        ('registry.example.com/my_team/web__filter-x.y:Tag_1.0-rc', 'registry.example.com', 'my_team/web__filter-x.y', 'Tag_1.0-rc', None),
        ('  registry.example.com/filter:1  ', 'registry.example.com', 'filter', '1', None),
        ('Registry.Example.COM/filter', 'Registry.Example.COM', 'filter', 'latest', None),
    ],
)
def test_parse_reference_splits_registry_repository_tag_and_digest(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None,
) -> None:
    assert parse_reference(text) == ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


def test_localhost_with_port_but_no_path_is_a_docker_hub_name_with_tag() -> None:
    assert parse_reference('localhost:5000') == ImageReference('docker.io', 'library/localhost', '5000')


def test_single_component_with_a_dot_is_a_docker_hub_repository() -> None:
    assert parse_reference('my.filter') == ImageReference('docker.io', 'library/my.filter', 'latest')


@pytest.mark.parametrize(
    ('reference', 'version'),
    [
        (ImageReference('r.example', 'f', tag='1.0'), '1.0'),
        (ImageReference('r.example', 'f', tag='1.0', digest=DIGEST), DIGEST),
        (ImageReference('r.example', 'f', digest=DIGEST), DIGEST),
        (ImageReference('r.example', 'f'), 'latest'),
    ],
)
def test_version_prefers_digest_then_tag_then_latest(reference: ImageReference, version: str) -> None:
    assert reference.version == version


@pytest.mark.parametrize(
    ('text', 'expected'),
    [
        ('nginx', 'docker.io/library/nginx:latest'),
        ('localhost:5000/filter:dev', 'localhost:5000/filter:dev'),
        (f'r.example/filter@{DIGEST}', f'r.example/filter@{DIGEST}'),
        (f'r.example/filter:1@{DIGEST}', f'r.example/filter:1@{DIGEST}'),
        ('[::1]:5000/repo', '[::1]:5000/repo:latest'),
    ],
)
def test_str_is_the_normalised_reference_and_parses_back_to_itself(text: str, expected: str) -> None:
    reference = parse_reference(text)
    assert str(reference) == expected
    assert parse_reference(str(reference)) == reference


@pytest.mark.parametrize('text', ['', '   ', None])
def test_empty_reference_is_rejected_with_an_example(text: str | None) -> None:
    with pytest.raises(InvalidReferenceError, match='Image reference is empty'):
        parse_reference(text)  # type: ignore[arg-type]


@pytest.mark.parametrize('text', ['https://registry.example.com/filter:1', 'oci://registry.example.com/filter', 'http://localhost:5000/f'])
def test_url_scheme_is_rejected_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidReferenceError, match='must not contain a URL scheme') as caught:
        parse_reference(text)
    assert repr(text) in str(caught.value)
    assert 'plain_http' in str(caught.value)


@pytest.mark.parametrize(
    ('text', 'culprit'),
    [
        ('registry.example.com/Filter', "'Filter'"),
        ('Filter', "'Filter'"),
        ('MyUser/filter', "'MyUser'"),
        ('registry.example.com/team//filter', "''"),
        ('registry.example.com/', "''"),
        ('registry.example.com/-filter', "'-filter'"),
        ('registry.example.com/filter-', "'filter-'"),
        ('registry.example.com/fil___ter', "'fil___ter'"),
        ('registry.example.com/fil..ter', "'fil..ter'"),
        ('registry.example.com/fil ter', "'fil ter'"),
    ],
)
def test_invalid_repository_component_is_named(text: str, culprit: str) -> None:
    with pytest.raises(InvalidReferenceError, match='invalid repository path component') as caught:
        parse_reference(text)
    assert culprit in str(caught.value)
    assert repr(text) in str(caught.value)


def test_repository_longer_than_255_characters_is_rejected() -> None:
    long_repo = '/'.join(['a' * 50] * 6)
    with pytest.raises(InvalidReferenceError, match='longer than 255 characters'):
        parse_reference(f'registry.example.com/{long_repo}')


def test_repository_of_exactly_255_characters_is_accepted() -> None:
    repo = 'a' * 127 + '/' + 'b' * 127
    assert parse_reference(f'registry.example.com/{repo}').repository == repo


@pytest.mark.parametrize(
    ('text', 'culprit'),
    [
        ('registry.example.com/filter:', "''"),
        ('registry.example.com/filter:.hidden', "'.hidden'"),
        ('registry.example.com/filter:-dash', "'-dash'"),
        ('registry.example.com/filter:has+plus', "'has+plus'"),
        ('registry.example.com/filter:' + 'x' * 129, "'" + 'x' * 129 + "'"),
    ],
)
def test_invalid_tag_is_named(text: str, culprit: str) -> None:
    with pytest.raises(InvalidReferenceError, match='is not a valid tag') as caught:
        parse_reference(text)
    assert culprit in str(caught.value)
    assert repr(text) in str(caught.value)


def test_tag_of_128_characters_is_accepted() -> None:
    assert parse_reference('registry.example.com/filter:' + 'x' * 128).tag == 'x' * 128


@pytest.mark.parametrize(
    'digest',
    [
        'sha256:' + 'ab' * 31,
        'sha256:' + 'AB' * 32,
        'sha512:' + 'ab' * 64,
        'ab' * 32,
        '',
        'sha256:' + 'zz' * 32,
    ],
)
def test_invalid_digest_is_named(digest: str) -> None:
    text = f'registry.example.com/filter@{digest}'
    with pytest.raises(InvalidReferenceError, match='invalid digest') as caught:
        parse_reference(text)
    assert repr(digest) in str(caught.value)
    assert 'sha256:<64 lowercase hex digits>' in str(caught.value)


@pytest.mark.parametrize(
    ('text', 'port'),
    [
        ('localhost:0/filter', "'0'"),
        ('localhost:65536/filter', "'65536'"),
        ('registry.example.com:http/filter', "'http'"),
        ('registry.example.com:/filter', "''"),
        ('[::1]:99999/filter', "'99999'"),
        ('[::1]:/filter', "''"),
    ],
)
def test_invalid_port_is_named(text: str, port: str) -> None:
    with pytest.raises(InvalidReferenceError, match='invalid registry port') as caught:
        parse_reference(text)
    assert port in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ('text', 'host'),
    [
        ('my_registry.example.com/filter', "'my_registry.example.com'"),
        ('-registry.example.com/filter', "'-registry.example.com'"),
        ('registry..example.com/filter', "'registry..example.com'"),
        ('[zz::1]:5000/filter', "'[zz::1]'"),
        ('[]:5000/filter', "'[]'"),
    ],
)
def test_invalid_registry_host_is_named(text: str, host: str) -> None:
    with pytest.raises(InvalidReferenceError, match='invalid registry host') as caught:
        parse_reference(text)
    assert host in str(caught.value)


def test_unclosed_ipv6_bracket_is_rejected() -> None:
    with pytest.raises(InvalidReferenceError, match="'\\[::1:5000/filter'"):
        parse_reference('[::1:5000/filter')


def test_validate_tag_returns_a_good_tag_and_names_the_context_of_a_bad_one() -> None:
    assert validate_tag('1.0.0') == '1.0.0'
    with pytest.raises(InvalidReferenceError, match=r"^tag option: '1\.0/x' is not a valid tag"):
        validate_tag('1.0/x', 'tag option')
    with pytest.raises(InvalidReferenceError, match='is not a valid tag'):
        validate_tag(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    'text',
    [
        'registry.example.com/repo\n/x:1',
        'registry.example.com\n/repo',
        f'registry.example.com/repo:1.0\n@{DIGEST}',
        f'registry.example.com/repo@{DIGEST}\n:1',
    ],
    ids=['newline_after_path_component', 'newline_after_host', 'newline_after_tag', 'newline_after_digest'],
)
def test_embedded_newline_is_rejected(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(text)


def test_validate_tag_rejects_a_trailing_newline() -> None:
    with pytest.raises(InvalidReferenceError, match='is not a valid tag'):
        validate_tag('1.0\n')


@pytest.mark.parametrize('host', ['[.]', '[1.2.3.4]', '[:]', '[1:2:3:4:5:6:7:8:9]', '[::1::2]'])
def test_bracketed_host_that_is_not_an_ipv6_address_is_rejected(host: str) -> None:
    with pytest.raises(InvalidReferenceError, match='invalid registry host') as caught:
        parse_reference(f'{host}:5000/repo')
    assert repr(host) in str(caught.value)


@pytest.mark.parametrize('host', ['[::]', '[::ffff:1.2.3.4]', '[2001:db8:0:0:0:0:0:1]'])
def test_other_ipv6_spellings_are_accepted(host: str) -> None:
    assert parse_reference(f'{host}:5000/repo').registry == f'{host}:5000'


def test_garbage_after_an_ipv6_literal_is_named() -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference('[::1]x/repo')
    assert "'x'" in str(caught.value)


@pytest.mark.parametrize(('reference', 'named'), [
    ('registry.example.com:5000/filters/auth:1.0', 'registry.example.com:5000/filters/auth'),
    ('envoy-filter@sha256:' + '0' * 64, 'index.docker.io/library/envoy-filter'),
    ('docker.io/team/filter', 'index.docker.io/team/filter'),
])
def test_repository_name_is_what_cosign_signs(reference: str, named: str) -> None:
    assert repository_name(parse_reference(reference)) == named


@pytest.mark.parametrize(('text', 'expected'), [
    ('index.docker.io/library/envoy-filter', True),
    ('registry-1.docker.io/library/envoy-filter:2.0', True),
    ('envoy-filter', True),
    ('docker.io/other/envoy-filter', False),
    ('ghcr.io/library/envoy-filter', False),
    ('not a reference', False),
])
def test_names_repository_compares_docker_hub_however_it_is_spelled(text: str, expected: bool) -> None:
    assert names_repository(text, parse_reference('envoy-filter:1.0')) is expected
