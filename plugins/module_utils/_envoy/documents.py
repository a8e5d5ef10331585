# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The Envoy 1.40 documents that deliver Wasm filters, built as Python dicts.

One definition each:

* :func:`wasm_typed_config`: the ``envoy.extensions.filters.{http|network}.wasm.v3.Wasm``
  config of one filter;
* :func:`ecds_document`: the file Envoy's extension config discovery reads for that
  filter (a discovery response holding one ``TypedExtensionConfig``);
* :func:`ecds_filter_entry`: the filter entry a bootstrap needs to take the filter
  from that file;
* :func:`filter_stanza`: the same entry as YAML, for people who edit their own bootstrap;
* :func:`managed_config`: a complete bootstrap whose one listener and one cluster come
  from files (file-based LDS and CDS), so adding or removing a filter needs no restart;
* :func:`referenced_ecds_paths`: the ECDS files a bootstrap (or a listener file) uses.

Every document Envoy watches carries a ``version_info``: Envoy reports the version it
accepted as a ``version_text`` stat, which is how an update is confirmed and how anyone
can tell which image a filter runs. An ECDS file's version names the image reference,
its manifest digest and a fingerprint of the whole document.

:func:`dump_document` writes any of them as indented, key-sorted JSON, which Envoy
reads from a ``.yaml`` file (JSON is YAML), so hosts need no YAML library.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import typing as t

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import WasmOciError

WASM_RUNTIME_V8 = 'envoy.wasm.runtime.v8'
FILTER_TYPES = ('http', 'network')
WASM_TYPE_URLS = {
    'http': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
    'network': 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm',
}
FAILURE_POLICIES = ('FAIL_CLOSED', 'FAIL_OPEN', 'FAIL_RELOAD')
DEFAULT_FAILURE_POLICY = 'FAIL_CLOSED'
TYPED_EXTENSION_CONFIG_TYPE_URL = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig'
STRING_VALUE_TYPE_URL = 'type.googleapis.com/google.protobuf.StringValue'
HCM_NAME = 'envoy.filters.network.http_connection_manager'
HCM_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'
ROUTER_NAME = 'envoy.filters.http.router'
ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'
LISTENER_TYPE_URL = 'type.googleapis.com/envoy.config.listener.v3.Listener'
CLUSTER_TYPE_URL = 'type.googleapis.com/envoy.config.cluster.v3.Cluster'
LISTENER_NAME = 'wasm_oci_listener'
UPSTREAM_CLUSTER = 'upstream'
STAT_PREFIX = 'wasm_oci'

_FILTER_NAME = re.compile(r'[A-Za-z0-9_.-]+')
_HOST_NAME = re.compile(r'[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?')
# Scalars the stanza writes without quotes: nothing YAML could read as another type.
_PLAIN_SCALAR = re.compile(r'[A-Za-z_/][A-Za-z0-9_./:-]*')
_YAML_WORDS = frozenset(('y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null', '~'))


class EnvoyConfigError(WasmOciError):
    """Options that cannot make a valid Envoy document."""


@dataclasses.dataclass(frozen=True)
class WasmFilter:
    """One Wasm filter, validated and with its defaults filled in; see :func:`wasm_filter`."""

    name: str
    module: str
    root_id: str
    vm_id: str
    configuration: str | None = None
    environment: dict[str, str] = dataclasses.field(default_factory=dict)
    failure_policy: str = DEFAULT_FAILURE_POLICY
    filter_type: str = 'http'


@dataclasses.dataclass(frozen=True)
class FilterReference:
    """A filter of a bootstrap, fed from the ECDS file at ``ecds_path``."""

    name: str
    ecds_path: str
    filter_type: str = 'http'


def validate_filter_name(name: t.Any) -> str:
    """Filter names become file names and Envoy stat names, so they keep to ``[A-Za-z0-9_.-]``."""
    if not isinstance(name, str) or not _FILTER_NAME.fullmatch(name) or name in ('.', '..'):
        raise EnvoyConfigError(
            f'Invalid filter name {json.dumps(name)}: use letters, digits, "_", "." and "-" only, '
            'since the name is also a file name and part of Envoy stat names'
        )
    return name


def validate_filter_type(filter_type: t.Any, name: str) -> str:
    if not isinstance(filter_type, str) or filter_type not in FILTER_TYPES:
        raise EnvoyConfigError(f'Filter {name}: type must be one of {", ".join(FILTER_TYPES)}, not {json.dumps(filter_type)}')
    return filter_type


def validate_failure_policy(policy: t.Any, name: str) -> str:
    if not isinstance(policy, str) or policy not in FAILURE_POLICIES:
        raise EnvoyConfigError(
            f'Filter {name}: failure_policy must be one of {", ".join(FAILURE_POLICIES)}, not {json.dumps(policy)}'
        )
    return policy


def _absolute_path(path: t.Any, what: str) -> str:
    if not isinstance(path, str) or not os.path.isabs(path):
        raise EnvoyConfigError(
            f'{what} must be an absolute path, not {json.dumps(path)}: Envoy resolves relative paths from its own working directory'
        )
    return os.path.normpath(path)


def _choose_root_id(name: str, root_id: t.Any, image_root_ids: t.Sequence[str] | None) -> str:
    if root_id is not None and (not isinstance(root_id, str) or not root_id):
        raise EnvoyConfigError(f'Filter {name}: root_id must be a non-empty string, not {json.dumps(root_id)}')
    if image_root_ids:
        if root_id is None:
            return image_root_ids[0]
        if root_id not in image_root_ids:
            raise EnvoyConfigError(
                f'Filter {name}: root_id {json.dumps(root_id)} is not one of the root IDs the image declares '
                f'({", ".join(json.dumps(known) for known in image_root_ids)})'
            )
        return root_id
    if root_id is None:
        raise EnvoyConfigError(f'Filter {name}: no root_id given and no root IDs known from the image; set root_id')
    return root_id


def _configuration_text(name: str, configuration: t.Any) -> str | None:
    if configuration is None or isinstance(configuration, str):
        return configuration
    if isinstance(configuration, dict):
        return json.dumps(configuration, sort_keys=True, separators=(',', ':'))
    raise EnvoyConfigError(
        f'Filter {name}: configuration must be a dict (passed to the plugin as JSON) or a string, not {type(configuration).__name__}'
    )


def _environment(name: str, environment: t.Any) -> dict[str, str]:
    if environment is None:
        return {}
    if not isinstance(environment, dict):
        raise EnvoyConfigError(f'Filter {name}: environment must be a dict of strings, not {type(environment).__name__}')
    for key, value in environment.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise EnvoyConfigError(
                f'Filter {name}: environment must map non-empty names to strings; {json.dumps(key, default=str)} maps to '
                f'{json.dumps(value, default=str)} ({type(value).__name__}); quote values such as numbers in YAML'
            )
    return dict(environment)


def wasm_filter(
    name: t.Any,
    module: t.Any,
    root_id: t.Any = None,
    vm_id: t.Any = None,
    configuration: t.Any = None,
    environment: t.Any = None,
    failure_policy: t.Any = None,
    filter_type: t.Any = None,
    image_root_ids: t.Sequence[str] | None = None,
) -> WasmFilter:
    """Validate one filter's options and fill in the defaults.

    ``root_id`` defaults to the image's first root ID and, when the image's root IDs
    are known, must be one of them. ``vm_id`` defaults to the filter name, so filters
    do not share a VM unless asked to. ``failure_policy`` defaults to FAIL_CLOSED.
    """
    name = validate_filter_name(name)
    if vm_id is not None and (not isinstance(vm_id, str) or not vm_id):
        raise EnvoyConfigError(f'Filter {name}: vm_id must be a non-empty string, not {json.dumps(vm_id)}')
    return WasmFilter(
        name=name,
        module=_absolute_path(module, f'Filter {name}: module'),
        root_id=_choose_root_id(name, root_id, image_root_ids),
        vm_id=name if vm_id is None else vm_id,
        configuration=_configuration_text(name, configuration),
        environment=_environment(name, environment),
        failure_policy=validate_failure_policy(DEFAULT_FAILURE_POLICY if failure_policy is None else failure_policy, name),
        filter_type=validate_filter_type('http' if filter_type is None else filter_type, name),
    )


def filter_reference(name: t.Any, ecds_path: t.Any, filter_type: t.Any = None) -> FilterReference:
    name = validate_filter_name(name)
    return FilterReference(
        name=name,
        ecds_path=_absolute_path(ecds_path, f'Filter {name}: ecds_path'),
        filter_type=validate_filter_type('http' if filter_type is None else filter_type, name),
    )


def wasm_typed_config(wasm: WasmFilter) -> dict[str, t.Any]:
    """The ``Wasm`` filter config (``PluginConfig`` in ``config``) as a typed ``Any``."""
    vm_config: dict[str, t.Any] = {
        'vm_id': wasm.vm_id,
        'runtime': WASM_RUNTIME_V8,
        'code': {'local': {'filename': wasm.module}},
    }
    if wasm.environment:
        vm_config['environment_variables'] = {'key_values': dict(wasm.environment)}
    config: dict[str, t.Any] = {
        'name': wasm.name,
        'root_id': wasm.root_id,
        'vm_config': vm_config,
        # Set always: Envoy documents the default inconsistently. Never with the deprecated fail_open.
        'failure_policy': wasm.failure_policy,
    }
    if wasm.configuration is not None:
        config['configuration'] = {'@type': STRING_VALUE_TYPE_URL, 'value': wasm.configuration}
    return {'@type': WASM_TYPE_URLS[wasm.filter_type], 'config': config}


@dataclasses.dataclass(frozen=True)
class ImageIdentity:
    """The image a filter's module came from, as an ECDS file names it."""

    reference: str
    digest: str

    def __str__(self) -> str:
        return f'{self.reference} ({self.digest})'


def with_version(document: dict[str, t.Any], identity: ImageIdentity | None = None) -> dict[str, t.Any]:
    """``document`` with its ``version_info``: a fingerprint of the rest, after the image identity when given."""
    body = {key: value for key, value in document.items() if key != 'version_info'}
    fingerprint = hashlib.sha256(dump_document(body).encode('utf-8')).hexdigest()[:16]
    version = f'{identity.reference} {identity.digest} {fingerprint}' if identity else fingerprint
    return dict(body, version_info=version)


def image_identity(document: t.Any) -> ImageIdentity | None:
    """The image an ECDS file names in its ``version_info``, if it names one."""
    version = document.get('version_info') if isinstance(document, dict) else None
    parts = version.split(' ') if isinstance(version, str) else []
    return ImageIdentity(parts[0], parts[1]) if len(parts) == 3 else None


def ecds_document(wasm: WasmFilter, identity: ImageIdentity | None = None) -> dict[str, t.Any]:
    """The discovery response a ``path_config_source`` of extension config discovery reads.

    The resource's name must be the filter name the bootstrap's entry uses.
    """
    return with_version({
        'resources': [
            {
                '@type': TYPED_EXTENSION_CONFIG_TYPE_URL,
                'name': wasm.name,
                'typed_config': wasm_typed_config(wasm),
            }
        ]
    }, identity)


def ecds_filter_entry(reference: FilterReference) -> dict[str, t.Any]:
    """The filter entry (HTTP filter or network filter) taking its config from the ECDS file."""
    return {
        'name': reference.name,
        'config_discovery': {
            'config_source': {
                'path_config_source': {'path': reference.ecds_path},
                'resource_api_version': 'V3',
            },
            'type_urls': [WASM_TYPE_URLS[reference.filter_type]],
        },
    }


def parse_address(address: t.Any, what: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) and check both halves."""
    if not isinstance(address, str):
        raise EnvoyConfigError(f'{what} must be a string host:port, not {json.dumps(address, default=str)}')
    match = re.fullmatch(r'\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]]+):(\d+)', address.strip())
    if not match:
        raise EnvoyConfigError(f'{what} must be host:port ([address]:port for IPv6), not {json.dumps(address)}')
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise EnvoyConfigError(f'{what}: port {port} is out of range in {json.dumps(address)}')
    if not _is_ip(host) and (match.group(1) or not _HOST_NAME.fullmatch(host)):
        raise EnvoyConfigError(f'{what}: {json.dumps(host)} is neither an IP address nor a host name')
    return host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _socket_address(host: str, port: int) -> dict[str, t.Any]:
    return {'socket_address': {'address': host, 'port_value': port}}


def _ip_address(address: t.Any, what: str) -> dict[str, t.Any]:
    """Envoy binds listeners and admin to IP addresses only."""
    host, port = parse_address(address, what)
    if not _is_ip(host):
        raise EnvoyConfigError(f'{what} must be an IP address and port (such as 127.0.0.1:9901), not {json.dumps(address)}')
    return _socket_address(host, port)


def _upstream_cluster(upstream: str) -> dict[str, t.Any]:
    host, port = parse_address(upstream, 'upstream')
    return {
        'name': UPSTREAM_CLUSTER,
        # An IP needs no resolving; a name is resolved and re-resolved by Envoy.
        'type': 'STATIC' if _is_ip(host) else 'LOGICAL_DNS',
        'connect_timeout': '5s',
        'load_assignment': {
            'cluster_name': UPSTREAM_CLUSTER,
            'endpoints': [{'lb_endpoints': [{'endpoint': {'address': _socket_address(host, port)}}]}],
        },
    }


def _route(upstream: str | None) -> dict[str, t.Any]:
    if upstream is None:
        return {'match': {'prefix': '/'}, 'direct_response': {'status': 200, 'body': {'inline_string': 'ok\n'}}}
    return {'match': {'prefix': '/'}, 'route': {'cluster': UPSTREAM_CLUSTER}}


@dataclasses.dataclass(frozen=True)
class ManagedConfig:
    """The three files of a managed Envoy: the bootstrap, its listeners (LDS) and its clusters (CDS).

    Envoy watches the listener and cluster files as it watches ECDS files, so a change to
    the filter chain or the upstream applies without a restart; only a change to the
    bootstrap itself (node, admin, file paths) needs one.
    """

    bootstrap: dict[str, t.Any]
    listeners: dict[str, t.Any]
    clusters: dict[str, t.Any]

    def validation_bootstrap(self) -> dict[str, t.Any]:
        """The same Envoy as one static bootstrap: ``envoy --mode validate`` checks static
        resources but does not read LDS or CDS files."""
        static = {key: value for key, value in self.bootstrap.items() if key != 'dynamic_resources'}
        static['static_resources'] = {
            'listeners': [_without_type(resource) for resource in self.listeners['resources']],
            'clusters': [_without_type(resource) for resource in self.clusters['resources']],
        }
        return static


def _without_type(resource: dict[str, t.Any]) -> dict[str, t.Any]:
    return {key: value for key, value in resource.items() if key != '@type'}


def _path_source(path: str) -> dict[str, t.Any]:
    return {'path_config_source': {'path': path}, 'resource_api_version': 'V3'}


def _check_unique(filters: t.Sequence[FilterReference]) -> None:
    names = [reference.name for reference in filters]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise EnvoyConfigError(f'Filter names must be unique in a bootstrap; repeated: {", ".join(duplicates)}')


def _listener(listener_address: t.Any, filters: t.Sequence[FilterReference], upstream: str | None) -> dict[str, t.Any]:
    connection_manager = {
        'name': HCM_NAME,
        'typed_config': {
            '@type': HCM_TYPE_URL,
            'stat_prefix': STAT_PREFIX,
            'route_config': {
                'name': 'all',
                'virtual_hosts': [{'name': 'all', 'domains': ['*'], 'routes': [_route(upstream)]}],
            },
            'http_filters': [ecds_filter_entry(reference) for reference in filters if reference.filter_type == 'http']
            + [{'name': ROUTER_NAME, 'typed_config': {'@type': ROUTER_TYPE_URL}}],
        },
    }
    network_filters = [ecds_filter_entry(reference) for reference in filters if reference.filter_type == 'network']
    return {
        '@type': LISTENER_TYPE_URL,
        'name': LISTENER_NAME,
        'address': _ip_address(listener_address, 'listener_address'),
        'filter_chains': [{'filters': [*network_filters, connection_manager]}],
    }


def managed_config(
    node_id: t.Any,
    cluster: t.Any,
    admin_address: t.Any,
    listener_address: t.Any,
    filters: t.Sequence[FilterReference],
    listeners_path: str,
    clusters_path: str,
    upstream: str | None = None,
) -> ManagedConfig:
    """A complete Envoy: admin, and from files one listener and, with ``upstream``, one cluster.

    The listener's HTTP connection manager runs the HTTP Wasm filters (fed from their
    ECDS files, in the given order) and then the router, which sends everything to
    ``upstream`` (``host:port``) or, without one, answers 200 itself. Network Wasm
    filters run before the connection manager.
    """
    for value, what in ((node_id, 'node_id'), (cluster, 'cluster')):
        if not isinstance(value, str) or not value:
            raise EnvoyConfigError(f'{what} must be a non-empty string, not {json.dumps(value, default=str)}')
    _check_unique(filters)
    listeners_path = _absolute_path(listeners_path, 'listeners_path')
    clusters_path = _absolute_path(clusters_path, 'clusters_path')
    clusters = [] if upstream is None else [dict({'@type': CLUSTER_TYPE_URL}, **_upstream_cluster(upstream))]
    return ManagedConfig(
        bootstrap={
            # Envoy needs both node fields to subscribe to files.
            'node': {'id': node_id, 'cluster': cluster},
            'admin': {'address': _ip_address(admin_address, 'admin_address')},
            'dynamic_resources': {'lds_config': _path_source(listeners_path), 'cds_config': _path_source(clusters_path)},
        },
        listeners=with_version({'resources': [_listener(listener_address, filters, upstream)]}),
        clusters=with_version({'resources': clusters}),
    )


def _yaml_scalar(value: t.Any) -> str:
    if isinstance(value, str) and _PLAIN_SCALAR.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


def _yaml_lines(value: t.Any, indent: str) -> list[str]:
    """Block-style YAML of dicts, lists and scalars; JSON quoting (valid YAML) where a scalar needs it."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f'{indent}{_yaml_scalar(key)}:')
                lines.extend(_yaml_lines(item, indent + '  '))
            else:
                lines.append(f'{indent}{_yaml_scalar(key)}: {_yaml_scalar(item) if item or item == 0 else json.dumps(item)}')
    else:
        for item in value:
            nested = _yaml_lines(item, indent + '  ') if isinstance(item, (dict, list)) else [indent + '  ' + _yaml_scalar(item)]
            lines.append(indent + '- ' + nested[0][len(indent) + 2:])
            lines.extend(nested[1:])
    return lines


def filter_stanza(reference: FilterReference) -> str:
    """The YAML list item that makes an existing bootstrap take the filter from its ECDS file,
    with where it goes."""
    if reference.filter_type == 'http':
        where = f'the http_filters of the HTTP connection manager that should run it, before {ROUTER_NAME}'
    else:
        where = f'the filters of the listener filter chain that should run it, before {HCM_NAME}'
    return f'# Add to {where}:\n' + '\n'.join(_yaml_lines([ecds_filter_entry(reference)], '')) + '\n'


def _config_source_path(source: t.Any) -> str | None:
    if not isinstance(source, dict):
        return None
    file_source = source.get('path_config_source')
    # ``path`` is the deprecated spelling of path_config_source.
    path = file_source.get('path') if isinstance(file_source, dict) else source.get('path')
    return os.path.normpath(path) if isinstance(path, str) and path else None


def every_mapping(document: t.Any) -> t.Iterator[dict[str, t.Any]]:
    """Every mapping in ``document``, however deep."""
    if isinstance(document, dict):
        yield document
        values: t.Iterable[t.Any] = document.values()
    elif isinstance(document, list):
        values = document
    else:
        return
    for value in values:
        yield from every_mapping(value)


def referenced_ecds_paths(document: t.Any) -> set[str]:
    """The files every ``config_discovery`` in ``document`` reads, wherever it sits."""
    paths = (_config_source_path(discovery.get('config_source'))
             for discovery in (item.get('config_discovery') for item in every_mapping(document)) if isinstance(discovery, dict))
    return {path for path in paths if path}


def module_files(document: t.Any) -> set[str]:
    """The local module files every Wasm VM in ``document`` loads (``code.local.filename``)."""
    locals_ = (item['local'] for item in every_mapping(document) if isinstance(item.get('local'), dict))
    return {os.path.normpath(local['filename']) for local in locals_ if isinstance(local.get('filename'), str) and local['filename']}


def admin_address_of(bootstrap: t.Any) -> str | None:
    """The ``host:port`` of a bootstrap's admin interface, if it has one."""
    address: t.Any = bootstrap
    for key in ('admin', 'address', 'socket_address'):
        address = address.get(key) if isinstance(address, dict) else None
    if not isinstance(address, dict) or not isinstance(address.get('address'), str) or not isinstance(address.get('port_value'), int):
        return None
    host = address['address']
    return f'[{host}]:{address["port_value"]}' if ':' in host else f'{host}:{address["port_value"]}'


def node_id_of(bootstrap: t.Any) -> str | None:
    node = bootstrap.get('node') if isinstance(bootstrap, dict) else None
    node_id = node.get('id') if isinstance(node, dict) else None
    return node_id if isinstance(node_id, str) else None


def listener_file(bootstrap: t.Any) -> str | None:
    """The file a bootstrap takes its listeners from (file-based LDS), if any."""
    dynamic = bootstrap.get('dynamic_resources') if isinstance(bootstrap, dict) else None
    return _config_source_path(dynamic.get('lds_config')) if isinstance(dynamic, dict) else None


def dump_document(document: dict[str, t.Any]) -> str:
    """Stable, human-readable text: indented JSON with sorted keys, which Envoy reads as YAML."""
    return json.dumps(document, indent=2, sort_keys=True) + '\n'
