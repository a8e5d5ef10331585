#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wasm_image_info
short_description: Inspect a Wasm image in a registry or a local OCI layout
version_added: 0.1.0
description:
  - Describes the Wasm image O(name) in a registry, or O(tag) in the local OCI image layout O(layout). It reports the
    variant, the runtime config with its root IDs, the module digest and size, annotations and platform.
  - Everything reported has been checked against a digest. For the V(oci) and V(artifact) variants only the manifest
    and config are read; the module digest is the module layer's digest, named in the manifest. A module ORAS pushed
    without a media type is labelled a tar layer, so it is read and verified in full like a compat layer. A compat image keeps
    its module and root IDs in a tar layer, so every tar layer is read to its end and checked against its digest before
    anything from it is reported; inspecting a compat image costs as much as pulling it.
  - An image that is not a Wasm image (an ordinary container image, with no C(plugin.wasm) in any layer), or one
    whose layers hold two different C(plugin.wasm) files, fails with the same message M(wasm.oci.wasm_image_pull)
    gives.
  - Reads every form of Wasm image that common tools write. This covers the V(oci) variant with one or two layers
    (also as wasm-to-oci and ORAS 1.x write it, with an empty config) and the V(compat) variant with gzip, zstd (when
    the C(zstandard) Python package or Python 3.14 is on the host) or uncompressed tar layers, OCI or Docker v2
    manifests and mixed media types (crane, Higress). It also covers the CNCF Wasm OCI Artifact layout, and indexes and
    Docker manifest lists (docker buildx, with or without attestations), where a child is chosen by platform. An index
    whose chosen child is itself an index is refused, naming the nesting.
  - A missing tag, repository or layout is not an error. The module returns RV(exists=false).
  - With O(verify_keys), the image is verified before it is described; an image no trusted key signed fails the task,
    so a play can check a release before rolling it out.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.attributes.actiongroup_registry
  - wasm.oci.attributes.info_module
  - wasm.oci.image_source
  - wasm.oci.local_layout
  - wasm.oci.registry
  - wasm.oci.signatures
options:
  max_size:
    description:
      - Largest module, largest decompressed layer, and largest sum of the tar layers' sizes, in bytes, that the
        module reads while describing a compat image.
    type: int
    default: 268435456
seealso:
  - module: wasm.oci.wasm_image_build
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Inspect an image in a Distribution registry over plain HTTP
  wasm.oci.wasm_image_info:
    name: localhost:5000/filters/add_header:1.0.0
    plain_http: true
  register: remote_image

- name: Inspect an image on GHCR (token auth)
  wasm.oci.wasm_image_info:
    name: ghcr.io/example/add_header:1.0.0
    username: example-bot
    password: "{{ ghcr_token }}"

- name: Inspect an image in a registry with a private CA and mutual TLS
  wasm.oci.wasm_image_info:
    name: registry.internal/filters/add_header:1.0.0
    ca_path: /etc/pki/internal-ca.pem
    client_cert: /etc/pki/client.pem
    client_key: /etc/pki/client-key.pem

- name: Check that a release is signed by the CI key before it is rolled out
  wasm.oci.wasm_image_info:
    name: registry.example.com/filters/add_header:1.0.0
    verify_keys:
      - /etc/wasm-oci/ci-signing.pub
  register: release

- name: Show who signed it
  ansible.builtin.debug:
    msg: "{{ release.signatures | map(attribute='key') }}"

- name: Read the root ID of a filter image
  wasm.oci.wasm_image_info:
    layout: /srv/wasm/layout
    tag: "1.0.0"
  register: filter_image

- name: Use it
  ansible.builtin.debug:
    msg: "root_id {{ filter_image.image.runtime.root_ids[0] }}, module {{ filter_image.image.wasm.digest }}"
  when: filter_image.exists
"""

RETURN = r"""
signatures:
  description:
    - The signatures that verified with O(verify_keys) (at least one, or the task fails).
  returned: when O(verify_keys) is given
  type: list
  elements: dict
  contains:
    key:
      description: The key that verified the signature, by its id (C(sha256:) of its DER public key).
      type: str
    digest:
      description: The manifest (or index) digest the signature covers.
      type: str
    annotations:
      description: The annotations signed along with the image.
      type: dict
  sample: [{key: "sha256:2f0c...", digest: "sha256:6c3c...", annotations: {pipeline: "1234"}}]
exists:
  description: Whether the reference (the registry tag or digest, or the layout's tag) names an image.
  returned: always
  type: bool
  sample: true
image:
  description:
    - The image, described the same way by every module of the collection.
  returned: when RV(exists) is true
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
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import DEFAULT_MAX_SIZE, describe, resolve
from ansible_collections.wasm.oci.plugins.module_utils._image.source import IMAGE_SOURCE_CHOICE, image_source_argument_spec, open_source, requested_image
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import REGISTRY_REQUIRED_TOGETHER, registry_argument_spec
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import trust_from, verification_argument_spec, verified_signatures


class WasmImageInfo:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.requested = requested_image(self.params)

    def inspect(self) -> dict:
        trust = trust_from(self.params['verify_keys'], self.params['verify_identity'], self.requested.registry_reference)
        source = open_source(self.module, self.requested, missing_layout_ok=True)
        resolved = resolve(source, self.params['platform']) if source else None
        if resolved is None:
            return {'changed': False, 'exists': False}
        # Verified first, so an image signed by none of the keys is never described as if it could be used.
        signatures = verified_signatures(source, resolved.named_digest, trust)
        result = {'changed': False, 'exists': True, 'image': describe(source, resolved, self.params['max_size']).as_dict()}
        if signatures is not None:
            result['signatures'] = signatures
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **image_source_argument_spec(),
            max_size=dict(type='int', default=DEFAULT_MAX_SIZE),
            **registry_argument_spec(),
            **verification_argument_spec(),
        ),
        mutually_exclusive=IMAGE_SOURCE_CHOICE,
        required_one_of=IMAGE_SOURCE_CHOICE,
        required_together=REGISTRY_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    try:
        result = WasmImageInfo(module).inspect()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
