#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wasm_image_push
short_description: Push a Wasm image from a local OCI layout to a registry
version_added: 0.1.0
description:
  - Pushes the image that O(tag) names in the local OCI layout O(layout) to O(name) in a registry.
  - Blobs the registry already has are not uploaded again. When the remote tag already names the same manifest,
    nothing is sent and the task reports no change. Check mode predicts the change from a single HEAD request.
  - The image is checked as it uploads (a compat layer is read to its end for its C(plugin.wasm)), and the tag is set
    only once the check has passed, so a push of an image that is not a valid Wasm image leaves the remote tag as it was.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.attributes.actiongroup_registry
  - wasm.oci.local_layout
  - wasm.oci.registry
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the manifest digest the remote tag named before and after.
options:
  name:
    description:
      - Where to push, as C(registry/repository[:tag]). Without a tag, O(tag) is used.
      - A digest (C(@sha256:...)) is refused. Registries store a manifest under its digest anyway, so push to a tag.
    type: str
    required: true
  layout:
    required: true
  mount_from:
    description:
      - Other repositories on the same registry that may already hold the image's blobs, for example the repository
        a release was first pushed to. Blobs they have are linked (cross-repository mount) instead of uploaded.
      - Needs pull access to those repositories.
    type: list
    elements: str
    default: []
seealso:
  - module: wasm.oci.wasm_image_build
  - module: wasm.oci.wasm_image_pull
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Push to a Distribution registry with basic auth
  wasm.oci.wasm_image_push:
    layout: /srv/wasm/layout
    tag: "1.0.0"
    name: registry.example.com:5000/filters/add_header
    username: deploy
    password: "{{ registry_password }}"

- name: Push to GHCR (token auth; the scope upgrade to push is automatic)
  wasm.oci.wasm_image_push:
    layout: /srv/wasm/layout
    tag: "1.0.0"
    name: ghcr.io/example/add_header:1.0.0
    username: example-bot
    password: "{{ ghcr_token }}"

- name: Push to a registry whose certificate comes from a private CA
  wasm.oci.wasm_image_push:
    layout: /srv/wasm/layout
    tag: "1.0.0"
    name: registry.internal:443/filters/add_header
    ca_path: /etc/pki/internal-ca.pem

- name: Promote a release to another repository, linking the blobs it already has instead of uploading them
  wasm.oci.wasm_image_push:
    layout: /srv/wasm/layout
    tag: "1.0.0"
    name: registry.example.com/filters-stable/add_header
    mount_from: [filters/add_header]

- name: Push to a registry over plain HTTP, with credentials from ~/.docker/config.json
  wasm.oci.wasm_image_push:
    layout: /srv/wasm/layout
    tag: "1.0.0"
    name: localhost:5000/filters/add_header
    plain_http: true
"""

RETURN = r"""
blobs_uploaded:
  description: How many blobs were uploaded; blobs the registry already had are not counted.
  returned: success
  type: int
  sample: 2
blobs_mounted:
  description: How many blobs were linked from the O(mount_from) repositories instead of uploaded.
  returned: success
  type: int
  sample: 0
image:
  description:
    - The image, described the same way by every module of the collection.
  returned: success
  type: dict
  contains:
    reference:
      description: The image reference; for a local layout C(oci:<layout>:<tag>) or C(oci:<layout>@<digest>) as skopeo writes it.
      type: str
      sample: oci:/srv/wasm/layout:1.0.0
    digest:
      description:
        - Digest of the image manifest (after choosing a platform when the reference names an index).
        - Pin it with C(name@digest). It is not the digest of the module bytes; see RV(image.wasm.digest).
      type: str
      sample: sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
    index_digest:
      description: Digest of the index or manifest list the reference named, or V(null) when it named a manifest.
      type: str
      sample: null
    media_type:
      description: Media type of the image manifest.
      type: str
      sample: application/vnd.oci.image.manifest.v1+json
    variant:
      description:
        - V(oci) for an image whose layer is the module itself, in the Wasm image specification's media types or as
          wasm-to-oci and ORAS write it (a module ORAS pushed without a media type included), V(compat) for a standard
          image holding C(plugin.wasm) in a tar layer, V(artifact) for the CNCF Wasm OCI Artifact layout.
      type: str
      sample: oci
    runtime:
      description: The runtime config of the image.
      type: dict
      contains:
        type:
          description: Target runtime, V(envoy_proxy) for Envoy filters; V(null) when the image does not say.
          type: str
          sample: envoy_proxy
        abi_versions:
          description: ABI versions the module supports.
          type: list
          elements: str
          sample: [proxy_abi_version_0_2_1]
        root_ids:
          description: Root IDs the module registers; Envoy takes one as C(root_id).
          type: list
          elements: str
          sample: [add_header]
        config:
          description: Further runtime config, without the root IDs.
          type: dict
          sample: {}
    wasm:
      description: The module itself.
      type: dict
      contains:
        digest:
          description:
            - sha256 digest of the module bytes, as Envoy's C(remote.sha256) expects. Always known, and checked against a
              digest before it is reported.
            - For the V(oci) and V(artifact) variants it is the module layer's digest, named in the manifest; for
              V(compat) the digest of the C(plugin.wasm) read from a tar layer verified to its end.
          type: str
          sample: sha256:0f8a4c3e0f5b1f3a2d7c3c8e4b5d6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b
        size:
          description: Size of the module in bytes.
          type: int
          sample: 601
    annotations:
      description: Annotations of the image manifest.
      type: dict
      sample: {module.wasm.runtime/type: envoy_proxy}
    platform:
      description: Platform (C(os), C(architecture)) of the image, or V(null) when it has none.
      type: dict
      sample: {os: wasi, architecture: wasm}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._image.push import push_image
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import OciLayout
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference, validate_tag
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import REGISTRY_REQUIRED_TOGETHER, registry_argument_spec, registry_client


class WasmImagePusher:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def push(self) -> dict:
        tag = validate_tag(self.params['tag'])
        reference = parse_reference(self.params['name'], default_tag=tag)
        if reference.digest:
            raise WasmOciError(
                f'name {self.params["name"]} names a digest; push to a tag instead (the registry also keeps the manifest '
                'under its digest)'
            )
        layout = OciLayout(self.params['layout'])
        client = registry_client(self.module, reference)
        mount_from = [parse_reference(f'{reference.registry}/{name}').repository for name in self.params['mount_from']]
        outcome = push_image(layout, tag, client, mount_from, check_mode=self.module.check_mode)

        result = {'changed': outcome.changed, 'image': outcome.image.as_dict(), 'blobs_uploaded': outcome.counts.uploaded,
                  'blobs_mounted': outcome.counts.mounted}
        if self.module._diff:
            result['diff'] = {'before': {'digest': outcome.before}, 'after': {'digest': outcome.after}}
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            layout=dict(type='path', required=True),
            tag=dict(type='str', default='latest'),
            mount_from=dict(type='list', elements='str', default=[]),
            **registry_argument_spec(),
        ),
        required_together=REGISTRY_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    try:
        result = WasmImagePusher(module).push()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
