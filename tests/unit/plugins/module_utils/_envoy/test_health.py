# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import dataclasses
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._envoy.health import HealthCheck, probe


@pytest.mark.parametrize(('answer', 'check', 'problem'), [
    pytest.param({'headers': {'X-Version': 'v2'}}, HealthCheck('', 200, {'x-version': 'v2'}), None, id='header-names-ignore-case'),
    pytest.param({'status': 503}, HealthCheck(''), '{url} answered 503, not 200', id='status'),
    pytest.param({'headers': {'X-Version': 'v1'}}, HealthCheck('', 200, {'X-Version': 'v2'}),
                 "{url} answered header X-Version: 'v1', not 'v2'", id='header-value'),
    pytest.param({}, HealthCheck('', 200, {'X-Version': 'v2'}), "{url} answered header X-Version: None, not 'v2'",
                 id='header-missing'),
    pytest.param({'status': 500, 'headers': {'X-Version': 'v2'}}, HealthCheck('', 500, {'x-version': 'v2'}), None,
                 id='expected-error-status'),
    pytest.param({'status': 302, 'headers': {'Location': '/elsewhere'}}, HealthCheck('', 302), None, id='redirect-expected'),
    pytest.param({'status': 302, 'headers': {'Location': '/elsewhere'}}, HealthCheck(''), '{url} answered 302, not 200',
                 id='redirect-not-followed'),
])
def test_probe(service: t.Any, answer: dict[str, t.Any], check: HealthCheck, problem: str | None) -> None:
    service.answer('/healthz', **answer)
    url = service.url('/healthz')
    assert probe(dataclasses.replace(check, url=url)) == (problem and problem.format(url=url))
    assert service.requests == ['/healthz']


def test_probe_of_a_closed_port_says_it_did_not_answer(refused_address: str) -> None:
    url = f'http://{refused_address}/healthz'
    problem = probe(HealthCheck(url), timeout=1)
    assert problem is not None
    assert problem.startswith(f'{url} did not answer: ')


@pytest.mark.parametrize('answer', [
    pytest.param({'raw': b'garbage\r\n\r\n'}, id='not-http'),
    pytest.param({'delay': 1.0}, id='too-slow'),
])
def test_probe_of_a_service_that_does_not_answer_http_in_time_says_so(service: t.Any, answer: dict[str, t.Any]) -> None:
    service.answer('/healthz', **answer)
    url = service.url('/healthz')
    problem = probe(HealthCheck(url), timeout=0.3)
    assert problem is not None
    assert problem.startswith(f'{url} did not answer: ')


def test_health_check_from_module_parameters() -> None:
    assert HealthCheck.from_params(None) is None
    assert HealthCheck.from_params({}) is None
    check = HealthCheck.from_params({'url': 'http://127.0.0.1:10000/', 'status': 204, 'headers': {'X-Version': 2}, 'timeout': 3.5})
    assert check == HealthCheck('http://127.0.0.1:10000/', 204, {'X-Version': '2'}, 3.5)
