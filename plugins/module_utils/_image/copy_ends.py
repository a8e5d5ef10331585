# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The two ends of a copy as wasm_image_copy names them: ``src`` and ``dest``, each a registry reference or an image
in a local layout (``oci:<layout>:<tag>``, or for ``src`` also ``oci:<layout>@<digest>``), each side with its own
registry options (``src_registry``, ``dest_registry``)."""

from __future__ import annotations

import contextlib
import dataclasses
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import InvalidReferenceError
from ansible_collections.wasm.oci.plugins.module_utils._image.source import LayoutDigestSource
from ansible_collections.wasm.oci.plugins.module_utils._oci.copy import ContentSink
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSink, LayoutSource, OciLayout
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout_name import LayoutName, is_layout_name, parse_layout_name
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import DEFAULT_TAG, ImageReference, parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import REGISTRY_REQUIRED_TOGETHER, connect, registry_argument_spec
from ansible_collections.wasm.oci.plugins.module_utils._registry.optional_requests import require_requests
from ansible_collections.wasm.oci.plugins.module_utils._registry.sink import RegistrySink
from ansible_collections.wasm.oci.plugins.module_utils._registry.source import RegistrySource
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import SignedSource


def registry_side_spec() -> dict[str, t.Any]:
    """Argument spec of ``src_registry`` and ``dest_registry``: the wasm.oci.registry options, for one side of a copy."""
    return dict(type='dict', options=registry_argument_spec(), required_together=REGISTRY_REQUIRED_TOGETHER, apply_defaults=True)


@dataclasses.dataclass(frozen=True)
class CopyEnds:
    src: ImageReference | LayoutName
    dest: ImageReference | LayoutName

    @property
    def dest_tag(self) -> str | None:
        """The tag the copy gets; None when it is stored by its digest only."""
        return self.dest.tag

    @property
    def dest_digest(self) -> str | None:
        """The digest ``dest`` names, which the copied image must have."""
        return self.dest.digest

    @property
    def mount_from(self) -> list[str]:
        """The repository blobs may be linked from: the source's, when both ends are repositories of one registry."""
        src, dest = self.src, self.dest
        if isinstance(src, ImageReference) and isinstance(dest, ImageReference) and src.registry == dest.registry:
            return [src.repository] if src.repository != dest.repository else []
        return []


def parse_ends(src: str, dest: str) -> CopyEnds:
    """Both names parsed. A registry ``dest`` without tag or digest gets the tag of ``src``; when ``src`` names only a
    digest, the copy is stored by that digest alone."""
    source = parse_layout_name(src) if is_layout_name(src) else parse_reference(src)
    if is_layout_name(dest):
        target: ImageReference | LayoutName = parse_layout_name(dest)
        if target.digest:
            raise InvalidReferenceError(f'dest {dest!r} names a digest in a local layout; a copy into a layout needs a tag: '
                                        'write oci:<layout path>:<tag>')
    else:
        target = parse_reference(dest, default_tag=source.tag or DEFAULT_TAG)
        if source.tag is None and target.digest is None and not _names_tag(dest):
            target = dataclasses.replace(target, tag=None, digest=source.digest)
    return CopyEnds(source, target)


def _names_tag(reference: str) -> bool:
    """Whether a registry reference spells a tag: a colon in its last path component (a port is in the first)."""
    return ':' in reference.strip().split('@', 1)[0].rsplit('/', 1)[-1]


def side_client(module: AnsibleModule, reference: ImageReference, options: dict[str, t.Any]) -> RegistryClient:
    """A client for ``reference`` with one side's registry options; credential helpers run through run_command."""
    require_requests()
    return connect(reference, options, lambda args, data: module.run_command(args, data=data, binary_data=True))


def open_copy_source(module: AnsibleModule, ends: CopyEnds, options: dict[str, t.Any]) -> SignedSource:
    name = ends.src
    if isinstance(name, ImageReference):
        return RegistrySource(side_client(module, name, options))
    layout = OciLayout(name.path)
    return LayoutDigestSource(layout, name) if name.digest else LayoutSource(layout, t.cast(str, name.tag), str(name))


@contextlib.contextmanager
def open_copy_sink(module: AnsibleModule, ends: CopyEnds, options: dict[str, t.Any]) -> t.Iterator[ContentSink]:
    """The sink of ``dest``; a layout it had to make is removed again when the copy fails."""
    name = ends.dest
    if isinstance(name, LayoutName):
        with LayoutSink(name.path) as sink:
            yield sink
        return
    # The copy tries mounts on its own: credentials that may not read the source repository upload instead.
    yield RegistrySink(side_client(module, name, options), ends.mount_from, mount_refusal_uploads=True)
