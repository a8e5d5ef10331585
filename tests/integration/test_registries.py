"""Self-tests of the registry harness (harness/registries.py): each kind of registry works with real clients."""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import time

import pytest
import requests

from harness.registries import FaultyFront, OciImage, Registry, fetch_bearer_token, parse_challenge, registry_request, skopeo_inspect_raw, start_registry
from harness.token_service import TokenService

KINDS = ['plain', 'basic', 'tls', 'token']


@pytest.fixture(params=KINDS)
def any_registry(request: pytest.FixtureRequest) -> Registry:
    return request.getfixturevalue(f'registry_{request.param}')


def test_v2_plain_answers(registry_plain: Registry) -> None:
    response = requests.get(f'{registry_plain.url}/v2/', verify=registry_plain.verify, timeout=10)
    assert response.status_code == 200
    assert response.headers['Docker-Distribution-API-Version'] == 'registry/2.0'
    assert registry_plain.plain_http
    assert registry_plain.url.startswith('http://127.0.0.1:')


def test_v2_basic_needs_credentials(registry_basic: Registry) -> None:
    url = f'{registry_basic.url}/v2/'
    anonymous = requests.get(url, verify=registry_basic.verify, timeout=10)
    assert anonymous.status_code == 401
    assert parse_challenge(anonymous.headers['WWW-Authenticate'])[0] == 'basic'
    wrong = requests.get(url, auth=(registry_basic.username, 'wrong'), verify=registry_basic.verify, timeout=10)
    assert wrong.status_code == 401
    right = requests.get(url, auth=(registry_basic.username, registry_basic.password), verify=registry_basic.verify, timeout=10)
    assert right.status_code == 200


def test_v2_tls_is_verified_against_its_ca(registry_tls: Registry) -> None:
    assert not registry_tls.plain_http
    assert registry_tls.url.startswith('https://')
    assert registry_tls.ca_path is not None
    assert registry_tls.cert_dir is not None
    assert [path.name for path in registry_tls.cert_dir.iterdir()] == ['ca.crt']
    response = requests.get(f'{registry_tls.url}/v2/', verify=registry_tls.verify, timeout=10)
    assert response.status_code == 200
    localhost = registry_tls.url.replace('127.0.0.1', 'localhost')
    assert requests.get(f'{localhost}/v2/', verify=registry_tls.verify, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f'{registry_tls.url}/v2/', verify=True, timeout=10)  # the system bundle lacks the test CA


def test_v2_token_challenge_and_token(registry_token: Registry, token_service: TokenService) -> None:
    anonymous = requests.get(f'{registry_token.url}/v2/', verify=registry_token.verify, timeout=10)
    assert anonymous.status_code == 401
    scheme, params = parse_challenge(anonymous.headers['WWW-Authenticate'])
    assert scheme == 'bearer'
    assert params['realm'] == token_service.realm
    assert params['service'] == token_service.service
    assert registry_request(registry_token, 'GET', '/v2/').status_code == 200


def test_token_service_enforces_scopes(registry_token: Registry, registry_token_reader: Registry, token_service: TokenService) -> None:
    challenge = {'realm': token_service.realm, 'service': token_service.service}
    scope = 'repository:harness/scopes:pull,push'

    def access(username: str | None, password: str | None) -> list[dict]:
        response = fetch_bearer_token(challenge, [scope], username, password)
        assert response.status_code == 200, response.text
        payload = response.json()['token'].split('.')[1]
        return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))['access']

    assert access(registry_token.username, registry_token.password) == [
        {'type': 'repository', 'name': 'harness/scopes', 'actions': ['pull', 'push']}]
    assert access(registry_token_reader.username, registry_token_reader.password) == [
        {'type': 'repository', 'name': 'harness/scopes', 'actions': ['pull']}]
    assert not access(None, None)
    assert fetch_bearer_token(challenge, [scope], 'reader', 'wrong').status_code == 401
    assert fetch_bearer_token(challenge, [scope], 'nobody', 'x').status_code == 401


@pytest.mark.parametrize('kind', KINDS)
def test_skopeo_round_trip(kind: str, request: pytest.FixtureRequest, push_with_skopeo, tiny_oci_image: OciImage) -> None:
    registry: Registry = request.getfixturevalue(f'registry_{kind}')
    push_with_skopeo(registry, tiny_oci_image.ref, f'harness/{kind}:v1')
    served = skopeo_inspect_raw(registry, f'harness/{kind}:v1').stdout.encode()
    assert served == tiny_oci_image.manifest
    by_digest = skopeo_inspect_raw(registry, f'harness/{kind}@{tiny_oci_image.manifest_digest}').stdout.encode()
    assert hashlib.sha256(by_digest).hexdigest() == tiny_oci_image.manifest_digest.split(':', 1)[1]
    manifest = registry_request(registry, 'GET', f'/v2/harness/{kind}/manifests/v1',
                                headers={'Accept': 'application/vnd.oci.image.manifest.v1+json'})
    assert manifest.status_code == 200
    assert manifest.headers['Docker-Content-Digest'] == tiny_oci_image.manifest_digest


def test_token_reader_pulls_but_cannot_push(registry_token: Registry, registry_token_reader: Registry, push_with_skopeo,
                                            tiny_oci_image: OciImage) -> None:
    push_with_skopeo(registry_token, tiny_oci_image.ref, 'harness/readonly:v1')
    pulled = skopeo_inspect_raw(registry_token_reader, 'harness/readonly:v1')
    assert pulled.stdout.encode() == tiny_oci_image.manifest
    denied = push_with_skopeo(registry_token_reader, tiny_oci_image.ref, 'harness/readonly:v2', check=False)
    assert denied.returncode != 0
    assert 'unauthorized' in denied.stderr.lower() or 'denied' in denied.stderr.lower(), denied.stderr
    # At the HTTP level: the reader's token for pull,push holds only pull, so an upload is refused.
    upload = registry_request(registry_token_reader, 'POST', '/v2/harness/readonly/blobs/uploads/',
                              scope='repository:harness/readonly:pull,push')
    assert upload.status_code == 401
    assert 'insufficient_scope' in upload.headers.get('WWW-Authenticate', '')
    assert skopeo_inspect_raw(registry_token_reader, 'harness/readonly:v2', check=False).returncode != 0


def test_token_anonymous_gets_nothing(registry_token: Registry, registry_token_anonymous: Registry, push_with_skopeo,
                                      tiny_oci_image: OciImage) -> None:
    push_with_skopeo(registry_token, tiny_oci_image.ref, 'harness/private:v1')
    assert skopeo_inspect_raw(registry_token_anonymous, 'harness/private:v1', check=False).returncode != 0
    response = registry_request(registry_token_anonymous, 'GET', '/v2/harness/private/manifests/v1')
    assert response.status_code == 401


def test_faulty_front_fails_first_requests_then_forwards(faulty_front) -> None:
    front: FaultyFront = faulty_front(2, retry_after=1, match=r'^GET /v2/$')
    registry = front.registry
    assert registry.kind == 'faulty'
    assert registry.plain_http
    statuses = []
    for _attempt in range(3):
        response = requests.get(f'{registry.url}/v2/', verify=registry.verify, timeout=10)
        statuses.append((response.status_code, response.headers.get('Retry-After')))
    assert statuses == [(503, '1'), (503, '1'), (200, None)]
    assert response.json() == {}
    assert front.failures == 2
    assert [status for _method, _path, status in front.log] == [503, 503, 200]
    assert front.log_path.read_text(encoding='utf-8').count('-> 503') == 2


def test_faulty_front_matches_only_its_pattern(faulty_front, tiny_oci_image: OciImage, push_with_skopeo) -> None:
    front: FaultyFront = faulty_front(1, match=r'^PUT /v2/.*/manifests/')
    assert requests.get(f'{front.registry.url}/v2/', verify=True, timeout=10).status_code == 200
    failed = push_with_skopeo(front.registry, tiny_oci_image.ref, 'harness/front:v1', check=False)
    assert failed.returncode != 0
    assert '503' in failed.stderr + failed.stdout
    assert front.failures == 1
    push_with_skopeo(front.registry, tiny_oci_image.ref, 'harness/front:v1')  # a real push through the proxy
    assert skopeo_inspect_raw(front.registry, 'harness/front:v1').stdout.encode() == tiny_oci_image.manifest


def test_faulty_front_can_drop_connections(faulty_front) -> None:
    front: FaultyFront = faulty_front(1, mode='reset')
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f'{front.registry.url}/v2/', verify=True, timeout=10)
    assert requests.get(f'{front.registry.url}/v2/', verify=True, timeout=10).status_code == 200


def test_registry_down_refuses_connections(registry_down: Registry) -> None:
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f'{registry_down.url}/v2/', verify=registry_down.verify, timeout=10)
    assert time.monotonic() - started < 5


def test_start_failure_reports_the_log_tail(tmp_path: pathlib.Path) -> None:
    with pytest.raises(pytest.fail.Exception) as failure:
        start_registry('broken', tmp_path, auth={'nosuchauth': {}}, ready_timeout=10)
    message = str(failure.value)
    assert 'broken registry' in message
    assert 'exited with status' in message
    assert 'nosuchauth' in message  # from Distribution's own log


def test_faulty_front_answers_502_when_its_registry_is_down(faulty_front, registry_down: Registry) -> None:
    front: FaultyFront = faulty_front(0, upstream=registry_down)
    response = requests.get(f'{front.registry.url}/v2/', verify=True, timeout=10)
    assert response.status_code == 502
    assert front.log == [('GET', '/v2/', 502)]
