# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""connect() builds a RegistryClient from module options; nothing here talks to a network."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import RegistryError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry import transport
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient, RegistryOptions
from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import DEFAULT_TIMEOUT, REGISTRY_REQUIRED_TOGETHER, connect, registry_argument_spec
from ansible_collections.wasm.oci.plugins.module_utils._registry.credentials import Credentials

REFERENCE = 'registry.example.com/filters/add-header:1.0'


class RecordingRunner:
    """A CommandRunner for credential helpers that records its calls."""

    def __init__(self, stdout: str = '') -> None:
        self.stdout = stdout
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, args: list[str], data: str) -> tuple[int, str, str]:
        self.calls.append((list(args), data))
        return 0, self.stdout, ''


def _params(**overrides: t.Any) -> dict[str, t.Any]:
    """Module params as AnsibleModule gives them: every option present, defaults filled in."""
    params = {option: spec.get('default') for option, spec in registry_argument_spec().items()}
    unknown = set(overrides) - set(params)
    assert not unknown, f'not registry options: {unknown}'
    params.update(overrides)
    return params


def _auth(username: str, password: str) -> str:
    return base64.b64encode(f'{username}:{password}'.encode()).decode()


@pytest.fixture
def docker_config(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """An empty Docker config directory that DOCKER_CONFIG points at; HOME points elsewhere."""
    directory = tmp_path / 'docker-config'
    directory.mkdir()
    monkeypatch.setenv('DOCKER_CONFIG', str(directory))
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    return directory


def _write_docker_config(directory: pathlib.Path, config: dict[str, t.Any]) -> pathlib.Path:
    path = directory / 'config.json'
    path.write_text(json.dumps(config))
    return path


def _connect(reference: str = REFERENCE, run: t.Any = None, **overrides: t.Any) -> RegistryClient:
    return connect(parse_reference(reference), _params(**overrides), run or RecordingRunner())


# -- argument spec ------------------------------------------------------------------------


def test_registry_argument_spec_keys() -> None:
    spec = registry_argument_spec()
    assert set(spec) == {
        'username', 'password', 'validate_certs', 'ca_path', 'client_cert', 'client_key', 'plain_http', 'timeout',
    }


@pytest.mark.parametrize(
    ('option', 'option_type', 'default'),
    [
        ('username', 'str', None),
        ('password', 'str', None),
        ('validate_certs', 'bool', True),
        ('ca_path', 'path', None),
        ('client_cert', 'path', None),
        ('client_key', 'path', None),
        ('plain_http', 'bool', False),
        ('timeout', 'float', DEFAULT_TIMEOUT),
    ],
)
def test_registry_argument_spec_types_and_defaults(option: str, option_type: str, default: t.Any) -> None:
    spec = registry_argument_spec()[option]
    assert spec['type'] == option_type
    assert spec.get('default') == default


def test_registry_argument_spec_hides_the_password_only() -> None:
    spec = registry_argument_spec()
    assert spec['password']['no_log'] is True
    assert [option for option, entry in spec.items() if entry.get('no_log')] == ['password']


def test_registry_argument_spec_tls_verify_alias() -> None:
    assert registry_argument_spec()['validate_certs']['aliases'] == ['tls_verify']


def test_registry_argument_spec_is_a_fresh_copy() -> None:
    first = registry_argument_spec()
    first['timeout']['default'] = 1.0
    assert registry_argument_spec()['timeout']['default'] == DEFAULT_TIMEOUT


def test_required_together() -> None:
    assert sorted(map(tuple, REGISTRY_REQUIRED_TOGETHER)) == [('client_cert', 'client_key'), ('username', 'password')]


# -- credentials ----------------------------------------------------------------------------


def test_module_options_win_over_docker_config(docker_config: pathlib.Path) -> None:
    _write_docker_config(docker_config, {
        'auths': {'registry.example.com': {'auth': _auth('config-user', 'config-pass')}},
        'credsStore': 'desktop',
    })
    runner = RecordingRunner()
    client = _connect(run=runner, username='option-user', password='option-pass')
    assert client.credentials == Credentials('option-user', 'option-pass', 'module options')
    assert runner.calls == []


def test_docker_config_is_used_without_module_credentials(docker_config: pathlib.Path) -> None:
    path = _write_docker_config(docker_config, {'auths': {'registry.example.com': {'auth': _auth('config-user', 'config-pass')}}})
    client = _connect()
    assert client.credentials == Credentials('config-user', 'config-pass', str(path))


def test_docker_config_helper_is_run_without_module_credentials(docker_config: pathlib.Path) -> None:
    _write_docker_config(docker_config, {'credHelpers': {'registry.example.com': 'ecr-login'}})
    runner = RecordingRunner(json.dumps({'Username': 'AWS', 'Secret': 'token'}))
    client = _connect(run=runner)
    assert client.credentials == Credentials('AWS', 'token', 'docker-credential-ecr-login')
    assert runner.calls == [(['docker-credential-ecr-login', 'get'], 'registry.example.com')]


def test_no_credentials_anywhere_is_anonymous(docker_config: pathlib.Path) -> None:
    assert _connect().credentials is None


def test_docker_config_of_another_registry_is_not_used(docker_config: pathlib.Path) -> None:
    _write_docker_config(docker_config, {'auths': {'other.example.com': {'auth': _auth('someone', 'else')}}})
    assert _connect().credentials is None


def test_broken_docker_config_fails_only_when_it_is_needed(docker_config: pathlib.Path) -> None:
    (docker_config / 'config.json').write_text('{broken')
    with pytest.raises(RegistryError, match='Cannot read Docker config'):
        _connect()
    assert _connect(username='option-user', password='option-pass').credentials is not None


# -- timeout ----------------------------------------------------------------------------------


@pytest.mark.parametrize('timeout', [0, 0.0, -1, -0.5])
def test_connect_rejects_a_timeout_that_is_not_positive(docker_config: pathlib.Path, timeout: float) -> None:
    runner = RecordingRunner()
    with pytest.raises(RegistryError, match='timeout must be a positive number of seconds'):
        _connect(run=runner, timeout=timeout)
    assert runner.calls == []


@pytest.mark.parametrize('timeout', [0.001, 5, 120.5])
def test_connect_passes_a_positive_timeout_on(docker_config: pathlib.Path, timeout: float) -> None:
    assert _connect(timeout=timeout).options.timeout == timeout


# -- the client -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('reference', 'plain_http', 'base_url'),
    [
        (REFERENCE, False, 'https://registry.example.com'),
        (REFERENCE, True, 'http://registry.example.com'),
        ('localhost:5000/filters/add-header:1.0', True, 'http://localhost:5000'),
        ('localhost:5000/filters/add-header:1.0', False, 'https://localhost:5000'),
        ('[::1]:5000/filters/add-header', True, 'http://[::1]:5000'),
        ('alpine', False, 'https://registry-1.docker.io'),
        ('docker.io/library/alpine:3', False, 'https://registry-1.docker.io'),
        ('index.docker.io/someone/filter:1', False, 'https://registry-1.docker.io'),
    ],
)
def test_client_base_url(docker_config: pathlib.Path, reference: str, plain_http: bool, base_url: str) -> None:
    client = _connect(reference, plain_http=plain_http)
    assert client.base_url == base_url
    assert client.reference == parse_reference(reference)


def test_docker_hub_reference_uses_hub_credentials(docker_config: pathlib.Path) -> None:
    path = _write_docker_config(docker_config, {'auths': {'https://index.docker.io/v1/': {'auth': _auth('hubber', 'hubpass')}}})
    client = _connect('someone/filter:1.0')
    assert client.base_url == 'https://registry-1.docker.io'
    assert client.credentials == Credentials('hubber', 'hubpass', str(path))


@pytest.mark.parametrize(
    ('validate_certs', 'ca_path', 'verify'),
    [
        (True, None, True),
        (True, '/etc/pki/internal-ca.pem', '/etc/pki/internal-ca.pem'),
        (False, None, False),
        (False, '/etc/pki/internal-ca.pem', False),
    ],
)
def test_client_verify(docker_config: pathlib.Path, validate_certs: bool, ca_path: str | None, verify: bool | str,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, 'isfile', lambda path: True)
    assert _connect(validate_certs=validate_certs, ca_path=ca_path).sender.verify == verify


def test_client_certificate(docker_config: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, 'isfile', lambda path: True)
    client = _connect(client_cert='/etc/pki/client.pem', client_key='/etc/pki/client.key')
    assert client.sender.cert == ('/etc/pki/client.pem', '/etc/pki/client.key')
    assert _connect().sender.cert is None


def test_client_options_mirror_the_params(docker_config: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, 'isfile', lambda path: True)
    params = dict(
        username='user', password='pass', validate_certs=False, ca_path='/ca.pem', client_cert='/c.pem',
        client_key='/k.pem', plain_http=True, timeout=7.5,
    )
    client = _connect(**params)
    connection = {key: value for key, value in params.items() if key not in ('username', 'password')}
    assert client.options == RegistryOptions(**connection)


def test_connect_makes_no_request(docker_config: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def _refuse(*args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise AssertionError('connect() must not talk to the registry')

    monkeypatch.setattr(transport.Connections, 'send', _refuse)
    client = _connect()
    assert isinstance(client, RegistryClient)


def test_missing_certificate_files_are_named(docker_config: pathlib.Path) -> None:
    with pytest.raises(RegistryError, match=r'^ca_path /nonexistent/ca\.pem does not exist'):
        _connect(ca_path='/nonexistent/ca.pem')
