"""The envoy_filter role run on this machine by ansible-playbook, and readers of its output and of Envoy's answers."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import typing as t

import requests

from .envoy import HEADER, Envoy, free_port
from .module_runner import publish
from .registries import Registry

# The role's last task, which prints the summary of envoy_wasm_filters.
REPORT_TASK = 'Report what changed'


def run_role(play_vars: dict[str, t.Any], environment: dict[str, str], workdir: pathlib.Path, *options: str) -> subprocess.CompletedProcess:
    """The role on this machine; ``options`` go to ansible-playbook, such as --check and --diff."""
    playbook = workdir / 'rollout.yml'
    playbook.write_text('- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [wasm.oci.envoy_filter]\n',
                        encoding='utf-8')
    variables = workdir / 'rollout-vars.json'
    variables.write_text(json.dumps(play_vars), encoding='utf-8')
    return subprocess.run(['ansible-playbook', '-i', 'localhost,', str(playbook), '-e', f'@{variables}', *options], env=environment,
                          capture_output=True, text=True, check=False, timeout=300)


def local_role_vars(workdir: pathlib.Path, envoy_binary: str, admin_port: int, listener_port: int, **overrides: t.Any) -> dict[str, t.Any]:
    """The role's variables for this machine: directories of its own under ``workdir``, a plain-HTTP registry, loopback ports."""
    return {
        'envoy_filter_registry': {'plain_http': True},
        'envoy_filter_controller_cache': str(workdir / 'cache'),
        'envoy_filter_config_dir': str(workdir / 'etc-envoy'),
        # Not "wasm": the modules fixture keeps its source modules there.
        'envoy_filter_wasm_dir': str(workdir / 'wasm-store'),
        'envoy_filter_admin_address': f'127.0.0.1:{admin_port}',
        'envoy_filter_listener_address': f'127.0.0.1:{listener_port}',
        'envoy_filter_binary': envoy_binary,
        'envoy_filter_verify_timeout': 10,
        **overrides,
    }


def recap_changed(output: str) -> int:
    line = next(line for line in output.splitlines() if line.startswith('localhost') and 'changed=' in line)
    return int(line.split('changed=')[1].split()[0])


def reported(output: str, host: str = 'localhost') -> list[str]:
    """The summary lines the role's "Report what changed" task printed for ``host`` ([] when it printed none), each image's
    manifest digest shown as ``<digest>``: ``add_header: <image> (<digest>) applied and confirmed by Envoy``."""
    lines = output.splitlines()
    start = next((index for index, line in enumerate(lines) if line.startswith('TASK [') and f' : {REPORT_TASK}]' in line), len(lines))
    for index in range(start + 1, len(lines)):
        if lines[index].startswith(('TASK [', 'PLAY RECAP')):
            break
        if lines[index] == f'ok: [{host}] => {{':
            summary = json.loads('\n'.join(['{', *lines[index + 1:lines.index('}', index) + 1]]))['msg']
            return [re.sub(r' \(sha256:[0-9a-f]{64}\) ', ' (<digest>) ', line) for line in summary]
    return []


def failure_message(output: str) -> str:
    """The msg of the first failed task in ansible-playbook's default output."""
    line = next(line for line in output.splitlines() if line.startswith(('fatal: ', 'failed: ')))
    return json.loads(line[line.index('{'):])['msg']


class LocalRollout:
    """The role against this machine, with its own directories, admin and listener ports, and images in a registry."""

    def __init__(self, envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path], registry: Registry,
                 environment: dict[str, str], workdir: pathlib.Path, **role_vars: t.Any) -> None:
        self.envoy_binary = envoy_binary
        self.environment = environment
        self.workdir = workdir
        repository = f'{registry.host}/filters/add_header'
        self.images = {name: publish(str(modules[name]), name, repository, environment, str(workdir / 'layout')) for name in ('v1', 'v2', 'newer_host')}
        self.admin_port, self.listener_port = free_port(), free_port()
        self.role_vars = local_role_vars(workdir, str(envoy_binary), self.admin_port, self.listener_port, **role_vars)
        self.config_dir = pathlib.Path(self.role_vars['envoy_filter_config_dir'])
        self.wasm_dir = pathlib.Path(self.role_vars['envoy_filter_wasm_dir'])

    def run(self, *filters: dict[str, t.Any], **extra_vars: t.Any) -> subprocess.CompletedProcess:
        return run_role(dict(self.role_vars, envoy_filter_filters=list(filters), **extra_vars), self.environment, self.workdir)

    def start_envoy(self, bootstrap: pathlib.Path | None = None) -> Envoy:
        envoy = Envoy(self.envoy_binary, bootstrap or self.config_dir / 'envoy.yaml', self.workdir / 'envoy.log', self.admin_port, self.listener_port)
        envoy.wait_ready()
        return envoy

    def stored_modules(self) -> set[str]:
        return {path.name for path in self.wasm_dir.glob('*.wasm')}


def headers(envoy: Envoy) -> list[str]:
    """The values of the filters' header in one answer of ``envoy``'s listener, sorted."""
    response = requests.get(f'{envoy.listener}/', timeout=2)
    assert response.status_code == 200, f'{response.status_code} {response.text}\n{envoy.log_tail()}'
    return sorted(value.strip() for value in response.headers.get(HEADER, '').split(',') if value.strip())
