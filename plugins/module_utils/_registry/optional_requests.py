# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""requests (and its urllib3), the managed host's optional package for talking to registries, and PySocks, which
urllib3 needs for a SOCKS proxy, imported here and nowhere else (documented in the wasm.oci.registry doc fragment).
Each optional package has a file of its own beside the code that needs it, so a module that never talks to a registry
does not pay for importing requests."""

from __future__ import annotations

import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import MissingDependency

try:
    import requests
    import urllib3
except ImportError:
    requests = urllib3 = None  # type: ignore[assignment]
    HAS_REQUESTS = False
else:
    HAS_REQUESTS = True


def require_requests() -> None:
    if not HAS_REQUESTS:
        raise MissingDependency('requests', 'Talking to a registry')


def socks_proxy_manager() -> t.Any:
    """urllib3's manager of connections through a SOCKS proxy, which needs PySocks: imported only for such a proxy."""
    try:
        from urllib3.contrib.socks import SOCKSProxyManager  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise MissingDependency('PySocks', 'Talking to a registry through the SOCKS proxy the environment names') from None
    return SOCKSProxyManager


__all__ = ['HAS_REQUESTS', 'require_requests', 'requests', 'socks_proxy_manager', 'urllib3']
