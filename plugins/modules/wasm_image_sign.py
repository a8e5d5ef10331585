#!/usr/bin/python
# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wasm_image_sign
short_description: Sign a Wasm image in its registry with a cosign-compatible key-based signature
version_added: 1.0.0
description:
  - Signs the image O(name) in its registry with an ECDSA P-256 private key, the way C(cosign sign --key) does, so
    C(cosign verify --key) and the O(wasm.oci.wasm_image_pull#module:verify_keys) option of the pull and info modules
    accept it.
  - A tag is resolved once, and the manifest digest it names is what is signed (for an index, the index digest).
  - The signature is stored as cosign stores it, in the manifest tagged C(sha256-<hex of the digest>.sig) in the image's
    repository, one layer per signature. The layer's blob is the simple-signing payload naming the repository and the
    digest, with O(annotations) as its C(optional) part. The base64 DER signature is the layer's
    C(dev.cosignproject.cosign/signature) annotation.
  - Signatures by other keys are kept, so several signers (CI and a release manager) can sign one image. When a
    signature by this key over the same digest, repository and O(annotations) is there already, nothing changes.
  - Only images in a registry can be signed, as with cosign. Push an image from a local layout with
    M(wasm.oci.wasm_image_push) first.
  - Keyless signing (Fulcio certificates), Rekor transparency log entries and Notation signatures are not supported.
extends_documentation_fragment:
  - wasm.oci.attributes
  - wasm.oci.attributes.actiongroup_registry
  - wasm.oci.registry
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the image and its signatures, and reports whether a signature would be added.
  diff_mode:
    support: full
    details:
      - The diff lists the payload digests of the signature layers before and after.
options:
  name:
    description:
      - The image to sign, as C(registry/repository[:tag]) or C(registry/repository@sha256:<manifest digest>).
    type: str
    required: true
  key:
    description:
      - The ECDSA P-256 private key, as a path to a PEM file (PKCS#8, or the traditional OpenSSL C(EC PRIVATE KEY)
        form), optionally encrypted.
      - Make one with C(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem), and its public
        key with C(openssl pkey -in key.pem -pubout -out key.pub).
      - Keys in cosign's own encrypted format (from C(cosign generate-key-pair)) are refused; only cosign reads them.
    type: path
    required: true
  key_passphrase:
    description:
      - The passphrase of an encrypted O(key).
    type: str
  annotations:
    description:
      - Claims to sign along with the image, such as the pipeline or commit that built it; cosign's C(-a key=value).
      - Values are strings. They are visible to anyone who can read the repository.
    type: dict
    default: {}
seealso:
  - module: wasm.oci.wasm_image_push
  - module: wasm.oci.wasm_image_pull
  - module: wasm.oci.wasm_image_info
author:
  - wasm.oci developers (@wasm-oci)
"""

EXAMPLES = r"""
- name: Sign the image CI just pushed, naming the pipeline
  wasm.oci.wasm_image_sign:
    name: registry.example.com/filters/add_header:1.0.0
    key: /run/secrets/signing-key.pem
    key_passphrase: "{{ signing_key_passphrase }}"
    annotations:
      pipeline: "{{ lookup('env', 'CI_PIPELINE_ID') }}"
  register: signed

- name: Pin the rollout to exactly what was signed
  ansible.builtin.debug:
    msg: "image: registry.example.com/filters/add_header@{{ signed.digest }}"

- name: Pull it only if one of the trusted keys signed it
  wasm.oci.wasm_image_pull:
    name: registry.example.com/filters/add_header@{{ signed.digest }}
    dest: /var/lib/envoy/wasm/add_header.wasm
    verify_keys:
      - /etc/wasm-oci/ci-signing.pub
"""

RETURN = r"""
digest:
  description: The manifest digest that was signed (the index digest when O(name) names an index).
  returned: success
  type: str
  sample: sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
signature_tag:
  description: The tag of the manifest holding the image's signatures, in the image's repository.
  returned: success
  type: str
  sample: sha256-6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b.sig
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._oci.layout_name import is_layout_name
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import REGISTRY_REQUIRED_TOGETHER, registry_argument_spec, registry_client
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signer import check_annotations, sign_image
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import load_private_key


class WasmImageSigner:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def sign(self) -> dict:
        name = self.params['name']
        if is_layout_name(name):
            raise WasmOciError(f'name {name} is an image in a local layout; only images in a registry are signed, as cosign '
                               'signs them. Push it first (wasm.oci.wasm_image_push), then sign the pushed image')
        if self.params['key'].lstrip().startswith('-----BEGIN'):
            # key is not no_log (a path is no secret), so its text would be logged with the task's arguments.
            raise WasmOciError('key takes the path of the private key file, not the key itself, which would be logged '
                               'with the task\'s arguments; write it to a file readable only by you and give its path')
        reference = parse_reference(name)
        annotations = check_annotations(self.params['annotations'])
        key = load_private_key(self.params['key'], self.params['key_passphrase'], 'key')
        outcome = sign_image(registry_client(self.module, reference), key, annotations, self.module.check_mode)
        result = {'changed': outcome.changed, 'digest': outcome.digest, 'signature_tag': outcome.signature_tag}
        if self.module._diff:
            result['diff'] = {'before': {'signatures': outcome.before}, 'after': {'signatures': outcome.after}}
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            key=dict(type='path', required=True, no_log=False),
            key_passphrase=dict(type='str', no_log=True),
            annotations=dict(type='dict', default={}),
            **registry_argument_spec(),
        ),
        required_together=REGISTRY_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    try:
        result = WasmImageSigner(module).sign()
    except WasmOciError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
