#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wasm_image_copy
short_description: Copy an image and its signatures between registries and local OCI layouts, byte for byte
version_added: 1.0.0
description:
  - Copies the image O(src) to O(dest). Each is an image in a registry or in a local OCI layout, so an image can go
    from one registry to another, into a layout (to carry into an air-gapped site), and from there into a registry.
  - The copy is byte for byte. Every manifest, and for an index every child manifest, keeps its exact bytes, so the
    digest is the same at both ends and signatures over it stay valid. Every blob is checked against its digest while
    it streams, and is never held in memory whole.
  - Blobs O(dest) has already are not copied again. When both ends are repositories of the same registry, blobs are
    linked from the source repository (a cross-repository mount) instead of uploaded.
  - When O(dest) already names the image (and holds its signatures), nothing is written and the task reports no change.
  - Blobs and child manifests are written first and the tag last, so a copy that fails midway leaves O(dest) naming
    what it named before. A layout the copy had to create is removed again.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.registry.per_side
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads what O(src) and O(dest) name, and reports whether a copy would change O(dest). The counts are 0.
  diff_mode:
    support: full
    details:
      - The diff shows the digest O(dest) named before and after, and the digest of its signature manifest.
options:
  src:
    description:
      - The image to copy, as C(registry/repository[:tag]) or C(registry/repository@sha256:<digest>), or in a local OCI
        layout as skopeo names it, C(oci:<layout path>:<tag>) or C(oci:<layout path>@sha256:<digest>) (of a manifest
        or index that the layout's C(index.json) lists).
      - An index is copied whole, with every image it lists.
    type: str
    required: true
  dest:
    description:
      - Where to copy it, as C(registry/repository[:tag]) or C(oci:<layout path>:<tag>). A layout that does not exist
        yet is created.
      - A registry reference without a tag takes the tag of O(src); when O(src) names only a digest, the copy is
        stored under that digest alone. C(registry/repository@sha256:<digest>) is accepted when it is the digest of
        O(src).
    type: str
    required: true
  copy_signatures:
    description:
      - Also copy the image's cosign signatures, the manifest tagged C(sha256-<hex of the digest>.sig) beside it (in a
        layout, a tag of its C(index.json)), with its blobs. Nothing is copied when O(src) has none.
      - The signature manifest of O(dest) is replaced by the one of O(src), so O(dest) holds exactly the signatures
        of O(src), and O(wasm.oci.wasm_image_pull#module:verify_keys) accepts the copy as it accepts the original.
    type: bool
    default: true
seealso:
  - module: wasm.oci.wasm_image_push
  - module: wasm.oci.wasm_image_sign
  - module: wasm.oci.wasm_image_pull
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Carry a signed filter into an air-gapped site, first into a layout on removable media
  wasm.oci.wasm_image_copy:
    src: registry.example.com/filters/add_header:1.0.0
    dest: oci:/media/transfer/filters:add_header-1.0.0
    src_registry:
      username: mirror
      password: "{{ registry_password }}"

- name: Then from the layout into the site's registry; the signatures come along
  wasm.oci.wasm_image_copy:
    src: oci:/media/transfer/filters:add_header-1.0.0
    dest: registry.internal:5000/filters/add_header:1.0.0
    dest_registry:
      ca_path: /etc/pki/internal-ca.pem

- name: Promote a release within one registry (blobs are linked, not uploaded)
  wasm.oci.wasm_image_copy:
    src: registry.example.com/filters-staging/add_header@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
    dest: registry.example.com/filters/add_header:1.0.0
  register: promoted

- name: Pull exactly what was copied, only if a trusted key signed it
  wasm.oci.wasm_image_pull:
    name: registry.example.com/filters/add_header@{{ promoted.digest }}
    dest: /var/lib/envoy/wasm/add_header.wasm
    verify_keys: [/etc/wasm-oci/ci-signing.pub]
"""

RETURN = r"""
digest:
  description: The manifest (or index) digest of the image, the same at both ends.
  returned: success
  type: str
  sample: sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
blobs_copied:
  description: How many blobs (of the image and its signatures) were sent to O(dest).
  returned: success
  type: int
  sample: 2
blobs_skipped:
  description: How many blobs were not sent because O(dest) had them already.
  returned: success
  type: int
  sample: 0
blobs_mounted:
  description: How many blobs O(dest)'s registry linked from the repository of O(src) instead of receiving them.
  returned: success
  type: int
  sample: 0
signatures_copied:
  description: How many signatures the copied signature manifest holds; 0 when none was copied.
  returned: success
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image.copy import copy_image
from ansible_collections.wasm.oci.plugins.module_utils._image.copy_ends import open_copy_sink, open_copy_source, parse_ends, registry_side_spec


class WasmImageCopier:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def copy(self) -> dict:
        ends = parse_ends(self.params['src'], self.params['dest'])
        source = open_copy_source(self.module, ends, self.params['src_registry'])
        with open_copy_sink(self.module, ends, self.params['dest_registry']) as sink:
            outcome = copy_image(source, sink, ends.dest_tag, pinned=ends.dest_digest, copy_signatures=self.params['copy_signatures'],
                                 check_mode=self.module.check_mode)
        counts = outcome.counts
        result = {
            'changed': outcome.changed, 'digest': outcome.digest, 'blobs_copied': counts.blobs_copied, 'blobs_skipped': counts.blobs_skipped,
            'blobs_mounted': counts.blobs_mounted, 'signatures_copied': outcome.signatures_copied,
        }
        if self.module._diff:
            before, after = {'digest': outcome.before}, {'digest': outcome.digest}
            if outcome.signatures is not None:
                before['signatures'], after['signatures'] = outcome.signatures.before, outcome.signatures.after
            result['diff'] = {'before': before, 'after': after}
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type='str', required=True),
            dest=dict(type='str', required=True),
            copy_signatures=dict(type='bool', default=True),
            src_registry=registry_side_spec(),
            dest_registry=registry_side_spec(),
        ),
        supports_check_mode=True,
    )
    try:
        result = WasmImageCopier(module).copy()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
