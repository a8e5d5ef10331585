# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause

from __future__ import annotations

import json
import re
import typing as t

import pytest
import yaml

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError
from ansible_collections.wasm.oci.plugins.module_utils._envoy.documents import (
    EnvoyConfigError,
    ImageIdentity,
    WasmFilter,
    admin_address_of,
    dump_document,
    ecds_document,
    ecds_filter_entry,
    filter_reference,
    filter_stanza,
    image_identity,
    listener_file,
    managed_config,
    module_files,
    node_id_of,
    parse_address,
    referenced_ecds_paths,
    wasm_filter,
    wasm_typed_config,
    with_version,
)

MODULE = '/var/lib/envoy/wasm/0f8a.wasm'
ECDS = '/etc/envoy/ecds/add_header.yaml'
HTTP_WASM = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm'
NETWORK_WASM = 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm'
FINGERPRINT = re.compile(r'[0-9a-f]{16}')
IDENTITY = ImageIdentity('ghcr.io/example/add_header:1.0.0', 'sha256:' + 'a' * 64)
ROUTER = {'name': 'envoy.filters.http.router', 'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'}}


def _entry(name: str, path: str, type_url: str = HTTP_WASM) -> dict[str, t.Any]:
    return {
        'name': name,
        'config_discovery': {
            'config_source': {'path_config_source': {'path': path}, 'resource_api_version': 'V3'},
            'type_urls': [type_url],
        },
    }


def test_defaults_come_from_the_image_and_the_name() -> None:
    assert wasm_filter('add_header', MODULE, image_root_ids=['add_header', 'other']) == WasmFilter(
        name='add_header', module=MODULE, root_id='add_header', vm_id='add_header', configuration=None,
        environment={}, failure_policy='FAIL_CLOSED', filter_type='http',
    )


def test_minimal_typed_config_is_exact() -> None:
    assert wasm_typed_config(wasm_filter('add_header', MODULE, root_id='add_header')) == {
        '@type': HTTP_WASM,
        'config': {
            'name': 'add_header',
            'root_id': 'add_header',
            'vm_config': {'vm_id': 'add_header', 'runtime': 'envoy.wasm.runtime.v8', 'code': {'local': {'filename': MODULE}}},
            'failure_policy': 'FAIL_CLOSED',
        },
    }


def test_full_ecds_document_is_exact() -> None:
    wasm = wasm_filter(
        'tcp_meter', MODULE, root_id='meter', vm_id='shared', configuration={'b': [1, 2], 'a': 'x'},
        environment={'MODE': 'strict'}, failure_policy='FAIL_RELOAD', filter_type='network', image_root_ids=['meter'],
    )
    document = ecds_document(wasm)
    assert FINGERPRINT.fullmatch(document.pop('version_info'))
    assert document == {
        'resources': [
            {
                '@type': 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig',
                'name': 'tcp_meter',
                'typed_config': {
                    '@type': NETWORK_WASM,
                    'config': {
                        'name': 'tcp_meter',
                        'root_id': 'meter',
                        'vm_config': {
                            'vm_id': 'shared',
                            'runtime': 'envoy.wasm.runtime.v8',
                            'code': {'local': {'filename': MODULE}},
                            'environment_variables': {'key_values': {'MODE': 'strict'}},
                        },
                        'configuration': {'@type': 'type.googleapis.com/google.protobuf.StringValue', 'value': '{"a":"x","b":[1,2]}'},
                        'failure_policy': 'FAIL_RELOAD',
                    },
                },
            }
        ]
    }


def test_string_configuration_is_passed_as_it_is() -> None:
    config = wasm_typed_config(wasm_filter('f', MODULE, root_id='r', configuration='header=x; {raw}'))['config']
    assert config['configuration'] == {'@type': 'type.googleapis.com/google.protobuf.StringValue', 'value': 'header=x; {raw}'}
    assert 'fail_open' not in config


def test_module_path_is_normalised() -> None:
    assert wasm_filter('f', '/var/lib/envoy//wasm/./a.wasm', root_id='r').module == '/var/lib/envoy/wasm/a.wasm'


@pytest.mark.parametrize('name', ['', 'add header', 'a/b', '..', '.', 'filtre-é', 'x:y', None, 5])
def test_bad_filter_names_are_refused(name: t.Any) -> None:
    with pytest.raises(EnvoyConfigError, match='Invalid filter name'):
        wasm_filter(name, MODULE, root_id='r')


@pytest.mark.parametrize('name', ['add_header', 'A.b-c_9', '.hidden-ok', 'v1.2.0'])
def test_good_filter_names_are_kept(name: str) -> None:
    assert wasm_filter(name, MODULE, root_id='r').name == name


def test_root_id_outside_the_image_names_filter_root_id_and_allowed_ones() -> None:
    with pytest.raises(EnvoyConfigError) as error:
        wasm_filter('add_header', MODULE, root_id='nope', image_root_ids=['add_header', 'other'])
    assert str(error.value) == 'Filter add_header: root_id "nope" is not one of the root IDs the image declares ("add_header", "other")'
    assert isinstance(error.value, WasmOciError)


def test_root_id_is_free_when_the_image_declares_none() -> None:
    assert wasm_filter('f', MODULE, root_id='mine', image_root_ids=[]).root_id == 'mine'
    assert wasm_filter('f', MODULE, root_id='mine', image_root_ids=None).root_id == 'mine'


def test_root_id_must_come_from_somewhere() -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Filter f: no root_id given and no root IDs known from the image; set root_id$'):
        wasm_filter('f', MODULE, image_root_ids=[])


@pytest.mark.parametrize('root_id', ['', 3])
def test_root_id_must_be_a_non_empty_string(root_id: t.Any) -> None:
    with pytest.raises(EnvoyConfigError, match='root_id must be a non-empty string'):
        wasm_filter('f', MODULE, root_id=root_id, image_root_ids=['a'])


@pytest.mark.parametrize('policy', ['fail_closed', 'FAIL_SOMETIMES', True])
def test_failure_policy_is_checked(policy: t.Any) -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Filter f: failure_policy must be one of FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD, not '):
        wasm_filter('f', MODULE, root_id='r', failure_policy=policy)


@pytest.mark.parametrize('policy', ['FAIL_CLOSED', 'FAIL_OPEN', 'FAIL_RELOAD'])
def test_every_failure_policy_is_written(policy: str) -> None:
    assert wasm_typed_config(wasm_filter('f', MODULE, root_id='r', failure_policy=policy))['config']['failure_policy'] == policy


def test_filter_type_is_checked() -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Filter f: type must be one of http, network, not "listener"$'):
        wasm_filter('f', MODULE, root_id='r', filter_type='listener')
    with pytest.raises(EnvoyConfigError, match='type must be one of'):
        filter_reference('f', ECDS, 'tcp')


@pytest.mark.parametrize(
    ('environment', 'fragment'),
    [
        ({'PORT': 8080}, '"PORT" maps to 8080 (int); quote values'),
        ({'': 'x'}, '"" maps to "x"'),
        (['A=b'], 'environment must be a dict of strings, not list'),
    ],
)
def test_environment_must_be_strings(environment: t.Any, fragment: str) -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Filter f: environment') as error:
        wasm_filter('f', MODULE, root_id='r', environment=environment)
    assert fragment in str(error.value)


def test_configuration_of_another_type_is_refused() -> None:
    with pytest.raises(EnvoyConfigError, match=r'configuration must be a dict .* or a string, not list'):
        wasm_filter('f', MODULE, root_id='r', configuration=['a'])


@pytest.mark.parametrize('module', ['filter.wasm', 'wasm/filter.wasm', None])
def test_module_must_be_absolute(module: t.Any) -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Filter f: module must be an absolute path'):
        wasm_filter('f', module, root_id='r')


def test_vm_id_must_be_a_non_empty_string() -> None:
    with pytest.raises(EnvoyConfigError, match='vm_id must be a non-empty string'):
        wasm_filter('f', MODULE, root_id='r', vm_id='')


def _static_bootstrap(node_id: t.Any, cluster: t.Any, admin: t.Any, listener: t.Any, filters: list, upstream: str | None = None) -> dict:
    """The managed configuration as the one static bootstrap that envoy --mode validate checks."""
    return managed_config(node_id, cluster, admin, listener, filters, '/e/lds.yaml', '/e/cds.yaml', upstream).validation_bootstrap()


def test_filter_entry_is_exact() -> None:
    assert ecds_filter_entry(filter_reference('add_header', ECDS)) == _entry('add_header', ECDS)
    assert ecds_filter_entry(filter_reference('meter', ECDS, 'network')) == _entry('meter', ECDS, NETWORK_WASM)


def test_ecds_path_must_be_absolute() -> None:
    with pytest.raises(EnvoyConfigError, match=r'^Filter f: ecds_path must be an absolute path'):
        filter_reference('f', 'ecds/f.yaml')


def test_bootstrap_with_upstream_ip_is_exact() -> None:
    bootstrap = _static_bootstrap(
        'edge-1', 'edge', '127.0.0.1:9901', '0.0.0.0:8080',
        [filter_reference('a', '/e/a.yaml'), filter_reference('b', '/e/b.yaml')], upstream='10.0.0.5:8000',
    )
    assert bootstrap == {
        'node': {'id': 'edge-1', 'cluster': 'edge'},
        'admin': {'address': {'socket_address': {'address': '127.0.0.1', 'port_value': 9901}}},
        'static_resources': {
            'listeners': [
                {
                    'name': 'wasm_oci_listener',
                    'address': {'socket_address': {'address': '0.0.0.0', 'port_value': 8080}},
                    'filter_chains': [
                        {
                            'filters': [
                                {
                                    'name': 'envoy.filters.network.http_connection_manager',
                                    'typed_config': {
                                        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                                        'stat_prefix': 'wasm_oci',
                                        'route_config': {
                                            'name': 'all',
                                            'virtual_hosts': [
                                                {
                                                    'name': 'all',
                                                    'domains': ['*'],
                                                    'routes': [{'match': {'prefix': '/'}, 'route': {'cluster': 'upstream'}}],
                                                }
                                            ],
                                        },
                                        'http_filters': [_entry('a', '/e/a.yaml'), _entry('b', '/e/b.yaml'), ROUTER],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            'clusters': [
                {
                    'name': 'upstream',
                    'type': 'STATIC',
                    'connect_timeout': '5s',
                    'load_assignment': {
                        'cluster_name': 'upstream',
                        'endpoints': [{'lb_endpoints': [{'endpoint': {'address': {'socket_address': {'address': '10.0.0.5', 'port_value': 8000}}}}]}],
                    },
                }
            ],
        },
    }


def test_managed_config_takes_listeners_and_clusters_from_files() -> None:
    managed = managed_config('edge-1', 'edge', '127.0.0.1:9901', '0.0.0.0:8080', [filter_reference('a', '/e/a.yaml')],
                             '/etc/envoy/lds.yaml', '/etc/envoy/cds.yaml', upstream='10.0.0.5:8000')
    source = {'resource_api_version': 'V3'}
    assert managed.bootstrap == {
        'node': {'id': 'edge-1', 'cluster': 'edge'},
        'admin': {'address': {'socket_address': {'address': '127.0.0.1', 'port_value': 9901}}},
        'dynamic_resources': {
            'lds_config': dict(source, path_config_source={'path': '/etc/envoy/lds.yaml'}),
            'cds_config': dict(source, path_config_source={'path': '/etc/envoy/cds.yaml'}),
        },
    }
    static = managed.validation_bootstrap()
    # Envoy watches both files, so each carries the version it reports once it took the file.
    assert managed.listeners == with_version({'resources': [dict(static['static_resources']['listeners'][0],
                                                                 **{'@type': 'type.googleapis.com/envoy.config.listener.v3.Listener'})]})
    assert managed.clusters == with_version({'resources': [dict(static['static_resources']['clusters'][0],
                                                                **{'@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster'})]})
    assert FINGERPRINT.fullmatch(managed.listeners['version_info'])
    assert FINGERPRINT.fullmatch(managed.clusters['version_info'])
    assert 'dynamic_resources' not in static
    assert static['node'] == managed.bootstrap['node']
    assert 'version_info' not in static
    assert 'version_info' not in managed.bootstrap
    assert listener_file(managed.bootstrap) == '/etc/envoy/lds.yaml'
    assert referenced_ecds_paths(managed.listeners) == {'/e/a.yaml'}
    assert managed_config('n', 'c', '127.0.0.1:9901', '127.0.0.1:1', [], '/e/l', '/e/c').clusters == with_version({'resources': []})


def test_managed_config_file_paths_must_be_absolute() -> None:
    with pytest.raises(EnvoyConfigError, match='listeners_path must be an absolute path'):
        managed_config('n', 'c', '127.0.0.1:9901', '127.0.0.1:1', [], 'lds.yaml', '/e/c')


@pytest.mark.parametrize(('filter_type', 'where'), [('http', 'before envoy.filters.http.router'),
                                                    ('network', 'before envoy.filters.network.http_connection_manager')])
def test_filter_stanza_is_the_entry_as_yaml_and_says_where_it_goes(filter_type: str, where: str) -> None:
    reference = filter_reference('add_header', '/etc/envoy/ecds/add header: "1".yaml', filter_type)
    stanza = filter_stanza(reference)
    assert stanza.startswith('# Add to ')
    assert where in stanza.splitlines()[0]
    assert yaml.safe_load(stanza) == [ecds_filter_entry(reference)]


@pytest.mark.parametrize('name', ['true', 'no', 'null', '1', '0x1f', 'y', 'on'])
def test_filter_stanza_quotes_names_yaml_would_read_as_other_types(name: str) -> None:
    assert yaml.safe_load(filter_stanza(filter_reference(name, ECDS)))[0]['name'] == name


def test_referenced_ecds_paths_finds_every_config_discovery_in_either_spelling() -> None:
    document = {'static_resources': {'listeners': [
        {'filter_chains': [{'filters': [_entry('n', '/e/./n.yaml', NETWORK_WASM), {'typed_config': {'http_filters': [
            _entry('h', '/e/h.yaml'), {'name': 'old', 'config_discovery': {'config_source': {'path': '/e/old.yaml'}}},
            {'name': 'api', 'config_discovery': {'config_source': {'ads': {}}}}, ROUTER]}}]}]}]}}
    assert referenced_ecds_paths(document) == {'/e/n.yaml', '/e/h.yaml', '/e/old.yaml'}
    assert referenced_ecds_paths(None) == set()
    assert referenced_ecds_paths('text') == set()


def test_module_files_and_listener_file() -> None:
    assert module_files(ecds_document(wasm_filter('f', MODULE, root_id='r'))) == {MODULE}
    assert module_files({'resources': [{'local': {'filename': ''}}, {'local': 'x'}]}) == set()
    assert listener_file({'dynamic_resources': {'lds_config': {'path': '/e/l.yaml'}}}) == '/e/l.yaml'
    assert listener_file({'static_resources': {}}) is None
    assert listener_file([]) is None


def _listener_filters(bootstrap: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return bootstrap['static_resources']['listeners'][0]['filter_chains'][0]['filters']


def test_bootstrap_without_upstream_answers_itself() -> None:
    bootstrap = _static_bootstrap('n', 'c', '127.0.0.1:9901', '127.0.0.1:10000', [])
    manager = _listener_filters(bootstrap)[0]['typed_config']
    assert manager['route_config']['virtual_hosts'][0]['routes'] == [
        {'match': {'prefix': '/'}, 'direct_response': {'status': 200, 'body': {'inline_string': 'ok\n'}}}
    ]
    assert manager['http_filters'] == [ROUTER]
    assert bootstrap['static_resources']['clusters'] == []


def test_bootstrap_resolves_upstream_names_and_takes_ipv6() -> None:
    bootstrap = _static_bootstrap('n', 'c', '[::1]:9901', '[::]:10000', [], upstream='app.internal:8000')
    cluster = bootstrap['static_resources']['clusters'][0]
    assert cluster['type'] == 'LOGICAL_DNS'
    assert cluster['load_assignment']['endpoints'][0]['lb_endpoints'][0]['endpoint']['address'] == {
        'socket_address': {'address': 'app.internal', 'port_value': 8000}
    }
    assert bootstrap['admin']['address'] == {'socket_address': {'address': '::1', 'port_value': 9901}}
    assert bootstrap['static_resources']['listeners'][0]['address'] == {'socket_address': {'address': '::', 'port_value': 10000}}
    ipv6_upstream = _static_bootstrap('n', 'c', '[::1]:9901', '[::]:10000', [], upstream='[fd00::5]:80')
    assert ipv6_upstream['static_resources']['clusters'][0]['type'] == 'STATIC'


def test_network_filters_run_before_the_connection_manager_in_order() -> None:
    references = [
        filter_reference('h1', '/e/h1.yaml'),
        filter_reference('n1', '/e/n1.yaml', 'network'),
        filter_reference('h2', '/e/h2.yaml'),
        filter_reference('n2', '/e/n2.yaml', 'network'),
    ]
    filters = _listener_filters(_static_bootstrap('n', 'c', '127.0.0.1:9901', '127.0.0.1:10000', references))
    assert [item['name'] for item in filters] == ['n1', 'n2', 'envoy.filters.network.http_connection_manager']
    assert filters[0] == _entry('n1', '/e/n1.yaml', NETWORK_WASM)
    assert [item['name'] for item in filters[2]['typed_config']['http_filters']] == ['h1', 'h2', 'envoy.filters.http.router']


def test_bootstrap_refuses_repeated_filter_names() -> None:
    references = [filter_reference('a', '/e/a.yaml'), filter_reference('a', '/e/b.yaml')]
    with pytest.raises(EnvoyConfigError, match=r'^Filter names must be unique in a bootstrap; repeated: a$'):
        _static_bootstrap('n', 'c', '127.0.0.1:9901', '127.0.0.1:10000', references)


@pytest.mark.parametrize(
    ('arguments', 'message'),
    [
        (('', 'c', '127.0.0.1:9901', '127.0.0.1:1'), 'node_id must be a non-empty string'),
        (('n', None, '127.0.0.1:9901', '127.0.0.1:1'), 'cluster must be a non-empty string'),
        (('n', 'c', 'localhost:9901', '127.0.0.1:1'), 'admin_address must be an IP address and port'),
        (('n', 'c', '127.0.0.1', '127.0.0.1:1'), 'admin_address must be host:port'),
        (('n', 'c', '127.0.0.1:9901', '127.0.0.1:70000'), 'listener_address: port 70000 is out of range'),
        (('n', 'c', '127.0.0.1:9901', '127.0.0.1:0'), 'listener_address: port 0 is out of range'),
        (('n', 'c', '127.0.0.1:9901', '::1:80'), 'listener_address must be host:port'),
    ],
)
def test_bootstrap_options_are_checked(arguments: tuple[t.Any, ...], message: str) -> None:
    with pytest.raises(EnvoyConfigError, match=message):
        _static_bootstrap(*arguments, [])


@pytest.mark.parametrize('upstream', ['app', 'bad_host:80', '[app.internal]:80', 'a..b:80', 'http://app:80'])
def test_bad_upstreams_are_refused(upstream: str) -> None:
    with pytest.raises(EnvoyConfigError, match='upstream'):
        _static_bootstrap('n', 'c', '127.0.0.1:9901', '127.0.0.1:10000', [], upstream=upstream)


def test_parse_address() -> None:
    assert parse_address(' 127.0.0.1:80 ', 'x') == ('127.0.0.1', 80)
    assert parse_address('[2001:db8::1]:443', 'x') == ('2001:db8::1', 443)
    assert parse_address('app-1.internal.:8080', 'x') == ('app-1.internal.', 8080)


def test_dump_is_stable_sorted_indented_json_that_yaml_reads_back() -> None:
    document = ecds_document(wasm_filter('f', MODULE, root_id='r', configuration={'ü': 'ß'}, environment={'Z': '1', 'A': '2'}))
    text = dump_document(document)
    assert text == json.dumps(document, indent=2, sort_keys=True) + '\n'
    assert text.isascii()
    assert '\t' not in text
    assert dump_document(dict(reversed(list(document.items())))) == text
    assert dump_document({'b': 1, 'a': {'d': 2, 'c': 3}}) == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
    assert yaml.safe_load(text) == document
    assert json.loads(text) == document


def test_admin_address_of_a_bootstrap() -> None:
    assert admin_address_of(_static_bootstrap('n', 'c', '127.0.0.1:9901', '127.0.0.1:1', [])) == '127.0.0.1:9901'
    assert admin_address_of(_static_bootstrap('n', 'c', '[::1]:9901', '127.0.0.1:1', [])) == '[::1]:9901'
    assert admin_address_of({'admin': {'address': {'pipe': {'path': '/run/envoy.sock'}}}}) is None
    assert admin_address_of({'admin': {'address': {'socket_address': {'address': '127.0.0.1', 'port_value': '9901'}}}}) is None
    assert admin_address_of(None) is None
    assert admin_address_of({'admin': None}) is None


def test_node_id_of_a_bootstrap() -> None:
    assert node_id_of(_static_bootstrap('edge-1', 'c', '127.0.0.1:9901', '127.0.0.1:1', [])) == 'edge-1'
    assert node_id_of({'node': {'cluster': 'c'}}) is None
    assert node_id_of({'node': {'id': 7}}) is None
    assert node_id_of({'node': 'edge-1'}) is None
    assert node_id_of(None) is None
    assert node_id_of([]) is None


def test_version_is_a_fingerprint_of_the_rest_after_the_image_identity() -> None:
    document = {'resources': [{'name': 'a'}]}
    plain, named = with_version(document), with_version(document, IDENTITY)
    fingerprint = plain['version_info']
    assert FINGERPRINT.fullmatch(fingerprint)
    assert named == dict(document, version_info=f'{IDENTITY.reference} {IDENTITY.digest} {fingerprint}')
    # The version is no part of what it fingerprints, so versioning again changes nothing.
    assert with_version(named, IDENTITY) == named
    assert with_version(dict(document, version_info='old')) == plain
    assert document == {'resources': [{'name': 'a'}]}


def _filter_version(**options: t.Any) -> str:
    wasm = wasm_filter('add_header', options.pop('module', MODULE), root_id='add_header', **options)
    return ecds_document(wasm, IDENTITY)['version_info']


@pytest.mark.parametrize('options', [
    pytest.param({'configuration': {'header': 'y'}}, id='configuration'),
    pytest.param({'configuration': '{"header":"x"} '}, id='configuration-text'),
    pytest.param({'environment': {'KEY': 'other'}}, id='environment'),
    pytest.param({'module': '/var/lib/envoy/wasm/other.wasm'}, id='module'),
    pytest.param({'failure_policy': 'FAIL_OPEN'}, id='failure-policy'),
])
def test_fingerprint_changes_with_the_configuration(options: dict[str, t.Any]) -> None:
    base = {'configuration': {'header': 'x'}, 'environment': {'KEY': 'secret'}}
    assert _filter_version(**base) == _filter_version(**base)
    changed = _filter_version(**dict(base, **options))
    assert changed != _filter_version(**base)
    assert changed.split(' ')[:2] == [IDENTITY.reference, IDENTITY.digest]


def test_image_identity_is_read_back_from_an_ecds_document() -> None:
    wasm = wasm_filter('add_header', MODULE, root_id='add_header')
    assert image_identity(ecds_document(wasm, IDENTITY)) == IDENTITY
    assert str(IDENTITY) == f'ghcr.io/example/add_header:1.0.0 (sha256:{"a" * 64})'
    assert image_identity(json.loads(dump_document(ecds_document(wasm, IDENTITY)))) == IDENTITY


@pytest.mark.parametrize('document', [
    pytest.param(ecds_document(wasm_filter('f', MODULE, root_id='r')), id='no-identity'),
    pytest.param({'version_info': 'a b'}, id='two-parts'),
    pytest.param({'version_info': 'a b c d'}, id='four-parts'),
    pytest.param({'version_info': 7}, id='not-text'),
    pytest.param({}, id='no-version'),
    pytest.param(None, id='no-document'),
    pytest.param(['a b c'], id='list'),
])
def test_image_identity_of_a_document_naming_no_image_is_none(document: t.Any) -> None:
    assert image_identity(document) is None


def test_listener_version_follows_the_filter_list() -> None:
    def listeners(*names: str) -> dict[str, t.Any]:
        references = [filter_reference(name, f'/e/{name}.yaml') for name in names]
        return managed_config('n', 'c', '127.0.0.1:9901', '127.0.0.1:1', references, '/e/l', '/e/c').listeners
    assert listeners('a')['version_info'] == listeners('a')['version_info']
    assert len({listeners(*names)['version_info'] for names in [(), ('a',), ('b',), ('a', 'b'), ('b', 'a')]}) == 5
