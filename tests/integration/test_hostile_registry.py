"""The modules against a hostile registry (harness/hostile_registry.py), run through Ansible.

Each test turns on one misbehaviour and runs wasm_image_pull, wasm_image_push or wasm_image_info with a
username and password. It asserts the protection that misbehaviour needs: a clear error (or success, where
the registry's behaviour is legitimate), no credential seen by the foreign host, no password, token, upload
state or URL signature anywhere in the result, bounded wall time and module memory, and after a failed pull
a dest byte-identical to what it was with no temporary file beside it. Each fails if its protection goes.
"""

from __future__ import annotations

import json
import pathlib
import time
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import connect, registry_argument_spec
from ansible_collections.wasm.oci.plugins.module_utils._registry.source import RegistrySource

from harness.hostile_registry import HostileRegistry, Misbehaviour, TlsFiles, WasmImage, make_tls_files, memory_probe
from harness.module_runner import run_module

TIMEOUT = 2
OLD_DEST = b'\0asm\x01\0\0\0 the module deployed before this pull; it must survive\n'
MIB = 1024 * 1024
# A module that read a 128 MiB body would grow by at least that much.
MEMORY_MARGIN = 48 * MIB


@pytest.fixture(scope='module')
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp('hostile-tls'))


@pytest.fixture(scope='module')
def image(sample_filter: pathlib.Path) -> WasmImage:
    return WasmImage.build(sample_filter.read_bytes())


@pytest.fixture(scope='module')
def probe(ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], t.Callable[[], int]]:
    return memory_probe(ansible_environment, tmp_path_factory.mktemp('probe'))


@pytest.fixture
def hostile(image: WasmImage, tls_files: TlsFiles) -> t.Iterator[t.Callable[..., HostileRegistry]]:
    started: list[HostileRegistry] = []

    def start(tls: bool = False, **misbehaviour: t.Any) -> HostileRegistry:
        registry = HostileRegistry(image, tls_files if tls else None, Misbehaviour(**misbehaviour)).start()
        started.append(registry)
        return registry

    yield start
    for registry in started:
        registry.stop()


@pytest.fixture
def dest(tmp_path: pathlib.Path) -> pathlib.Path:
    """A module file that a pull replaces, alone in its directory."""
    path = tmp_path / 'deployed' / 'filter.wasm'
    path.parent.mkdir()
    path.write_bytes(OLD_DEST)
    return path


@pytest.fixture(scope='module')
def baseline(image: WasmImage, tls_files: TlsFiles, probe: tuple[dict[str, str], t.Callable[[], int]],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[float, int]:
    """Wall time and module peak RSS of a good pull through Ansible."""
    registry = HostileRegistry(image, tls_files, Misbehaviour(auth='basic')).start()
    dest_path = tmp_path_factory.mktemp('baseline') / 'filter.wasm'
    try:
        result, elapsed = pull(registry, dest_path, probe[0])
    finally:
        registry.stop()
    assert not result['failed'], result
    assert dest_path.read_bytes() == image.module
    return elapsed, probe[1]()


def _options(registry: HostileRegistry, **extra: t.Any) -> dict[str, t.Any]:
    options = {'name': registry.reference, 'username': registry.username, 'password': registry.password,
               'timeout': TIMEOUT, 'plain_http': registry.tls is None, **extra}
    if registry.ca_path:
        options['ca_path'] = registry.ca_path
    return options


def pull(registry: HostileRegistry, dest_path: pathlib.Path, environment: dict[str, str]) -> tuple[dict[str, t.Any], float]:
    started = time.monotonic()
    result = run_module('wasm_image_pull', _options(registry, dest=str(dest_path)), environment)
    return result, time.monotonic() - started


@pytest.fixture(scope='module')
def layout(sample_filter: pathlib.Path, ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image built by wasm_image_build with another root id, so its config is a blob the registry lacks."""
    path = str(tmp_path_factory.mktemp('push-layout') / 'layout')
    built = run_module('wasm_image_build', {'src': str(sample_filter), 'layout': path, 'tag': 'v1', 'root_ids': ['pushed']},
                       ansible_environment)
    assert not built['failed'], built
    return path


def push(registry: HostileRegistry, layout_path: str, environment: dict[str, str]) -> dict[str, t.Any]:
    name = f'{registry.host}/{registry.image.repository}:pushed'
    return run_module('wasm_image_push', _options(registry, name=name, layout=layout_path, tag='v1'), environment)


def assert_no_secret(result: dict[str, t.Any], registry: HostileRegistry) -> None:
    text = json.dumps(result)
    for secret in registry.secrets():
        assert secret not in text, f'{secret!r} leaked into the result: {result}'


def assert_failed(result: dict[str, t.Any], phrase: str, registry: HostileRegistry) -> str:
    assert result['failed'], f'the task must fail, but it returned {result}'
    message = result.get('msg', '')
    assert 'MODULE FAILURE' not in message, f'the module crashed: {result}'
    assert 'module_stderr' not in result, f'the module crashed: {result}'
    assert phrase in message, f'expected {phrase!r} in the message: {message}'
    assert_no_secret(result, registry)
    return message


def assert_dest_untouched(dest_path: pathlib.Path) -> None:
    assert dest_path.read_bytes() == OLD_DEST, 'a failed pull must leave dest untouched'
    assert [path.name for path in dest_path.parent.iterdir()] == [dest_path.name], 'a failed pull must leave no file behind'


def assert_no_credentials_abroad(registry: HostileRegistry) -> None:
    assert all(seen.authorization is None for seen in registry.foreign_seen), registry.foreign_seen


# -- where credentials go --------------------------------------------------------------------------------


def test_an_upload_location_on_another_host_gets_no_credentials(hostile: t.Callable[..., HostileRegistry], layout: str,
                                                                ansible_environment: dict[str, str]) -> None:
    registry = hostile(True, auth='basic', upload_location='foreign')
    result = push(registry, layout, ansible_environment)
    assert not result['failed'], result
    assert [seen.method for seen in registry.foreign_seen if seen.path.startswith('/upload/')].count('PUT') >= 1
    assert_no_credentials_abroad(registry)
    assert any(seen.authorization == registry.basic_authorization for seen in registry.seen), 'the registry itself gets them'
    assert_no_secret(result, registry)


def test_an_upload_location_downgrading_to_http_is_refused(hostile: t.Callable[..., HostileRegistry], layout: str,
                                                           ansible_environment: dict[str, str]) -> None:
    registry = hostile(True, auth='basic', upload_location='foreign-http')
    message = assert_failed(push(registry, layout, ansible_environment), 'plain HTTP while the registry uses HTTPS', registry)
    assert registry.host in message
    assert registry.place_url('foreign-http') in message
    assert registry.foreign_seen == [], 'nothing may be sent to the downgraded Location'


def test_a_blob_redirect_to_another_host_gets_no_credentials(hostile: t.Callable[..., HostileRegistry], dest: pathlib.Path,
                                                             image: WasmImage, ansible_environment: dict[str, str]) -> None:
    registry = hostile(True, auth='bearer', blob_redirect='foreign')
    result, _elapsed = pull(registry, dest, ansible_environment)
    assert not result['failed'], result
    assert dest.read_bytes() == image.module
    assert any(seen.path.startswith('/cdn/') for seen in registry.foreign_seen)
    assert_no_credentials_abroad(registry)
    assert any(seen.authorization == f'Bearer {registry.token}' for seen in registry.seen)
    assert_no_secret(result, registry)


def test_a_blob_redirect_downgrading_to_http_is_refused(hostile: t.Callable[..., HostileRegistry], dest: pathlib.Path,
                                                        ansible_environment: dict[str, str]) -> None:
    registry = hostile(True, auth='bearer', blob_redirect='foreign-http')
    message = assert_failed(pull(registry, dest, ansible_environment)[0], 'plain HTTP while the registry uses HTTPS', registry)
    assert registry.host in message
    assert registry.foreign_seen == []
    assert_dest_untouched(dest)


def test_an_http_realm_is_refused_for_an_https_registry_even_anonymously(hostile: t.Callable[..., HostileRegistry],
                                                                         ansible_environment: dict[str, str]) -> None:
    registry = hostile(True, auth='bearer', realm='foreign-http')
    options = _options(registry)
    del options['username'], options['password']
    message = assert_failed(run_module('wasm_image_info', options, ansible_environment), 'plain HTTP while the registry uses HTTPS', registry)
    assert 'asks for a token from' in message
    assert registry.place_url('foreign-http') in message
    assert registry.foreign_seen == [], 'an http realm gets no request at all'


def test_a_realm_on_another_host_gets_no_credentials(hostile: t.Callable[..., HostileRegistry], dest: pathlib.Path, image: WasmImage,
                                                     ansible_environment: dict[str, str]) -> None:
    registry = hostile(True, auth='bearer', realm='foreign')
    result, _elapsed = pull(registry, dest, ansible_environment)
    assert not result['failed'], result
    assert dest.read_bytes() == image.module
    assert [seen.path.split('?')[0] for seen in registry.foreign_seen] == ['/token'], 'an anonymous token, asked once'
    assert_no_credentials_abroad(registry)


# -- what reaches a message ------------------------------------------------------------------------------


def test_a_token_with_crlf_is_refused_without_quoting_it(hostile: t.Callable[..., HostileRegistry], dest: pathlib.Path,
                                                         ansible_environment: dict[str, str]) -> None:
    registry = hostile(auth='bearer', token_answer='crlf')
    assert_failed(pull(registry, dest, ansible_environment)[0], 'characters an HTTP header cannot carry', registry)
    assert not any(seen.authorization and seen.authorization.startswith('Bearer') for seen in registry.seen)
    assert_dest_untouched(dest)


def test_a_token_service_error_body_is_not_quoted(hostile: t.Callable[..., HostileRegistry], ansible_environment: dict[str, str]) -> None:
    registry = hostile(auth='bearer', token_answer='echo')
    message = assert_failed(run_module('wasm_image_info', _options(registry), ansible_environment), 'answered HTTP 401 UNAUTHORIZED', registry)
    assert 'refused for' not in message, 'the token service body must not be copied into the message'


def test_credentials_quoted_by_the_registry_are_redacted(hostile: t.Callable[..., HostileRegistry], ansible_environment: dict[str, str]) -> None:
    registry = hostile(auth='bearer', echo_credentials=True)
    message = assert_failed(run_module('wasm_image_info', _options(registry), ansible_environment), 'HTTP 403 DENIED', registry)
    assert 'may not read this' in message, 'the rest of the registry message is kept'


# -- time ------------------------------------------------------------------------------------------------


def test_a_429_storm_with_a_huge_retry_after_is_bounded(hostile: t.Callable[..., HostileRegistry], dest: pathlib.Path,
                                                        baseline: tuple[float, int], ansible_environment: dict[str, str]) -> None:
    registry = hostile(storm_status=429, retry_after='100000')
    result, elapsed = pull(registry, dest, ansible_environment)
    assert_failed(result, 'HTTP 429', registry)
    assert elapsed - baseline[0] < 4 * TIMEOUT, f'{elapsed:.1f}s against {baseline[0]:.1f}s for a good pull'
    assert len([seen for seen in registry.seen if '/manifests/' in seen.path]) <= 4
    assert_dest_untouched(dest)


@pytest.mark.parametrize('where', ['headers', 'body'])
def test_a_trickling_registry_hits_the_deadline(where: str, hostile: t.Callable[..., HostileRegistry], dest: pathlib.Path,
                                                baseline: tuple[float, int], ansible_environment: dict[str, str]) -> None:
    """One byte every timeout - 1 seconds never trips the socket timeout; the request's deadline stops it."""
    registry = hostile(auth='basic', trickle=where, trickle_interval=TIMEOUT - 1)
    result, elapsed = pull(registry, dest, ansible_environment)
    assert_failed(result, 'did not finish answering within', registry)
    assert elapsed - baseline[0] < 4 * TIMEOUT, f'{elapsed:.1f}s against {baseline[0]:.1f}s for a good pull'
    assert_dest_untouched(dest)


# -- memory ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(('case', 'misbehaviour', 'phrase'), [
    ('error-body', {'huge_error_status': 400}, 'HTTP 400'),
    ('token-body', {'auth': 'bearer', 'token_answer': 'huge'}, 'sent more than 65536 bytes'),
    ('blob-declared-longer', {'blob_body': 'long-declared'}, 'announces'),
    ('blob-longer-undeclared', {'blob_body': 'long-undeclared'}, 'is larger than'),
    ('blob-other-bytes', {'blob_body': 'other-bytes'}, 'has digest'),
], ids=lambda value: value if isinstance(value, str) and ' ' not in value else '')
def test_huge_and_lying_bodies_are_refused_in_bounded_memory(case: str, misbehaviour: dict[str, t.Any], phrase: str,
                                                             hostile: t.Callable[..., HostileRegistry], dest: pathlib.Path,
                                                             baseline: tuple[float, int],
                                                             probe: tuple[dict[str, str], t.Callable[[], int]]) -> None:
    registry = hostile(**misbehaviour)
    result, _elapsed = pull(registry, dest, probe[0])
    assert_failed(result, phrase, registry)
    peak = probe[1]()
    assert peak - baseline[1] < MEMORY_MARGIN, f'{case}: module peak RSS {peak // MIB} MiB against {baseline[1] // MIB} MiB for a good pull'
    assert_dest_untouched(dest)


# -- at the library level: cases whose module-level outcome adds nothing, without Ansible's start-up time --


def _client(registry: HostileRegistry, sleeps: list[float]) -> RegistryClient:
    params = {name: spec.get('default') for name, spec in registry_argument_spec().items()}
    params.update(_options(registry))
    client = connect(parse_reference(registry.reference), params, lambda args, data: (1, '', 'no helpers here'))
    client.sender.sleep = sleeps.append
    return client


def _read_image(client: RegistryClient) -> bytes:
    source = RegistrySource(client)
    root = source.root_descriptor()
    assert root is not None
    manifest = json.loads(source.read_manifest(root))
    layer = manifest['layers'][-1]
    with source.open_blob(layer, 'the module layer') as reader:
        data = reader.read(layer['size'] + 1)
        reader.verify()
    return data


def test_a_realm_on_the_registry_host_gets_the_credentials(hostile: t.Callable[..., HostileRegistry], image: WasmImage) -> None:
    """The control for the realm tests: the credentials do go to a token service on the registry's own host."""
    registry = hostile(True, auth='bearer', realm='own')
    assert _read_image(_client(registry, [])) == image.module
    assert any(seen.path.startswith('/token') and seen.authorization == registry.basic_authorization for seen in registry.seen)


def test_a_challenge_without_a_realm_is_a_clear_error(hostile: t.Callable[..., HostileRegistry]) -> None:
    registry = hostile(auth='bearer', realm='none')
    with pytest.raises(RegistryError, match='bearer challenge without a realm'):
        _client(registry, []).head_manifest('1')


def test_a_broken_redirect_target_leaks_no_signature(hostile: t.Callable[..., HostileRegistry]) -> None:
    """The HTTP library's own error text quotes the URL, signature and all; the message must not."""
    registry = hostile(auth='bearer', blob_redirect='closed')
    sleeps: list[float] = []
    with pytest.raises(RegistryError, match='cannot reach') as caught:
        _read_image(_client(registry, sleeps))
    assert len(sleeps) == 3
    assert max(sleeps) <= TIMEOUT
    assert '/cdn/' in str(caught.value), 'the message still says where'
    assert not any(secret in str(caught.value) for secret in registry.secrets()), str(caught.value)
    assert_no_credentials_abroad(registry)
