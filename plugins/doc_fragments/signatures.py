# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The options that make a module accept only images signed with trusted keys (cosign's key-based signatures)."""

    DOCUMENTATION = r"""
options:
  verify_keys:
    description:
      - Accept the image only if at least one of its cosign signatures verifies with one of these ECDSA P-256 public
        keys and covers exactly the manifest digest that is read (the index digest when the reference names an index).
      - Each key is a path to a PEM public key file (C(-----BEGIN PUBLIC KEY-----), as C(cosign.pub) or
        C(openssl pkey -pubout) writes it) or the PEM text itself.
      - The signatures are read from the manifest tagged C(sha256-<hex>.sig) beside the image, in its registry
        repository or in the local layout it was copied into, as cosign and M(wasm.oci.wasm_image_sign) write them.
      - Verification happens before anything of the image is used or written, and always asks the source for the
        signatures, also when the image is already present. A failure names the keys tried, how many signatures were
        found and why each was refused.
      - Keyless signatures (Fulcio certificates), Rekor transparency log checks and Notation signatures are not
        supported.
    type: list
    elements: str
  verify_identity:
    description:
      - Also require the accepted signature to name the image's repository (its C(docker-reference)), so a signature
        made for another repository is refused even when the same key made it. Docker Hub names are compared however
        they are spelled.
      - Needs O(verify_keys). Not for local layouts, which have no repository.
    type: bool
    default: false
requirements:
  - cryptography (3.4 or later) where the module runs, when O(verify_keys) is given.
"""
