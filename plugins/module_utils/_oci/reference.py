# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Image references: ``[registry[:port]/]repository[:tag][@sha256:<hex>]``.

Parsed the way Docker and the OCI distribution tools read them: the first path
component is a registry only if it looks like a host (has a dot or a port, is
``localhost`` or an IPv6 literal in brackets); otherwise the reference is on
Docker Hub, where single-name repositories live under ``library/``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError
from ansible_collections.wasm.oci.plugins.module_utils._oci.digests import SHA256_DIGEST

DOCKER_HUB = 'docker.io'
DOCKER_HUB_ALIASES = frozenset({'docker.io', 'index.docker.io', 'registry-1.docker.io'})
DEFAULT_TAG = 'latest'

_PATH_COMPONENT = re.compile(r'[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*')
_TAG = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}')
_HOSTNAME = re.compile(r'(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*')
_MAX_NAME_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def version(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """Docker Hub serves its API from another host than the one in references."""
        return 'registry-1.docker.io' if self.registry == DOCKER_HUB else self.registry

    def __str__(self) -> str:
        text = f'{self.registry}/{self.repository}'
        if self.tag:
            text += f':{self.tag}'
        if self.digest:
            text += f'@{self.digest}'
        return text


def validate_tag(tag: str, context: str = 'tag') -> str:
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise InvalidReferenceError(
            f'{context}: {tag!r} is not a valid tag; tags are up to 128 letters, digits, '
            "'_', '.' and '-', not starting with '.' or '-'"
        )
    return tag


def _looks_like_registry(component: str) -> bool:
    return '.' in component or ':' in component or component == 'localhost' or component.startswith('[')


def _valid_ipv6_literal(host: str) -> bool:
    if not (host.startswith('[') and host.endswith(']')):
        return False
    try:
        ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        return False
    return True


def _validate_registry(registry: str, reference: str) -> None:
    if registry.startswith('['):
        end = registry.find(']')
        host, rest = registry[:end + 1], registry[end + 1:]
        port = rest[1:] if rest.startswith(':') else (rest or None)
        host_ok = end > 0 and _valid_ipv6_literal(host)
    else:
        host, port = registry.rsplit(':', 1) if ':' in registry else (registry, None)
        host_ok = bool(_HOSTNAME.fullmatch(host))
    if not host_ok:
        raise InvalidReferenceError(f'Image reference {reference!r} has an invalid registry host {host!r}')
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidReferenceError(f'Image reference {reference!r} has an invalid registry port {port!r}')


def parse_reference(reference: str, default_tag: str = DEFAULT_TAG) -> ImageReference:
    """Parse and validate ``reference``, applying the Docker Hub defaults and ``default_tag``."""
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidReferenceError('Image reference is empty; give one such as registry.example.com/filters/add-header:1.0')
    text = reference.strip()
    if '://' in text:
        raise InvalidReferenceError(
            f'Image reference {reference!r} must not contain a URL scheme; write registry/repository:tag '
            '(use plain_http for a registry without TLS)'
        )

    digest = None
    if '@' in text:
        text, digest = text.split('@', 1)
        if not SHA256_DIGEST.fullmatch(digest):
            raise InvalidReferenceError(
                f'Image reference {reference!r} has an invalid digest {digest!r}; expected sha256:<64 lowercase hex digits>'
            )

    tag = None
    last_slash = text.rfind('/')
    colon = text.rfind(':')
    if colon > last_slash:
        text, tag = text[:colon], validate_tag(text[colon + 1:], f'Image reference {reference!r}')

    components = text.split('/')
    if len(components) > 1 and _looks_like_registry(components[0]):
        registry = components.pop(0)
        _validate_registry(registry, reference)
        if registry in DOCKER_HUB_ALIASES:
            registry = DOCKER_HUB
    else:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and len(components) == 1:
        components.insert(0, 'library')

    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            raise InvalidReferenceError(
                f'Image reference {reference!r} has an invalid repository path component {component!r}; use lowercase '
                "letters and digits separated by '.', '_', '__' or '-'"
            )
    repository = '/'.join(components)
    if len(repository) > _MAX_NAME_LENGTH:
        raise InvalidReferenceError(f'Image reference {reference!r} has a repository name longer than {_MAX_NAME_LENGTH} characters')

    if tag is None and digest is None:
        tag = default_tag
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


# cosign (through go-containerregistry) names Docker Hub's repositories under this host in what it signs.
_COSIGN_DOCKER_HUB = 'index.docker.io'


def repository_name(reference: ImageReference) -> str:
    """``registry/repository`` as cosign writes it in a signature's ``docker-reference``."""
    registry = _COSIGN_DOCKER_HUB if reference.registry == DOCKER_HUB else reference.registry
    return f'{registry}/{reference.repository}'


def names_repository(text: str, reference: ImageReference) -> bool:
    """Whether ``text`` (a signature's ``docker-reference``) names the repository of ``reference``, however it spells
    Docker Hub; a tag or digest in ``text`` is ignored."""
    try:
        named = parse_reference(text)
    except InvalidReferenceError:
        return False
    return (named.registry, named.repository) == (reference.registry, reference.repository)
