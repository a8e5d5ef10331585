# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import base64
import json
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import DOCKER_HUB
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import Credentials, docker_config_path, lookup_credentials

REGISTRY = 'registry.example.com'
HUB_SERVER = 'https://index.docker.io/v1/'


class FakeRunner:
    """A CommandRunner that records its calls and answers with fixed (rc, stdout, stderr)."""

    def __init__(self, rc: int = 0, stdout: str = '', stderr: str = '', raises: OSError | None = None) -> None:
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.raises = raises
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, args: list[str], data: str) -> tuple[int, str, str]:
        self.calls.append((list(args), data))
        if self.raises is not None:
            raise self.raises
        return self.rc, self.stdout, self.stderr


def _secret_answer(username: str = 'helper-user', secret: str = 'helper-secret') -> str:
    return json.dumps({'ServerURL': REGISTRY, 'Username': username, 'Secret': secret})


def _auth(username: str, password: str) -> str:
    return base64.b64encode(f'{username}:{password}'.encode()).decode()


def _write_config(directory: pathlib.Path, config: t.Any) -> str:
    path = directory / 'config.json'
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return str(path)


def _no_runner(args: list[str], data: str) -> tuple[int, str, str]:
    raise AssertionError(f'no credential helper should run, but {args} was run')


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the Docker config of whoever runs the tests."""
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.delenv('DOCKER_CONFIG', raising=False)


# -- docker_config_path -------------------------------------------------------------


def test_docker_config_path_prefers_docker_config() -> None:
    assert docker_config_path({'DOCKER_CONFIG': '/etc/docker-conf', 'HOME': '/home/someone'}) == '/etc/docker-conf/config.json'


def test_docker_config_path_reads_os_environ_by_default(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DOCKER_CONFIG', str(tmp_path / 'conf'))
    assert docker_config_path() == str(tmp_path / 'conf' / 'config.json')


@pytest.mark.parametrize('docker_config', [None, ''], ids=['unset', 'empty'])
def test_docker_config_path_falls_back_to_home(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, docker_config: str | None,
) -> None:
    home = tmp_path / 'someone'
    monkeypatch.setenv('HOME', str(home))
    if docker_config is not None:
        monkeypatch.setenv('DOCKER_CONFIG', docker_config)
    assert docker_config_path() == str(home / '.docker' / 'config.json')


def test_docker_config_path_uses_home_of_the_given_environ() -> None:
    # The mapping passed in is the environment to use, for HOME as much as for DOCKER_CONFIG.
    assert docker_config_path({'HOME': '/home/someone'}) == '/home/someone/.docker/config.json'


def test_lookup_uses_docker_config_directory_by_default(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DOCKER_CONFIG', str(tmp_path))
    _write_config(tmp_path, {'auths': {REGISTRY: {'auth': _auth('alice', 's3cret')}}})
    found = lookup_credentials(REGISTRY, _no_runner)
    assert found == Credentials('alice', 's3cret', str(tmp_path / 'config.json'))


# -- auths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('entry', 'username', 'password'),
    [
        ({'auth': _auth('alice', 's3cret')}, 'alice', 's3cret'),
        ({'auth': _auth('alice', 'pass:with:colons')}, 'alice', 'pass:with:colons'),
        ({'username': 'bob', 'password': 'hunter2'}, 'bob', 'hunter2'),
        ({'identitytoken': 'refresh-token'}, '<token>', 'refresh-token'),
        ({'identitytoken': 'refresh-token', 'auth': _auth('alice', 's3cret')}, '<token>', 'refresh-token'),
        ({'username': 'bob', 'password': 'hunter2', 'auth': _auth('alice', 's3cret')}, 'bob', 'hunter2'),
    ],
    ids=['auth', 'auth-colons-in-password', 'username-password', 'identitytoken', 'identitytoken-wins', 'fields-win'],
)
def test_lookup_reads_auths_entry(tmp_path: pathlib.Path, entry: dict[str, str], username: str, password: str) -> None:
    path = _write_config(tmp_path, {'auths': {REGISTRY: entry}})
    found = lookup_credentials(REGISTRY, _no_runner, path)
    assert found == Credentials(username, password, path)


@pytest.mark.parametrize(
    'key', [REGISTRY, f'https://{REGISTRY}', f'http://{REGISTRY}', f'https://{REGISTRY}/v1/', f'https://{REGISTRY}/v2/'],
)
def test_lookup_matches_the_key_spellings_docker_writes(tmp_path: pathlib.Path, key: str) -> None:
    path = _write_config(tmp_path, {'auths': {key: {'auth': _auth('alice', 's3cret')}}})
    assert lookup_credentials(REGISTRY, _no_runner, path) == Credentials('alice', 's3cret', path)


@pytest.mark.parametrize('key', [HUB_SERVER, 'index.docker.io', 'docker.io', 'registry-1.docker.io'])
def test_lookup_docker_hub_aliases(tmp_path: pathlib.Path, key: str) -> None:
    path = _write_config(tmp_path, {'auths': {key: {'auth': _auth('hubber', 'hubpass')}}})
    assert lookup_credentials(DOCKER_HUB, _no_runner, path) == Credentials('hubber', 'hubpass', path)


def test_lookup_docker_hub_entry_does_not_leak_to_other_registries(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'auths': {HUB_SERVER: {'auth': _auth('hubber', 'hubpass')}}})
    assert lookup_credentials(REGISTRY, _no_runner, path) is None


@pytest.mark.parametrize('key', ['localhost:5000', 'http://localhost:5000', 'https://localhost:5000'])
def test_lookup_registry_with_port(tmp_path: pathlib.Path, key: str) -> None:
    path = _write_config(tmp_path, {'auths': {key: {'username': 'local', 'password': 'pw'}}})
    assert lookup_credentials('localhost:5000', _no_runner, path) == Credentials('local', 'pw', path)


def test_lookup_port_is_part_of_the_registry(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'auths': {
        'localhost': {'username': 'no-port', 'password': 'pw'},
        'localhost:5001': {'username': 'other-port', 'password': 'pw'},
    }})
    assert lookup_credentials('localhost:5000', _no_runner, path) is None


@pytest.mark.parametrize(
    'config',
    [
        {},
        {'auths': {}},
        {'auths': {'other.example.com': {'auth': _auth('alice', 's3cret')}}},
        {'auths': {REGISTRY: {}}},
        {'auths': {REGISTRY: 'not an object'}},
        {'auths': {REGISTRY: {'username': 'only-a-user'}}},
        {'auths': ['not', 'an', 'object']},
        {'auths': None, 'credHelpers': None, 'credsStore': ''},
    ],
    ids=['empty', 'empty-auths', 'other-registry', 'empty-entry', 'entry-not-object', 'no-password', 'auths-list', 'nulls'],
)
def test_lookup_without_usable_entry_is_anonymous(tmp_path: pathlib.Path, config: dict[str, t.Any]) -> None:
    path = _write_config(tmp_path, config)
    assert lookup_credentials(REGISTRY, _no_runner, path) is None


# -- credHelpers and credsStore -------------------------------------------------------


def test_cred_helper_is_run_with_get_and_the_server_on_stdin(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {
        'credHelpers': {REGISTRY: 'ecr-login'},
        'auths': {REGISTRY: {'auth': _auth('ignored', 'ignored')}},
    })
    runner = FakeRunner(stdout=_secret_answer())
    found = lookup_credentials(REGISTRY, runner, path)
    assert found == Credentials('helper-user', 'helper-secret', 'docker-credential-ecr-login')
    assert runner.calls == [(['docker-credential-ecr-login', 'get'], REGISTRY)]


@pytest.mark.parametrize('key', [HUB_SERVER, 'docker.io', 'index.docker.io'])
def test_cred_helper_for_docker_hub_gets_the_hub_server_url(tmp_path: pathlib.Path, key: str) -> None:
    path = _write_config(tmp_path, {'credHelpers': {key: 'pass'}})
    runner = FakeRunner(stdout=_secret_answer('hubber', 'tok'))
    assert lookup_credentials(DOCKER_HUB, runner, path) == Credentials('hubber', 'tok', 'docker-credential-pass')
    assert runner.calls == [(['docker-credential-pass', 'get'], HUB_SERVER)]


def test_cred_helper_for_registry_with_port(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credHelpers': {'localhost:5000': 'secretservice'}})
    runner = FakeRunner(stdout=_secret_answer())
    assert lookup_credentials('localhost:5000', runner, path) is not None
    assert runner.calls == [(['docker-credential-secretservice', 'get'], 'localhost:5000')]


def test_cred_helper_for_another_registry_is_not_run(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {
        'credHelpers': {'other.example.com': 'ecr-login'},
        'auths': {REGISTRY: {'username': 'alice', 'password': 'pw'}},
    })
    assert lookup_credentials(REGISTRY, _no_runner, path) == Credentials('alice', 'pw', path)


def test_cred_helper_not_found_is_anonymous(tmp_path: pathlib.Path) -> None:
    # A registry-specific helper owns the registry: no fallback to auths, like the Docker CLI.
    path = _write_config(tmp_path, {
        'credHelpers': {REGISTRY: 'osxkeychain'},
        'auths': {REGISTRY: {'username': 'alice', 'password': 'pw'}},
    })
    runner = FakeRunner(rc=1, stdout='credentials not found in native keychain\n')
    assert lookup_credentials(REGISTRY, runner, path) is None
    assert len(runner.calls) == 1


def test_cred_helper_wins_over_creds_store(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credHelpers': {REGISTRY: 'ecr-login'}, 'credsStore': 'desktop'})
    runner = FakeRunner(stdout=_secret_answer())
    lookup_credentials(REGISTRY, runner, path)
    assert [args for args, _data in runner.calls] == [['docker-credential-ecr-login', 'get']]


def test_creds_store_is_used_for_every_registry(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credsStore': 'desktop', 'auths': {REGISTRY: {}}})
    runner = FakeRunner(stdout=_secret_answer('store-user', 'store-secret'))
    assert lookup_credentials(REGISTRY, runner, path) == Credentials('store-user', 'store-secret', 'docker-credential-desktop')
    assert runner.calls == [(['docker-credential-desktop', 'get'], REGISTRY)]


def test_creds_store_for_docker_hub_gets_the_hub_server_url(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credsStore': 'desktop'})
    runner = FakeRunner(stdout=_secret_answer())
    lookup_credentials(DOCKER_HUB, runner, path)
    assert runner.calls == [(['docker-credential-desktop', 'get'], HUB_SERVER)]


@pytest.mark.parametrize(
    ('stdout', 'stderr'),
    [('credentials not found in native keychain\n', ''), ('', 'Credentials not found'), ('', 'error: credentials not found\n')],
)
def test_creds_store_not_found_falls_back_to_auths(tmp_path: pathlib.Path, stdout: str, stderr: str) -> None:
    path = _write_config(tmp_path, {'credsStore': 'desktop', 'auths': {REGISTRY: {'auth': _auth('alice', 's3cret')}}})
    runner = FakeRunner(rc=1, stdout=stdout, stderr=stderr)
    assert lookup_credentials(REGISTRY, runner, path) == Credentials('alice', 's3cret', path)
    assert len(runner.calls) == 1


def test_creds_store_not_found_and_no_auths_is_anonymous(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credsStore': 'desktop'})
    assert lookup_credentials(REGISTRY, FakeRunner(rc=1, stdout='credentials not found in native keychain'), path) is None


@pytest.mark.parametrize('config_key', ['credHelpers', 'credsStore'])
def test_helper_failure_names_the_helper(tmp_path: pathlib.Path, config_key: str) -> None:
    config = {'credHelpers': {REGISTRY: 'ecr-login'}} if config_key == 'credHelpers' else {'credsStore': 'ecr-login'}
    config['auths'] = {REGISTRY: {'auth': _auth('alice', 's3cret')}}
    path = _write_config(tmp_path, config)
    runner = FakeRunner(rc=3, stdout='', stderr='  permission denied by keychain  \n')
    with pytest.raises(RegistryError, match='docker-credential-ecr-login') as raised:
        lookup_credentials(REGISTRY, runner, path)
    message = str(raised.value)
    assert REGISTRY in message
    assert 'exit 3' in message
    assert 'permission denied by keychain' in message


def test_helper_failure_reports_stdout_when_stderr_is_empty(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credsStore': 'pass'})
    with pytest.raises(RegistryError, match='gpg: decryption failed'):
        lookup_credentials(REGISTRY, FakeRunner(rc=1, stdout='gpg: decryption failed\n'), path)


def test_helper_that_cannot_run_names_the_helper(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credHelpers': {REGISTRY: 'missing'}})
    runner = FakeRunner(raises=FileNotFoundError(2, 'No such file or directory'))
    with pytest.raises(RegistryError, match='Cannot run the Docker credential helper docker-credential-missing') as raised:
        lookup_credentials(REGISTRY, runner, path)
    assert 'No such file or directory' in str(raised.value)
    assert REGISTRY in str(raised.value)


@pytest.mark.parametrize(
    'stdout',
    [
        'not json at all',
        '',
        '["Username", "Secret"]',
        '"a string"',
        'null',
        json.dumps({'Username': 'alice'}),
        json.dumps({'Secret': 'only-a-secret'}),
    ],
    ids=['text', 'empty', 'list', 'string', 'null', 'no-secret', 'no-username'],
)
def test_helper_answering_nonsense_names_the_helper(tmp_path: pathlib.Path, stdout: str) -> None:
    path = _write_config(tmp_path, {'credHelpers': {REGISTRY: 'weird'}})
    with pytest.raises(RegistryError, match=r'docker-credential-weird answered .* not a JSON object with Username and Secret'):
        lookup_credentials(REGISTRY, FakeRunner(stdout=stdout), path)


# -- the config file itself ------------------------------------------------------------


def test_missing_config_is_anonymous(tmp_path: pathlib.Path) -> None:
    assert lookup_credentials(REGISTRY, _no_runner, str(tmp_path / 'nowhere' / 'config.json')) is None


def test_missing_default_config_is_anonymous(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DOCKER_CONFIG', str(tmp_path / 'empty'))
    assert lookup_credentials(REGISTRY, _no_runner) is None


@pytest.mark.parametrize(
    'content',
    ['{"auths": ', 'not json', '\udcff'],
    ids=['truncated', 'not-json', 'not-utf8'],
)
def test_malformed_config_names_the_file(tmp_path: pathlib.Path, content: str) -> None:
    path = tmp_path / 'config.json'
    path.write_bytes(content.encode('utf-8', 'surrogateescape'))
    with pytest.raises(RegistryError, match=f'Cannot read Docker config {path}'):
        lookup_credentials(REGISTRY, _no_runner, str(path))


@pytest.mark.parametrize('content', ['[]', '"text"', '42', 'null'])
def test_config_that_is_not_an_object_names_the_file(tmp_path: pathlib.Path, content: str) -> None:
    path = _write_config(tmp_path, content)
    with pytest.raises(RegistryError, match=f'Docker config {path} must be a JSON object'):
        lookup_credentials(REGISTRY, _no_runner, path)


def test_unreadable_config_names_the_file(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / 'config.json'
    directory.mkdir()
    with pytest.raises(RegistryError, match=f'Cannot read Docker config {directory}'):
        lookup_credentials(REGISTRY, _no_runner, str(directory))


@pytest.mark.parametrize(
    'auth',
    [
        'not base64!',
        'YWxpY2U6czNjcmV',
        base64.b64encode(b'\xff\xfe:\xfd').decode(),
    ],
    ids=['bad-alphabet', 'bad-padding', 'not-utf8'],
)
def test_bad_auth_entry_is_an_error(tmp_path: pathlib.Path, auth: str) -> None:
    path = _write_config(tmp_path, {'auths': {REGISTRY: {'auth': auth}}})
    with pytest.raises(RegistryError, match=f'auth entry for {REGISTRY} in {path} is not base64 of user:password'):
        lookup_credentials(REGISTRY, _no_runner, path)


def test_auth_entry_without_colon_is_an_error(tmp_path: pathlib.Path) -> None:
    # The Docker CLI rejects an auth that does not decode to user:password instead of
    # sending the whole string as a user name with an empty password.
    path = _write_config(tmp_path, {'auths': {REGISTRY: {'auth': base64.b64encode(b'just-a-user').decode()}}})
    with pytest.raises(RegistryError, match='is not base64 of user:password'):
        lookup_credentials(REGISTRY, _no_runner, path)


@pytest.mark.parametrize('auth', [12345, ['YWxpY2U6czNjcmV0'], {'user': 'alice'}], ids=['number', 'list', 'object'])
def test_auth_entry_that_is_not_a_string_is_an_error(tmp_path: pathlib.Path, auth: t.Any) -> None:
    path = _write_config(tmp_path, {'auths': {REGISTRY: {'auth': auth}}})
    with pytest.raises(RegistryError, match=f'auth entry for {REGISTRY} in {path}'):
        lookup_credentials(REGISTRY, _no_runner, path)


# -- Credentials ------------------------------------------------------------------------


def test_credentials_repr_hides_the_password() -> None:
    credentials = Credentials('alice', 'super-secret-password', '/home/alice/.docker/config.json')
    for text in (repr(credentials), str(credentials), f'{credentials}', repr([credentials]), repr({'c': credentials})):
        assert 'super-secret-password' not in text
        assert 'alice' in text
        assert '/home/alice/.docker/config.json' in text


def test_credentials_from_helper_repr_hides_the_secret(tmp_path: pathlib.Path) -> None:
    path = _write_config(tmp_path, {'credsStore': 'desktop'})
    found = lookup_credentials(REGISTRY, FakeRunner(stdout=_secret_answer('robot', 'tok-123456')), path)
    assert found is not None
    assert 'tok-123456' not in repr(found)
    assert found.password == 'tok-123456'


def test_credentials_are_immutable() -> None:
    credentials = Credentials('alice', 'pw', 'module options')
    with pytest.raises(AttributeError):
        credentials.password = 'other'  # type: ignore[misc]
