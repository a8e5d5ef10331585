#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wasm_image_build
short_description: Package a WebAssembly module as a Wasm image in a local OCI layout
version_added: 0.1.0
description:
  - Packages a WebAssembly module and its runtime metadata as an image of the Wasm Image Specification and stores it
    under O(tag) in the local OCI image layout O(layout), ready for M(wasm.oci.wasm_image_push) or for
    C(skopeo copy).
  - Builds are reproducible. The same inputs give the same manifest digest, so running the task again reports no change.
  - The proxy-wasm ABI versions are read from the module's C(proxy_abi_version_*) exports unless O(abi_versions) is
    given.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.local_layout
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the image the tag named before and the image it names after.
options:
  src:
    description:
      - Path of the WebAssembly module (a C(.wasm) binary) on the managed host.
    type: path
    required: true
  layout:
    required: true
  variant:
    description:
      - V(oci) writes the specification's custom media types. The config blob is the runtime config, and there are
        two layers. The first layer is the runtime config again, titled C(runtime-config.json). The second layer is
        the module, titled C(filter.wasm). Istio and Envoy Gateway accept this layout.
      - V(compat) writes a standard container image whose single C(tar+gzip) layer holds C(plugin.wasm) and
        C(runtime-config.json). Use it for registries and tools that refuse custom media types.
    type: str
    choices: [oci, compat]
    default: oci
  compat_media_type:
    description:
      - With O(variant=compat), write an OCI manifest (V(oci)) or a Docker v2 manifest (V(docker)).
      - Docker v2 manifests cannot hold annotations, so O(annotations) must be empty with V(docker).
      - skopeo and buildah read only OCI manifests from a local layout. A V(docker) image in a layout is meant to be
        pushed to a registry.
    type: str
    choices: [oci, docker]
    default: oci
  runtime_type:
    description:
      - Target runtime written to the runtime config.
    type: str
    default: envoy_proxy
  root_ids:
    description:
      - Root IDs the module registers. Envoy needs one of them as C(root_id).
      - They cannot be read from the binary, so they must be given. They are required when O(runtime_type=envoy_proxy).
    type: list
    elements: str
    default: []
  abi_versions:
    description:
      - ABI versions the module supports, for example V(proxy_abi_version_0_2_1).
      - Defaults to the C(proxy_abi_version_*) functions the module exports.
    type: list
    elements: str
  config:
    description:
      - Further runtime config, written beside the root IDs in the runtime config's C(config) object.
    type: dict
    default: {}
  annotations:
    description:
      - Annotations to add to the image manifest.
    type: dict
    default: {}
seealso:
  - module: wasm.oci.wasm_image_info
  - name: Wasm Image Specification
    description: The specification of the two variants.
    link: https://github.com/solo-io/wasm/tree/master/spec
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Package the add_header filter (oci variant)
  wasm.oci.wasm_image_build:
    src: build/add_header.wasm
    layout: /srv/wasm/layout
    tag: "1.0.0"
    root_ids: [add_header]

- name: Package it as a compat image with a Docker v2 manifest, for a registry without custom media types
  wasm.oci.wasm_image_build:
    src: build/add_header.wasm
    layout: /srv/wasm/layout
    tag: 1.0.0-compat
    variant: compat
    compat_media_type: docker
    root_ids: [add_header]

- name: Package with extra runtime config and annotations
  wasm.oci.wasm_image_build:
    src: build/add_header.wasm
    layout: /srv/wasm/layout
    tag: "1.0.0"
    root_ids: [add_header]
    config:
      header_value: from-ansible
    annotations:
      org.opencontainers.image.source: https://git.example.com/filters/add_header
  register: built

- name: Show the manifest digest to pin
  ansible.builtin.debug:
    msg: "{{ built.image.digest }}"
"""

RETURN = r"""
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
from ansible_collections.wasm.oci.plugins.module_utils._image.builder import COMPAT_MEDIA_TYPES, VARIANTS, BuiltImageSource, build_image
from ansible_collections.wasm.oci.plugins.module_utils._image.reader import describe, describe_tag, resolve
from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import ENVOY_PROXY, new_runtime_config
from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import inspect_wasm
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import OciLayout, existing_layout, layout_reference, store_image
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import validate_tag


class WasmImageBuilder:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def _read_module_file(self) -> bytes:
        src = self.params['src']
        try:
            with open(src, 'rb') as stream:
                return stream.read()
        except OSError as exc:
            raise WasmOciError(f'Cannot read the module file src={src}: {exc.strerror}') from None

    def build(self) -> dict:
        layout_path, tag = self.params['layout'], validate_tag(self.params['tag'])
        module_bytes = self._read_module_file()
        wasm = inspect_wasm(module_bytes, self.params['src'])
        abi_versions = self.params['abi_versions']
        if abi_versions is None:
            abi_versions = list(wasm.abi_versions)
            if not abi_versions and self.params['runtime_type'] == ENVOY_PROXY:
                self.module.warn(
                    f"{self.params['src']} exports no proxy_abi_version_* function, so Envoy will refuse to load it; "
                    'is it a proxy-wasm module? Set abi_versions to silence this warning'
                )
        runtime = new_runtime_config(self.params['runtime_type'], abi_versions, self.params['root_ids'], self.params['config'])
        annotations = {str(key): str(value) for key, value in self.params['annotations'].items()}
        built = build_image(self.params['variant'], module_bytes, runtime, annotations, self.params['compat_media_type'])
        after_source = BuiltImageSource(built, layout_reference(layout_path, tag))
        after = describe(after_source, resolve(after_source))

        layout = existing_layout(layout_path)
        previous = layout.find(tag) if layout else None
        changed = (
            previous is None
            or previous.get('digest') != built.digest
            or not all(layout.has_blob(digest, len(data)) for digest, data in built.layout_blobs.items())
        )
        if changed and not self.module.check_mode:
            store_image(layout_path, tag, built.descriptor, built.layout_blobs)

        result = {'changed': changed, 'image': after.as_dict()}
        if self.module._diff:
            result['diff'] = {'before': self._describe_previous(layout, tag) if previous else {}, 'after': after.as_dict()}
        return result

    @staticmethod
    def _describe_previous(layout: OciLayout, tag: str) -> dict:
        """What the tag named before; a tag that held something other than a Wasm image is just replaced."""
        try:
            previous = describe_tag(layout, tag)
        except WasmOciError:
            return {'digest': layout.find(tag).get('digest')}
        return previous.as_dict() if previous else {}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type='path', required=True),
            layout=dict(type='path', required=True),
            tag=dict(type='str', default='latest'),
            variant=dict(type='str', default=VARIANTS[0], choices=list(VARIANTS)),
            compat_media_type=dict(type='str', default=COMPAT_MEDIA_TYPES[0], choices=list(COMPAT_MEDIA_TYPES)),
            runtime_type=dict(type='str', default=ENVOY_PROXY),
            root_ids=dict(type='list', elements='str', default=[]),
            abi_versions=dict(type='list', elements='str'),
            config=dict(type='dict', default={}),
            annotations=dict(type='dict', default={}),
        ),
        supports_check_mode=True,
    )
    try:
        result = WasmImageBuilder(module).build()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
