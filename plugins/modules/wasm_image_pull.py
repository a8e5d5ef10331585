#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wasm_image_pull
short_description: Pull the WebAssembly module of a Wasm image into a file
version_added: 0.1.0
description:
  - Fetches the Wasm image O(name) from a registry, or from a local OCI layout on air-gapped hosts (O(layout) and
    O(tag), or O(name) as C(oci:<layout>:<tag>)), and writes its module to O(dest).
  - Reads every form of Wasm image that common tools write. This covers the V(oci) variant with one or two layers,
    and the V(compat) variant with gzip, zstd (when the C(zstandard) Python package or Python 3.14 is on the host) or
    uncompressed tar layers and OCI or Docker v2 manifests. It also
    covers the CNCF Wasm OCI Artifact, and indexes, where a child is chosen by platform. Tar layers are never
    extracted to disk; only the C(plugin.wasm) member is read.
  - Every byte is checked against its digest while it streams. The module is written to a temporary file beside
    O(dest) and renamed over it, so a failed pull leaves O(dest) as it was.
  - When O(dest) already holds the module, nothing is downloaded. A small record C(.<dest name>.wasm-oci.json) beside
    O(dest) remembers which image it came from.
  - With O(pull_policy=if_not_present), the default for a reference pinned by digest, a O(dest) that already holds the
    image's module needs no registry at all, so a registry outage does not fail a run that changes nothing.
  - Returns RV(image) with the root IDs, so a play can configure Envoy without another task.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.attributes.actiongroup_registry
  - wasm.oci.image_source
  - wasm.oci.local_layout
  - wasm.oci.registry
  - wasm.oci.signatures
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - A missing directory of O(dest) is reported as a change, since a play creates it in an earlier task that check
        mode did not run.
      - With O(pull_policy=if_not_present), check mode too reads only O(dest) and its record when they hold the image.
      - With O(verify_keys), check mode verifies the signatures as a pull does.
  diff_mode:
    support: none
options:
  pull_policy:
    description:
      - V(always) asks the source for the image on every run, and downloads the module only when O(dest) does not hold
        it yet.
      - V(if_not_present) asks nothing of the source when O(dest) already holds the image's module. Nothing means no
        request at all, not even for a token. That is the case when the record beside O(dest) names the image (its
        manifest digest, or its index digest or tag with the same O(platform)) and O(dest) still hashes to the module
        digest recorded there; otherwise the image is pulled as with V(always). With a tag, the image O(dest) holds
        stays, even when the tag has moved since.
      - By default, as in Istio, V(if_not_present) for a name pinned by digest, which always names the same image, and
        V(always) for a tag. O(force=true) pulls whatever the policy.
      - With O(verify_keys) the source is always asked, for the image's signatures; the module is still downloaded only
        when O(dest) does not hold it.
    type: str
    choices: [always, if_not_present]
  dest:
    description:
      - Path of the module file to write.
    type: path
    required: true
  sha256:
    description:
      - Expected sha256 digest of the module bytes (not of the manifest), with or without the C(sha256:) prefix.
        The pull fails if the module differs.
    type: str
  max_size:
    description:
      - Largest module, and largest decompressed layer, in bytes. A bigger one is an error, never a truncated file.
    type: int
    default: 268435456
  force:
    description:
      - Download and write the module even when O(dest) already holds it, whatever O(pull_policy) says.
    type: bool
    default: false
seealso:
  - module: wasm.oci.wasm_image_push
  - module: wasm.oci.wasm_image_info
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Pull a filter for Envoy and use its root ID
  wasm.oci.wasm_image_pull:
    name: registry.example.com/filters/add_header:1.0.0
    dest: /etc/envoy/wasm/add_header.wasm
    owner: envoy
    mode: "0644"
  register: filter

- name: Show the root ID Envoy needs
  ansible.builtin.debug:
    msg: "root_id: {{ filter.image.runtime.root_ids[0] }}"

- name: Pull a pinned manifest from GHCR with a token, and pin the module bytes too
  wasm.oci.wasm_image_pull:
    name: ghcr.io/example/add_header@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
    sha256: 0f8a4c3e0f5b1f3a2d7c3c8e4b5d6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b
    dest: /etc/envoy/wasm/add_header.wasm
    username: example-bot
    password: "{{ ghcr_token }}"

- name: Pull from a registry with a private CA
  wasm.oci.wasm_image_pull:
    name: registry.internal/filters/add_header:1.0.0
    ca_path: /etc/pki/internal-ca.pem
    dest: /etc/envoy/wasm/add_header.wasm

- name: Pull from a local layout copied to an air-gapped host
  wasm.oci.wasm_image_pull:
    layout: /srv/wasm/layout
    tag: "1.0.0"
    dest: /etc/envoy/wasm/add_header.wasm

- name: Pull a filter only if the CI key signed exactly this image
  wasm.oci.wasm_image_pull:
    name: registry.example.com/filters/add_header:1.0.0
    dest: /etc/envoy/wasm/add_header.wasm
    verify_keys:
      - /etc/wasm-oci/ci-signing.pub
    verify_identity: true
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
dest:
  description: Path of the module file.
  returned: success
  type: str
  sample: /etc/envoy/wasm/add_header.wasm
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
from ansible_collections.wasm.oci.plugins.module_utils._image.pull import PULL_POLICIES, existing_image, present_image, pull_module, pull_policy
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import DEFAULT_MAX_SIZE
from ansible_collections.wasm.oci.plugins.module_utils._image.source import IMAGE_SOURCE_CHOICE, image_source_argument_spec, open_source, requested_image
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import REGISTRY_REQUIRED_TOGETHER, registry_argument_spec
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import trust_from, verification_argument_spec, verified_signatures


class WasmImagePuller:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.requested = requested_image(self.params)
        self.trust = trust_from(self.params['verify_keys'], self.params['verify_identity'], self.requested.registry_reference)

    def pull(self) -> dict:
        dest = self.params['dest']
        image, signatures = None, None
        if self.trust is None:
            # Signatures are always read from the source: what is on disk proves nothing about who signed it.
            image = present_image(
                dest, self.requested.reference, self.requested.digest,
                policy=pull_policy(self.params['pull_policy'], self.requested.digest),
                platform=self.params['platform'],
                sha256=self.params['sha256'],
                force=self.params['force'],
            )
        changed = False
        if image is None:
            source = open_source(self.module, self.requested)
            resolved = existing_image(source, self.params['platform'])
            signatures = verified_signatures(source, resolved.named_digest, self.trust)
            changed, image = pull_module(
                source,
                resolved,
                dest,
                platform=self.params['platform'],
                max_size=self.params['max_size'],
                sha256=self.params['sha256'],
                force=self.params['force'],
                check_mode=self.module.check_mode,
            )
        if not self.module.check_mode or not changed:
            file_args = self.module.load_file_common_arguments(self.params, path=dest)
            changed = self.module.set_fs_attributes_if_different(file_args, changed)
        result = {'changed': changed, 'dest': dest, 'image': image}
        if signatures is not None:
            result['signatures'] = signatures
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **image_source_argument_spec(),
            pull_policy=dict(type='str', choices=list(PULL_POLICIES)),
            dest=dict(type='path', required=True),
            sha256=dict(type='str'),
            max_size=dict(type='int', default=DEFAULT_MAX_SIZE),
            force=dict(type='bool', default=False),
            **registry_argument_spec(),
            **verification_argument_spec(),
        ),
        mutually_exclusive=IMAGE_SOURCE_CHOICE,
        required_one_of=IMAGE_SOURCE_CHOICE,
        required_together=REGISTRY_REQUIRED_TOGETHER,
        add_file_common_args=True,
        supports_check_mode=True,
    )
    try:
        result = WasmImagePuller(module).pull()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
