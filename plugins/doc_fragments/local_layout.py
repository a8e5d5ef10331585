# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The two options that name an image in a local OCI image layout."""

    DOCUMENTATION = r"""
options:
  layout:
    description:
      - Path of a local OCI image layout directory (C(oci-layout), C(index.json), C(blobs/sha256/)).
      - The same directory that C(skopeo) and C(buildah) address as C(oci:<layout>:<tag>); one layout holds many tags.
    type: path
  tag:
    description:
      - Tag of the image inside O(layout).
    type: str
    default: latest
"""
