# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The image a module reads, in a registry or a local layout (image_source_argument_spec(); with wasm.oci.local_layout)."""

    DOCUMENTATION = r"""
options:
  name:
    description:
      - The image, as C(registry/repository[:tag]) or C(registry/repository@sha256:<manifest digest>). A digest pins the
        manifest. Mutually exclusive with O(layout).
      - An image in a local OCI layout, written as skopeo does, C(oci:<layout path>:<tag>) or
        C(oci:<layout path>@sha256:<digest>) (of a manifest or index that the layout's C(index.json) lists), stands for
        O(layout) and O(tag); the registry options are then not used.
    type: str
  platform:
    description:
      - When the reference names an index, the platform of the image to read, as C(os/architecture[/variant]), for
        example V(wasi/wasm) or V(linux/arm64).
      - By default the C(wasi)/C(wasm) image is chosen; else, as docker does, the image for the platform of the machine
        the module runs on (C(linux) and its architecture, for example V(linux/amd64)); else the only image of the
        index. Attestation manifests are never chosen.
    type: str
"""
