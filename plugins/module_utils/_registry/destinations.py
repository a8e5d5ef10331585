# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Where a registry client may send a request, and which requests may carry the registry's credentials.

A registry names other URLs: upload Locations, redirects of blob downloads (often to a CDN
with a presigned URL), and the realm of its token service. The rules:

* Credentials (Basic or a bearer token) go only to the registry's own origin (scheme, host
  and port); any other origin gets the request without them (a presigned URL carries its own).
* Nothing goes from an https registry to an http URL: that would expose the request, and
  often a signature or the password, on the way.
* A token realm is where the registry, over its own connection, asks the password to be sent.
  It gets the credentials when it is on the registry's host (any port) or on a sibling host
  under the registry host's parent domain (Docker Hub's auth.docker.io for registry-1.docker.io,
  gitlab.com for registry.gitlab.com); a realm anywhere else is asked for an anonymous token.
* No request goes to a link-local or cloud metadata address that the registry names: that
  would let a registry make the host query its instance metadata (and its cloud credentials).
  Host names are resolved first, so a name pointing at such an address is refused too.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import typing as t
import urllib.parse

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError

_DEFAULT_PORTS = {'http': 80, 'https': 443}

# Instance metadata services that are not link-local: AWS over IPv6, Alibaba Cloud, Oracle Cloud Classic.
# 169.254.169.254 (AWS, Azure, GCP, OpenStack, ...) is link-local and refused with the rest of its range.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(address) for address in (
    '169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '192.0.0.192',
))
METADATA_NAMES = frozenset({
    'metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal',
})
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64), so 64:ff9b::a9fe:a9fe is 169.254.169.254.
_NAT64 = ipaddress.ip_network('64:ff9b::/96')

Resolver = t.Callable[[str, int], list[str]]


class RefusedDestination(RegistryError):
    """A URL the registry named that the client will not contact; the message says why, without the URL's query."""


@dataclasses.dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower case; an IPv6 address without brackets
    port: int

    def __str__(self) -> str:
        host = f'[{self.host}]' if ':' in self.host else self.host
        port = '' if _DEFAULT_PORTS[self.scheme] == self.port else f':{self.port}'
        return f'{self.scheme}://{host}{port}'


def origin_of(url: str) -> Origin:
    """The origin of an http or https URL; RefusedDestination for anything else."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedDestination('a URL that cannot be parsed') from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise RefusedDestination(f'a URL with scheme {scheme or "(none)"!r}, not http or https' if scheme not in _DEFAULT_PORTS
                                 else 'a URL without a host')
    return Origin(scheme, parts.hostname.lower().rstrip('.'), port or _DEFAULT_PORTS[scheme])


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split('%', 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refused_address(address: str) -> str | None:
    """Why no request may go to ``address`` (an IPv4 or IPv6 address), or None when it may."""
    ip = _ip(address)
    if ip is None:
        return None
    if ip in METADATA_ADDRESSES:
        return f'{ip} is a cloud metadata address'
    if ip.is_link_local:
        return f'{ip} is a link-local address'
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses a connection to ``host`` would try; empty when the name does not resolve."""
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        # The connection fails the same way later, with requests' own message.
        return []


def refused_host(host: str, port: int, resolve: Resolver) -> str | None:
    """Why no request may go to ``host``: a metadata name, or a name or address that is link-local or metadata."""
    host = host.lower().rstrip('.')
    if host in METADATA_NAMES:
        return f'{host} is a cloud metadata service'
    if _ip(host) is not None:
        return refused_address(host)
    for address in resolve(host, port):
        reason = refused_address(address)
        if reason:
            return f'{host} resolves to {address}, which {reason.split(" ", 1)[1]}'
    return None


def is_sibling_host(registry_host: str, host: str) -> bool:
    """Whether ``host`` is the registry host, or under the registry host's parent domain (which has a dot itself)."""
    if host == registry_host:
        return True
    if _ip(registry_host) is not None or _ip(host) is not None:
        return False
    parent = registry_host.partition('.')[2]
    return '.' in parent and (host == parent or host.endswith('.' + parent))


class Destinations:
    """The destination rules for one registry (see the module docstring)."""

    def __init__(self, registry: Origin, resolve: Resolver = system_resolver) -> None:
        self.registry = registry
        self._resolve = resolve

    def check(self, url: str) -> Origin:
        """The origin of ``url`` if a request may go there at all; RefusedDestination otherwise."""
        origin = origin_of(url)
        if origin == self.registry:
            return origin
        if self.registry.scheme == 'https' and origin.scheme != 'https':
            raise RefusedDestination(f'{origin}, which is plain HTTP while the registry uses HTTPS')
        if origin.host != self.registry.host:
            reason = refused_host(origin.host, origin.port, self._resolve)
            if reason:
                raise RefusedDestination(f'{origin}, and {reason}')
        return origin

    def carries_credentials(self, url: str) -> bool:
        """Whether a request to ``url`` may carry the registry's credentials; RefusedDestination when it may not go."""
        return self.check(url) == self.registry

    def realm_carries_credentials(self, realm: str) -> bool:
        """Whether the token realm may receive the credentials; RefusedDestination when no request may go there."""
        origin = self.check(realm)
        return is_sibling_host(self.registry.host, origin.host)
