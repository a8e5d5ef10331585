# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re
import textwrap

# Which registry each per-side option of a module that talks to two registries (wasm_image_copy) connects to.
_SIDES = {
    'src_registry': 'How to connect to the registry of O(src). Not used for a local layout.',
    'dest_registry': 'How to connect to the registry of O(dest). Not used for a local layout. The credentials need push access.',
}


def _per_side(documentation: str) -> str:
    """The options of ``documentation`` once per side, as suboptions of a dict: one text documents both forms."""
    options = documentation.split('options:\n', 1)[1].split('requirements:\n', 1)[0]
    names = '|'.join(re.findall(r'^  (\w+):$', options, re.MULTILINE))
    sides = []
    for side, description in _SIDES.items():
        suboptions = re.sub(rf'O\(({names})\b', rf'O({side}.\1', options)
        sides.append(f'  {side}:\n    description:\n      - {description}\n    type: dict\n    suboptions:\n'
                     + textwrap.indent(suboptions, '    '))
    return 'options:\n' + ''.join(sides) + 'requirements:' + documentation.split('requirements:', 1)[1]


class ModuleDocFragment:
    """Options for connecting to an OCI registry."""

    DOCUMENTATION = r"""
options:
  username:
    description:
      - User name for the registry. Without it, credentials come from Docker's C(config.json) (C($DOCKER_CONFIG/config.json),
        else C(~/.docker/config.json)), including C(credHelpers) and C(credsStore) through the
        C(docker-credential-*) helpers, else the registry is used anonymously.
      - With registries that use token authentication (GHCR, Quay, Harbor, ECR), give the user name and a token or
        password; the token exchange and the scope upgrade from pull to push happen automatically.
    type: str
  password:
    description:
      - Password or access token for O(username).
    type: str
  validate_certs:
    description:
      - Verify the registry's TLS certificate, against O(ca_path) when given, else against the CA bundle that
        C(REQUESTS_CA_BUNDLE) or C(CURL_CA_BUNDLE) names on the host running the task, else against the one requests
        ships (certifi).
    type: bool
    default: true
    aliases: [tls_verify]
  ca_path:
    description:
      - PEM file of the CA that signed the registry's certificate, for registries with a private CA.
    type: path
  client_cert:
    description:
      - PEM client certificate for registries that require mutual TLS. Needs O(client_key).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert).
    type: path
  plain_http:
    description:
      - Talk to the registry over plain HTTP, for registries without TLS.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each connection and each read from the registry. A whole request may take at most twice
        this, plus the time its body needs at 16 KiB/s, so a server that trickles its answer fails instead of hanging.
      - Connection errors, HTTP 429 and HTTP 5xx answers are retried up to three times with backoff (honouring
        C(Retry-After), but never waiting longer than this timeout or 10 seconds); other errors fail at once.
      - Credentials (O(password), tokens) are only ever sent to the registry's own scheme, host and port, and to its
        token service on the same host or a sibling host of the same parent domain. Upload locations and download
        redirects elsewhere get requests without credentials; anything that would move from HTTPS to HTTP, or to a
        link-local or cloud metadata address, is refused. See C(docs/security.md) in the collection.
      - Requests go through the proxy that C(https_proxy), C(http_proxy) or C(all_proxy) names for the registry on the
        host running the task, unless C(no_proxy) covers it, read as requests reads them.
    type: float
    default: 30
requirements:
  - requests
  - PySocks for a SOCKS proxy (C(all_proxy=socks5://...)) only
"""


# Both sides of a copy, each with the options above: extends_documentation_fragment wasm.oci.registry.per_side.
# Set after the class, whose body ansible-test's yamllint reads as literal strings only.
ModuleDocFragment.PER_SIDE = _per_side(ModuleDocFragment.DOCUMENTATION)
