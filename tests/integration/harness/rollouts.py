"""Role runs against one local Envoy beyond ``role.LocalRollout``: runs started in the background (and killed
anywhere), the deploy task's result read from ``-v`` output, snapshots of a host's files, who held the Envoy's lock,
admin addresses that answer but are not Envoy's, and a user-owned bootstrap with the entry the role asks for pasted in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time
import typing as t

import yaml

from .envoy import free_port
from .role import LocalRollout, local_role_vars, run_role

DEPLOY_TASK = 'TASK [wasm.oci.envoy_filter : Apply the filter set'
LOCK_FILE = '.wasm-oci.lock'
ROUTER = 'envoy.filters.http.router'


@dataclasses.dataclass
class Launched:
    """An ansible-playbook run started in the background, in a session of its own, with its files in ``directory``:
    output in stdout.txt and stderr.txt, Ansible's temporary files under tmp/."""

    process: subprocess.Popen
    directory: pathlib.Path

    @property
    def stdout(self) -> pathlib.Path:
        return self.directory / 'stdout.txt'

    def wait(self, timeout: float = 300) -> subprocess.CompletedProcess:
        self.process.wait(timeout=timeout)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, self.stdout.read_text(encoding='utf-8'),
                                           (self.directory / 'stderr.txt').read_text(encoding='utf-8'))

    def wait_until(self, predicate: t.Callable[[], bool], what: str, timeout: float = 120) -> float:
        """Wait until ``predicate`` holds, polling every millisecond; when it did, as time.monotonic()."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.process.poll() is None, f'ansible-playbook ended before {what}:\n{self.stdout.read_text(encoding="utf-8")}'
            assert time.monotonic() < deadline, f'not within {timeout} s: {what}'
            time.sleep(0.001)
        return time.monotonic()

    def play_started(self, number: int) -> float:
        """Wait until play ``number`` (from 1) has started; when it did."""
        return self.wait_until(lambda: self.stdout.read_text(encoding='utf-8').count('\nPLAY [') >= number, f'play {number}')

    def running_module(self, module: str) -> bool:
        """Whether Ansible's copy of ``module`` (such as envoy_wasm_filters) is there, from its transfer until it ended."""
        return any((self.directory / 'tmp' / 'remote').glob(f'*/AnsiballZ_{module}.py'))

    def kill(self) -> list[str]:
        """SIGKILL the run and every process it started; the command lines of those processes.

        A process group is not enough: Ansible's workers call setsid(), so the module they run is in no group of the
        run's. The tree is stopped first (SIGSTOP) until no new process appears in it, then killed, so that nothing it
        forks in between escapes."""
        stopped: set[int] = set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGSTOP)
        while True:
            tree = {self.process.pid} | descendants(self.process.pid)
            new = tree - stopped
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            stopped |= new
            time.sleep(0.005)
        commands = []
        for pid in stopped:
            with contextlib.suppress(OSError):
                commands.append(pathlib.Path(f'/proc/{pid}/cmdline').read_text(encoding='utf-8', errors='replace').replace('\0', ' '))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        return commands


def parent_of(pid: int) -> int | None:
    """The parent PID of a live process, else None."""
    try:
        # The command name (in parentheses) may hold spaces; the parent PID is the second field after it.
        return int(pathlib.Path(f'/proc/{pid}/stat').read_text(encoding='utf-8').rsplit(')', 1)[1].split()[1])
    except OSError:
        return None


def descendants(root: int) -> set[int]:
    """Every live process below ``root``."""
    parents = {int(entry.name): parent_of(int(entry.name)) for entry in pathlib.Path('/proc').iterdir() if entry.name.isdigit()}
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class PublishedRollout(LocalRollout):
    """A LocalRollout with images published once for many rollouts (LocalRollout publishes its own)."""

    def __init__(self, envoy_binary: pathlib.Path, images: dict[str, str], environment: dict[str, str], workdir: pathlib.Path,
                 **role_vars: t.Any) -> None:  # pylint: disable=super-init-not-called
        self.envoy_binary, self.environment, self.workdir, self.images = envoy_binary, environment, workdir, dict(images)
        self.admin_port, self.listener_port = free_port(), free_port()
        self.role_vars = local_role_vars(workdir, str(envoy_binary), self.admin_port, self.listener_port, **role_vars)
        self.config_dir = pathlib.Path(self.role_vars['envoy_filter_config_dir'])
        self.wasm_dir = pathlib.Path(self.role_vars['envoy_filter_wasm_dir'])

    def filter_set(self, *versions: tuple[str, str], **extra: t.Any) -> list[dict[str, t.Any]]:
        """Filters by (name, image name), such as ('add_header', 'v1'); ``extra`` goes to each."""
        return [dict({'name': name, 'image': self.images[version]}, **extra) for name, version in versions]

    def run_with(self, options: t.Sequence[str], *filters: dict[str, t.Any], **extra_vars: t.Any) -> subprocess.CompletedProcess:
        """``run`` with ansible-playbook options such as -v and --diff."""
        return run_role(dict(self.role_vars, envoy_filter_filters=list(filters), **extra_vars), self.environment, self.workdir, *options)

    def launch(self, name: str, *plays: list[dict[str, t.Any]], options: t.Sequence[str] = (), **extra_vars: t.Any) -> Launched:
        """Start ansible-playbook in the background with one play per filter set in ``plays``, each running the role;
        its playbook, variables and output are in ``<workdir>/<name>``."""
        directory = self.workdir / name
        directory.mkdir(exist_ok=True)
        playbook, variables = directory / 'rollout.yml', directory / 'rollout-vars.json'
        playbook.write_text(json.dumps([{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'roles': ['wasm.oci.envoy_filter'],
                                         'vars': {'envoy_filter_filters': filters}} for filters in plays], indent=1), encoding='utf-8')
        variables.write_text(json.dumps(dict(self.role_vars, **extra_vars)), encoding='utf-8')
        # What a killed run leaves behind (Ansible's temporary directories, module payloads) stays in here.
        temporary = directory / 'tmp'
        temporary.mkdir(exist_ok=True)
        environment = dict(self.environment, PYTHONUNBUFFERED='1', TMPDIR=str(temporary), ANSIBLE_LOCAL_TEMP=str(temporary / 'local'),
                           ANSIBLE_REMOTE_TMP=str(temporary / 'remote'))
        with (directory / 'stdout.txt').open('wb') as out, (directory / 'stderr.txt').open('wb') as err:
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                ['ansible-playbook', '-i', 'localhost,', str(playbook), '-e', f'@{variables}', *options],
                env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        return Launched(process, directory)

    def ecds(self, name: str) -> pathlib.Path:
        return self.config_dir / 'ecds' / f'{name}.yaml'


def deploy_results(output: str) -> list[dict[str, t.Any]]:
    """The results of the role's envoy_wasm_filters task, one per play that ran it to the end, from the output of a run
    with -v (one line each) or -vvv (indented)."""
    results = []
    for section in output.split(DEPLOY_TASK)[1:]:
        found = re.search(r'^(ok|changed|fatal): \[[^\]]+\].* => \{', section, re.MULTILINE)
        if found:
            results.append(json.JSONDecoder().raw_decode(section[found.end() - 1:])[0])
    return results


def deploy_result(output: str) -> dict[str, t.Any]:
    """The result of the role's envoy_wasm_filters task in a run of one play with -v or -vvv."""
    return deploy_results(output)[0]


def files_and_modes(*directories: pathlib.Path) -> dict[str, tuple[int, bytes | None]]:
    """Every file and directory below ``directories``: its mode, and a file's bytes."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for directory in directories:
        for path in sorted(directory.rglob('*')):
            status = path.lstat()
            found[str(path)] = (status.st_mode, path.read_bytes() if path.is_file() else None)
    return found


class LockHolders:
    """Who took an Envoy's lock, in order, read from /proc/locks while runs go on: the index of each run in ``runs``
    (the process its holder descends from) every time the holder changes."""

    def __init__(self, config_dir: pathlib.Path, runs: t.Sequence[Launched]) -> None:
        self.inode = (config_dir / LOCK_FILE).stat().st_ino
        self.runs = {run.process.pid: index for index, run in enumerate(runs)}
        self.order: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> LockHolders:
        self._thread.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _holder(self) -> int | None:
        for line in pathlib.Path('/proc/locks').read_text(encoding='utf-8').splitlines():
            fields = line.split()
            # 1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF; waiters have '->' after the number.
            if len(fields) >= 6 and fields[1] == 'FLOCK' and int(fields[5].split(':')[-1]) == self.inode:
                return int(fields[4])
        return None

    def _run_of(self, pid: int | None) -> int | None:
        while pid is not None and pid > 1:
            if pid in self.runs:
                return self.runs[pid]
            pid = parent_of(pid)
        return None

    def _watch(self) -> None:
        last = None
        while not self._stop.is_set():
            holder = self._holder()
            if holder is not None and holder != last:
                last = holder
                run = self._run_of(holder)
                if run is not None:
                    self.order.append(run)
            time.sleep(0.002)


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # pylint: disable=invalid-name
        self.send_error(404)

    def log_message(self, format: str, *args: t.Any) -> None:  # pylint: disable=redefined-builtin
        pass


@contextlib.contextmanager
def not_envoy_admin(port: int, hang: bool = False) -> t.Iterator[None]:
    """Something on 127.0.0.1:``port`` that is no Envoy admin: an HTTP server answering 404, or (``hang``) a socket that
    accepts connections and never answers."""
    if hang:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(('127.0.0.1', port))
            listener.listen(16)
            yield
        return
    server = http.server.ThreadingHTTPServer(('127.0.0.1', port), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def ecds_entry(name: str, ecds_path: pathlib.Path) -> dict[str, t.Any]:
    """A bootstrap's HTTP filter entry that takes filter ``name`` from its ECDS file."""
    return {'name': name, 'config_discovery': {
        'config_source': {'path_config_source': {'path': str(ecds_path)}, 'resource_api_version': 'V3'},
        'type_urls': ['type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm']}}


def user_bootstrap(admin_port: int, listener_port: int, *entries: dict[str, t.Any]) -> str:
    """A bootstrap as a user writes one, in YAML: one listener answering 200 itself, with the HTTP filter ``entries``
    before the router."""
    def address(port: int) -> dict[str, t.Any]:
        return {'socket_address': {'address': '127.0.0.1', 'port_value': port}}
    connection_manager = {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        'stat_prefix': 'ingress',
        'route_config': {'virtual_hosts': [{'name': 'any', 'domains': ['*'],
                                            'routes': [{'match': {'prefix': '/'}, 'direct_response': {'status': 200}}]}]},
        'http_filters': [*entries, {'name': ROUTER,
                                    'typed_config': {'@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'}}],
    }
    return yaml.safe_dump({
        'node': {'id': 'ingress', 'cluster': 'ingress'},
        'admin': {'address': address(admin_port)},
        'static_resources': {'listeners': [{
            'name': 'ingress', 'address': address(listener_port),
            'filter_chains': [{'filters': [{'name': 'envoy.filters.network.http_connection_manager', 'typed_config': connection_manager}]}],
        }]},
    }, default_flow_style=False)


def paste_entry(bootstrap: str, stanza: str) -> str:
    """``bootstrap`` with ``stanza`` (the role's '# Add to ...' text, as it is) pasted above the router, as a person would."""
    router = next(line for line in bootstrap.splitlines() if line.strip() == f'- name: {ROUTER}')
    indent = router[:len(router) - len(router.lstrip())]
    pasted = ''.join(f'{indent}{line}\n' for line in stanza.splitlines())
    return bootstrap.replace(router + '\n', pasted + router + '\n', 1)
