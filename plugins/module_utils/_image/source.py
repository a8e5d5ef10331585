# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a module's image comes from: a registry (``name``), or a local layout (``layout`` + ``tag``, or ``name`` as
``oci:<layout>:<tag>`` or ``oci:<layout>@<digest>``, the way skopeo names it)."""

from __future__ import annotations

import dataclasses
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import LayoutSource, OciLayout, existing_layout
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout_name import LayoutName, is_layout_name, parse_layout_name
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import ImageReference, parse_reference, validate_tag
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import registry_client
from ansible_collections.wasm.oci.plugins.module_utils._registry.source import RegistrySource
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import SignedSource


@dataclasses.dataclass(frozen=True)
class RequestedImage:
    """The image the parameters name, parsed but not read: nothing is opened or asked for yet."""

    # A registry reference, or the image of a local layout.
    name: ImageReference | LayoutName

    @property
    def reference(self) -> str:
        """How results name the image; the same text its content source gives."""
        return str(self.name)

    @property
    def registry_reference(self) -> ImageReference | None:
        """The registry reference, or None for an image in a local layout."""
        return self.name if isinstance(self.name, ImageReference) else None

    @property
    def digest(self) -> str | None:
        """The manifest (or index) digest the name pins, known before anything is read; None for a tag."""
        return self.name.digest


# With image_source_argument_spec(): a module reads an image named one way or the other.
IMAGE_SOURCE_CHOICE = [('name', 'layout')]


def image_source_argument_spec() -> dict[str, t.Any]:
    """The options requested_image() reads (doc fragments wasm.oci.image_source and wasm.oci.local_layout)."""
    return dict(
        name=dict(type='str'),
        layout=dict(type='path'),
        tag=dict(type='str', default='latest'),
        platform=dict(type='str'),
    )


def requested_image(params: dict[str, t.Any]) -> RequestedImage:
    tag = validate_tag(params['tag'])
    name = params['name']
    if not name:
        return RequestedImage(LayoutName(params['layout'], tag))
    return RequestedImage(parse_layout_name(name) if is_layout_name(name) else parse_reference(name, default_tag=tag))


class LayoutDigestSource(LayoutSource):
    """The manifest or index of a local layout that its ``index.json`` lists with a given digest."""

    def __init__(self, layout: OciLayout, name: LayoutName) -> None:
        super().__init__(layout, '', str(name))
        self.digest = name.digest

    def root_descriptor(self) -> dict[str, t.Any] | None:
        return next((entry for entry in self.layout.manifests if entry.get('digest') == self.digest), None)


@t.overload
def open_source(module: AnsibleModule, requested: RequestedImage, missing_layout_ok: t.Literal[False] = False) -> SignedSource:
    ...


@t.overload
def open_source(module: AnsibleModule, requested: RequestedImage, missing_layout_ok: bool) -> SignedSource | None:
    ...


def open_source(module: AnsibleModule, requested: RequestedImage, missing_layout_ok: bool = False) -> SignedSource | None:
    """The content source of ``requested``; None for a missing layout if allowed."""
    name = requested.name
    if isinstance(name, ImageReference):
        return RegistrySource(registry_client(module, name))
    layout = existing_layout(name.path) if missing_layout_ok else OciLayout(name.path)
    if layout is None:
        return None
    return LayoutDigestSource(layout, name) if name.digest else LayoutSource(layout, t.cast(str, name.tag), requested.reference)
