# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The health check a change must pass once Envoy applied it: one HTTP request, judged by status and headers."""

from __future__ import annotations

import dataclasses
import http.client
import time
import typing as t
import urllib.error

_PROBE_INTERVAL = 0.25


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    """A request that must answer ``status`` with ``headers`` (names case-insensitive) within ``timeout`` seconds."""

    url: str
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    timeout: float = 10.0

    @classmethod
    def from_params(cls, params: dict[str, t.Any] | None) -> HealthCheck | None:
        if not params:
            return None
        return cls(url=params['url'], status=params['status'], headers={str(k): str(v) for k, v in params['headers'].items()},
                   timeout=params['timeout'])


def probe(check: HealthCheck, timeout: float = 5.0) -> str | None:
    """None when ``check`` passes once; otherwise what was wrong with the answer."""
    # Imported here: Ansible's URL helper (TLS, proxies) takes a while to load, and most runs change nothing to check.
    from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel

    try:
        with open_url(check.url, timeout=timeout, use_proxy=False, follow_redirects='none') as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        return f'{check.url} did not answer: {getattr(exc, "reason", exc)}'
    if status != check.status:
        return f'{check.url} answered {status}, not {check.status}'
    for name, expected in check.headers.items():
        actual = headers.get(name)
        if actual != expected:
            return f'{check.url} answered header {name}: {actual!r}, not {expected!r}'
    return None


def wait_healthy(check: HealthCheck, clock: t.Callable[[], float] = time.monotonic,
                 sleep: t.Callable[[float], None] = time.sleep) -> str | None:
    """Probe until ``check`` passes (None) or its timeout runs out (what was wrong the last time)."""
    deadline = clock() + check.timeout
    while True:
        problem = probe(check)
        if problem is None or clock() >= deadline:
            return problem
        sleep(_PROBE_INTERVAL)
