# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The destination rules as pure functions: addresses are fed in, nothing is resolved or connected to."""

from __future__ import annotations

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._registry.destinations import (
    Destinations,
    Origin,
    RefusedDestination,
    is_sibling_host,
    origin_of,
    refused_address,
    refused_host,
)

HTTPS_REGISTRY = Origin('https', 'registry.example.com', 443)


def no_resolver(host: str, port: int) -> list[str]:
    raise AssertionError(f'{host} must not be resolved')


def resolver(*addresses: str):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize('address', [
    '169.254.169.254', '169.254.0.1', '169.254.255.255', '169.254.170.2', 'fe80::1', 'fe80::1%eth0', 'febf::1',
    'fd00:ec2::254', '100.100.100.200', '192.0.0.192', '::ffff:169.254.169.254', '::ffff:100.100.100.200',
    '64:ff9b::a9fe:a9fe',
])
def test_link_local_and_metadata_addresses_are_refused(address: str) -> None:
    assert refused_address(address)


@pytest.mark.parametrize('address', [
    '127.0.0.1', '127.0.0.2', '::1', '10.0.0.1', '192.168.1.10', '172.16.0.1', '8.8.8.8', '2001:db8::1', 'fd00:ec2::253',
    '100.100.100.201', '169.253.255.255', '169.255.0.0', 'fec0::1', 'not an address',
])
def test_other_addresses_are_allowed(address: str) -> None:
    assert refused_address(address) is None


def test_the_reason_names_the_kind_of_address() -> None:
    assert refused_address('169.254.169.254') == '169.254.169.254 is a cloud metadata address'
    assert refused_address('169.254.1.1') == '169.254.1.1 is a link-local address'
    assert refused_address('::ffff:169.254.1.1') == '169.254.1.1 is a link-local address'


@pytest.mark.parametrize('host', ['metadata', 'metadata.google.internal', 'METADATA.Google.Internal.', 'metadata.goog',
                                  'instance-data', 'instance-data.ec2.internal'])
def test_metadata_names_are_refused_without_resolving(host: str) -> None:
    assert 'cloud metadata service' in refused_host(host, 443, no_resolver)


def test_address_literals_are_not_resolved() -> None:
    assert refused_host('169.254.169.254', 80, no_resolver)
    assert refused_host('127.0.0.1', 80, no_resolver) is None


def test_a_name_resolving_to_a_metadata_address_is_refused() -> None:
    reason = refused_host('innocent.example.com', 443, resolver('203.0.113.7', '169.254.169.254'))
    assert reason == 'innocent.example.com resolves to 169.254.169.254, which is a cloud metadata address'
    assert refused_host('innocent.example.com', 443, resolver('203.0.113.7')) is None
    assert refused_host('unresolvable.example.com', 443, resolver()) is None


@pytest.mark.parametrize(('url', 'origin'), [
    ('https://Registry.Example.com/v2/', Origin('https', 'registry.example.com', 443)),
    ('http://registry.example.com:5000/x?y', Origin('http', 'registry.example.com', 5000)),
    ('https://[::1]:8443/token', Origin('https', '::1', 8443)),
    ('https://registry.example.com./v2/', Origin('https', 'registry.example.com', 443)),
])
def test_origin_of(url: str, origin: Origin) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize('url', ['ftp://registry.example.com/x', 'file:///etc/passwd', '/relative', 'https:///nohost',
                                 'https://registry.example.com:99999/'])
def test_origin_of_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(RefusedDestination):
        origin_of(url)


def test_origins_print_without_default_ports() -> None:
    assert str(Origin('https', 'cdn.example.com', 443)) == 'https://cdn.example.com'
    assert str(Origin('http', '::1', 8080)) == 'http://[::1]:8080'


def test_credentials_go_only_to_the_registry_origin() -> None:
    destinations = Destinations(HTTPS_REGISTRY, resolver('203.0.113.7'))
    assert destinations.carries_credentials('https://registry.example.com/v2/x/blobs/uploads/1?_state=s')
    assert destinations.carries_credentials('https://registry.example.com:443/v2/')
    assert not destinations.carries_credentials('https://registry.example.com:8443/v2/')
    assert not destinations.carries_credentials('https://cdn.example.com/blob?X-Amz-Signature=s')
    assert not destinations.carries_credentials('https://uploads.example.net/session')


def test_a_downgrade_to_http_is_refused_and_named_without_its_query() -> None:
    destinations = Destinations(HTTPS_REGISTRY, no_resolver)
    with pytest.raises(RefusedDestination) as caught:
        destinations.check('http://uploads.example.net:8080/session?_state=secret')
    assert str(caught.value) == 'http://uploads.example.net:8080, which is plain HTTP while the registry uses HTTPS'
    with pytest.raises(RefusedDestination):
        destinations.check('http://registry.example.com/v2/')


def test_an_http_registry_may_send_the_client_anywhere_but_to_metadata() -> None:
    destinations = Destinations(Origin('http', '127.0.0.1', 5000), no_resolver)
    assert destinations.carries_credentials('http://127.0.0.1:5000/v2/')
    assert not destinations.carries_credentials('http://127.0.0.2:5000/upload')
    assert not destinations.carries_credentials('https://127.0.0.2:5000/upload')
    with pytest.raises(RefusedDestination, match=r'169\.254\.169\.254 is a cloud metadata address'):
        destinations.check('http://169.254.169.254/latest/meta-data/')


def test_foreign_hosts_are_checked_against_their_resolved_addresses() -> None:
    destinations = Destinations(HTTPS_REGISTRY, resolver('fe80::1'))
    with pytest.raises(RefusedDestination, match=r'cdn\.example\.com resolves to fe80::1, which is a link-local address'):
        destinations.check('https://cdn.example.com/blob')
    # The registry's own host is the user's choice, not the registry's: it is not second-guessed.
    assert destinations.carries_credentials('https://registry.example.com/v2/')


@pytest.mark.parametrize(('registry', 'host', 'sibling'), [
    ('registry-1.docker.io', 'auth.docker.io', True),
    ('registry.gitlab.com', 'gitlab.com', True),
    ('registry.example.co.uk', 'auth.example.co.uk', True),
    ('ghcr.io', 'ghcr.io', True),
    ('ghcr.io', 'evil.io', False),
    ('registry.example.com', 'example.org', False),
    ('registry.example.com', 'notexample.com', False),
    ('127.0.0.1', '127.0.0.1', True),
    ('127.0.0.1', '127.0.0.2', False),
    ('localhost', 'evil.localhost', False),
])
def test_sibling_hosts(registry: str, host: str, sibling: bool) -> None:
    assert is_sibling_host(registry, host) is sibling


def test_realms() -> None:
    destinations = Destinations(Origin('https', 'registry-1.docker.io', 443), resolver('203.0.113.7'))
    assert destinations.realm_carries_credentials('https://auth.docker.io/token')
    assert destinations.realm_carries_credentials('https://registry-1.docker.io:5001/auth')
    assert not destinations.realm_carries_credentials('https://tokens.example.net/token')
    with pytest.raises(RefusedDestination, match='plain HTTP'):
        destinations.realm_carries_credentials('http://auth.docker.io/token')
    with pytest.raises(RefusedDestination, match='cloud metadata service'):
        destinations.realm_carries_credentials('https://metadata.google.internal/computeMetadata/v1/token')
