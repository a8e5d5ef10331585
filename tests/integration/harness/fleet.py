"""A fleet of real SSH hosts for the integration suite: one Linux network namespace per host.

Session fixture:

* ``fleet`` -- a ``Fleet`` of ``WASM_OCI_FLEET_SIZE`` (default 3) hosts, ``envoy-0`` ... ``envoy-<N-1>``.
  Host ``i`` is the network namespace ``wasmoci-<session id>-<i>``, joined to the root namespace by a veth pair
  in a /30 of its own from 10.248.0.0/16: the root namespace's end is ``.1`` (``FleetHost.gateway``), the
  host's is ``.2`` (``FleetHost.address``). Loopback is up in each namespace and it has no other route, so a
  host reaches the root namespace's end of its veth and nothing else (hosts do not reach each other).
  An ``sshd`` runs in each namespace on ``<address>:22``, with a host key and a client key pair made for the
  session; root logs in with the key (``PermitRootLogin prohibit-password``).

Namespaces share the file system with the root namespace, so every host sees the same files: each has a
directory of its own, ``FleetHost.root`` (the ``fleet_root`` host variable), to stand for its ``/``, e.g.
``{{ fleet_root }}/etc/envoy``.

``Fleet`` gives:

* ``hosts`` -- the ``FleetHost`` list (name, namespace, address, root, gateway, veth, index);
* ``inventory_path`` -- a YAML inventory: group ``envoys``, and for each host ``ansible_host`` (its address),
  ``ansible_user=root``, ``ansible_ssh_private_key_file``, ``ansible_ssh_common_args`` (no host key
  checking), ``ansible_python_interpreter`` (this test Python: same file system), ``ansible_control_path_dir``
  (one for the session), ``fleet_root``, ``fleet_namespace``, ``fleet_address``;
* ``run_in(host, command)`` -- run a command inside the host's namespace (``ip netns exec``);
* ``start_in(host, command)`` -- start a background process there, stopped at the latest at teardown;
* ``wait_for_port(host, port)``, ``ssh_command(host, *remote)``, ``ansible_environment(base)``.

A host is named by its ``FleetHost``, its name (``'envoy-1'``) or its index.

Teardown (also when a test failed, and from ``atexit`` if the fixture never got to it) closes Ansible's
SSH control masters, stops the processes started with ``start_in``, kills each ``sshd`` and anything else
still in a namespace by PID, and deletes the veths and namespaces. Each namespace has a record in
``/run/wasmoci-fleet`` (owner PID, sshd PID); setup first removes any ``wasmoci-*`` namespace whose owner or
sshd is dead, left by a run that crashed. Setup and teardown hold a lock there, so concurrent test sessions
take distinct /30s and never clean up each other's live hosts. While any fleet exists the root namespace has
an ``unreachable 10.248.0.0/16`` route, so a stray packet to a fleet address that is not up fails at once
instead of leaving the machine by the default route.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing as t

import pytest
import yaml

__all__ = [
    # fixtures
    'fleet',
    # helpers
    'Fleet', 'FleetHost', 'FleetProcess', 'FleetError', 'start_fleet', 'cleanup_stale_fleets',
    'NAMESPACE_PREFIX', 'FLEET_NETWORK', 'FLEET_GROUP',
]

NAMESPACE_PREFIX = 'wasmoci-'
FLEET_NETWORK = ipaddress.IPv4Network('10.248.0.0/16')
FLEET_GROUP = 'envoys'
HOST_NAME_FORMAT = 'envoy-{index}'
DEFAULT_SIZE = 3
STATE_DIR = pathlib.Path(os.environ.get('WASM_OCI_FLEET_STATE', '/run/wasmoci-fleet'))
SSHD = '/usr/sbin/sshd'
SSHD_PRIVSEP_DIR = pathlib.Path('/run/sshd')
SSH_PORT = 22
READY_TIMEOUT = 15.0
COMMAND_TIMEOUT = 120
STOP_TIMEOUT = 5.0
# Root-side veth names: 'wo' + session id + 'r' + index (IFNAMSIZ allows 15 characters); the namespace side has 'n'.
VETH_PATTERN = re.compile(r'^wo([0-9a-f]{6})r(\d+)$')
SESSION_ID_BYTES = 3

HostRef = t.Union['FleetHost', str, int]
Command = str | t.Sequence[str]


class FleetError(RuntimeError):
    """The fleet could not be set up, or a command run in a host failed."""


# -- small tools -----------------------------------------------------------------------------------------


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(['ip', *args], capture_output=True, text=True, check=False, timeout=30)
    if check and completed.returncode != 0:
        raise FleetError(f'ip {" ".join(args)} failed (exit {completed.returncode}): {completed.stderr.strip()}')
    return completed


def _argv(command: Command) -> list[str]:
    """A string runs through ``sh -c``; a sequence is the argument vector."""
    if isinstance(command, str):
        return ['sh', '-c', command]
    return [str(part) for part in command]


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first), or None."""
    try:
        text = pathlib.Path(f'/proc/{pid}/stat').read_text(encoding='ascii', errors='replace')
    except OSError:
        return None
    return text.rsplit(')', 1)[1].split()


def _start_time(pid: int) -> str | None:
    """The start time of a process (field 22 of /proc/PID/stat): with the PID, names a process across PID reuse."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _running(pid: int, start_time: str | None = None) -> bool:
    """Whether PID is a live (not zombie) process, and the same one that started at ``start_time`` if given."""
    fields = _proc_stat(pid)
    if not fields or fields[0] in ('Z', 'X'):
        return False
    return start_time is None or fields[19] == start_time


def _kill_pids(pids: t.Iterable[int], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM each PID, wait for them to go, SIGKILL those left. Reaps them if they are our children."""
    pids = [pid for pid in pids if pid != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while True:
            for pid in pids:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
            pids = [pid for pid in pids if _running(pid)]
            if not pids or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not pids:
            return


def _stop_popen(popen: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> int | None:
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=timeout)
    return popen.returncode


def _tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding='utf-8', errors='replace')
    except FileNotFoundError:
        return '(no log)'
    return '\n'.join(text.splitlines()[-lines:])


# -- namespaces, records and the lock --------------------------------------------------------------------


def _list_namespaces() -> list[str]:
    return [line.split()[0] for line in _ip('netns', 'list').stdout.splitlines() if line.strip()]


def _namespace_pids(namespace: str) -> list[int]:
    completed = _ip('netns', 'pids', namespace, check=False)
    return [int(word) for word in completed.stdout.split() if word.isdigit()]


def _list_links() -> list[str]:
    names = []
    for line in _ip('-o', 'link', 'show').stdout.splitlines():
        parts = line.split(':', 2)
        if len(parts) > 1:
            names.append(parts[1].strip().split('@', 1)[0])
    return names


def _record_path(namespace: str) -> pathlib.Path:
    return STATE_DIR / f'{namespace}.json'


def _read_record(namespace: str) -> dict[str, t.Any] | None:
    try:
        return json.loads(_record_path(namespace).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _write_record(namespace: str, record: dict[str, t.Any]) -> None:
    path = _record_path(namespace)
    temporary = path.with_suffix('.tmp')
    temporary.write_text(json.dumps(record), encoding='utf-8')
    temporary.replace(path)


@contextlib.contextmanager
def _state_lock() -> t.Iterator[None]:
    """Serialize fleet setup, teardown and stale cleanup between concurrent test sessions on this machine."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with (STATE_DIR / 'lock').open('a+b') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_stale(record: dict[str, t.Any] | None, pids: list[int]) -> bool:
    if record is None:
        # Not made by this harness (or its record is lost): only an empty namespace is safe to remove.
        return not pids
    if not _running(record['owner_pid'], record.get('owner_start')):
        return True
    sshd_pid = record.get('sshd_pid')
    if sshd_pid is None:
        return False  # its owner is alive and still setting it up
    return sshd_pid not in pids or not _running(sshd_pid, record.get('sshd_start'))


def _update_unreachable_route() -> None:
    """Hold ``unreachable 10.248.0.0/16`` in the root namespace while any fleet record exists."""
    if any(STATE_DIR.glob(f'{NAMESPACE_PREFIX}*.json')):
        _ip('route', 'replace', 'unreachable', str(FLEET_NETWORK))
    else:
        _ip('route', 'del', 'unreachable', str(FLEET_NETWORK), check=False)


def cleanup_stale_fleets() -> list[str]:
    """Remove the ``wasmoci-*`` namespaces of runs that died (owner or sshd dead), their processes (by PID),
    orphaned fleet veths and records. Returns the namespaces removed. Takes the state lock."""
    with _state_lock():
        return _cleanup_stale_locked()


def _cleanup_stale_locked() -> list[str]:
    removed = []
    for namespace in _list_namespaces():
        if not namespace.startswith(NAMESPACE_PREFIX):
            continue
        record = _read_record(namespace)
        pids = _namespace_pids(namespace)
        if not _is_stale(record, pids):
            continue
        _kill_pids(pids)
        if record and record.get('veth'):
            _ip('link', 'del', record['veth'], check=False)
        _ip('netns', 'delete', namespace, check=False)
        _record_path(namespace).unlink(missing_ok=True)
        if record and str(record.get('control_path_dir', '')).startswith(f'{tempfile.gettempdir()}/{NAMESPACE_PREFIX}cp-'):
            _close_control_masters(pathlib.Path(record['control_path_dir']))
            shutil.rmtree(record['control_path_dir'], ignore_errors=True)
        removed.append(namespace)
    namespaces = set(_list_namespaces())
    for link in _list_links():
        match = VETH_PATTERN.match(link)
        if match and f'{NAMESPACE_PREFIX}{match[1]}-{match[2]}' not in namespaces:
            _ip('link', 'del', link, check=False)
    for path in STATE_DIR.glob(f'{NAMESPACE_PREFIX}*.json'):
        if path.stem not in namespaces:
            path.unlink(missing_ok=True)
    _update_unreachable_route()
    return removed


def _used_networks() -> set[ipaddress.IPv4Network]:
    """The /30s of 10.248.0.0/16 that an address or a route of the root namespace already covers."""
    used: set[ipaddress.IPv4Network] = set()
    for match in re.finditer(r'\binet (\S+)', _ip('-4', '-o', 'addr', 'show').stdout):
        address = ipaddress.IPv4Interface(match[1]).ip
        if address in FLEET_NETWORK:
            used.add(ipaddress.IPv4Network((address, 30), strict=False))
    for line in _ip('-4', 'route', 'show', 'table', 'all').stdout.splitlines():
        for word in line.split()[:2]:
            try:
                network = ipaddress.IPv4Network(word, strict=False)
            except ValueError:
                continue
            if network.prefixlen > FLEET_NETWORK.prefixlen and network.overlaps(FLEET_NETWORK):
                if network.prefixlen >= 30:
                    used.add(network.supernet(new_prefix=30))
                else:
                    used.update(network.subnets(new_prefix=30))
            break
    return used


def _allocate(count: int) -> list[ipaddress.IPv4Network]:
    used = _used_networks()
    free: list[ipaddress.IPv4Network] = []
    for network in FLEET_NETWORK.subnets(new_prefix=30):
        if network not in used:
            free.append(network)
            if len(free) == count:
                return free
    raise FleetError(f'no {count} free /30 networks left in {FLEET_NETWORK}')


# -- the fleet -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FleetHost:
    """One host of the fleet."""

    name: str  # its inventory name, e.g. envoy-0
    namespace: str  # wasmoci-<session id>-<index>
    address: str  # the namespace's end of the veth: sshd listens here, and so should the host's servers
    root: pathlib.Path  # the host's own directory, standing for its / (host variable fleet_root)
    gateway: str  # the root namespace's end of the veth: where the host reaches the test process
    veth: str  # the root namespace's end of the veth
    index: int

    def path(self, *parts: str) -> pathlib.Path:
        """A path under the host's root: ``host.path('etc/envoy')``."""
        return self.root.joinpath(*(part.lstrip('/') for part in parts))


class FleetProcess:
    """A background process in a host's namespace, logging to ``log_path``; stopped by PID."""

    def __init__(self, host: FleetHost, name: str, popen: subprocess.Popen, log_path: pathlib.Path) -> None:
        self.host = host
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Stop the process (idempotent) and return its exit status."""
        return _stop_popen(self.popen, timeout)

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)

    def __enter__(self) -> FleetProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Fleet:
    """N SSH hosts in network namespaces; ``start()`` sets them up, ``stop()`` (idempotent) removes them."""

    def __init__(self, workdir: pathlib.Path, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise FleetError(f'a fleet needs at least one host, not {size}')
        self.size = size
        self.workdir = pathlib.Path(workdir).resolve()
        self.session_id = secrets.token_hex(SESSION_ID_BYTES)
        self.hosts: list[FleetHost] = []
        self.inventory_path = self.workdir / 'inventory.yml'
        self.private_key = self.workdir / 'ssh' / 'id_ed25519'
        self.public_key = self.workdir / 'ssh' / 'id_ed25519.pub'
        self.host_key = self.workdir / 'ssh' / 'ssh_host_ed25519_key'
        self.authorized_keys = self.workdir / 'ssh' / 'authorized_keys'
        # ssh control sockets: a short path (sun_path holds 108 bytes), one per session, so that no master
        # connection of an earlier session to the same address is ever reused.
        self.control_path_dir = pathlib.Path(tempfile.mkdtemp(prefix=f'{NAMESPACE_PREFIX}cp-'))
        self.timings: dict[str, float] = {}
        self._created: list[tuple[str, str]] = []  # (namespace, root-side veth), in order of creation
        self._sshd: dict[str, subprocess.Popen] = {}
        self._processes: list[FleetProcess] = []
        self._stopped = False

    # -- setup and teardown

    def start(self) -> Fleet:
        started = time.monotonic()
        _ACTIVE.append(self)
        _check_prerequisites()
        for sub in ('ssh', 'sshd', 'hosts', 'processes'):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self._make_keys()
        with _state_lock():
            self.timings['stale_cleanup'] = _timed(_cleanup_stale_locked)
            networks = _allocate(self.size)
            for index, network in enumerate(networks):
                self._add_host(index, network)
            _update_unreachable_route()
            for host in self.hosts:
                self._start_sshd(host)
        self._wait_ready()
        self._write_inventory()
        self.timings['setup'] = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Remove everything the fleet made, by PID and by name; safe to call twice and after a failed start."""
        if self._stopped:
            return
        self._stopped = True
        started = time.monotonic()
        _close_control_masters(self.control_path_dir)
        for process in reversed(self._processes):
            process.stop()
        with _state_lock() if self._created else contextlib.nullcontext():
            for namespace, veth in reversed(self._created):
                popen = self._sshd.get(namespace)
                if popen is not None:
                    _stop_popen(popen)
                _kill_pids(_namespace_pids(namespace))
                _ip('link', 'del', veth, check=False)
                _ip('netns', 'delete', namespace, check=False)
                _record_path(namespace).unlink(missing_ok=True)
            if self._created:
                _update_unreachable_route()
        shutil.rmtree(self.control_path_dir, ignore_errors=True)
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        self.timings['teardown'] = time.monotonic() - started

    def _make_keys(self) -> None:
        for key, comment in ((self.host_key, 'host'), (self.private_key, 'client')):
            key.unlink(missing_ok=True)
            completed = subprocess.run(
                ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', f'wasmoci-fleet-{self.session_id}-{comment}', '-f', str(key)],
                capture_output=True, text=True, check=False, timeout=30,
            )
            if completed.returncode != 0:
                raise FleetError(f'ssh-keygen failed: {completed.stderr.strip()}')
        shutil.copyfile(self.public_key, self.authorized_keys)

    def _add_host(self, index: int, network: ipaddress.IPv4Network) -> None:
        namespace = f'{NAMESPACE_PREFIX}{self.session_id}-{index}'
        veth, peer = f'wo{self.session_id}r{index}', f'wo{self.session_id}n{index}'
        gateway, address = str(network[1]), str(network[2])
        # The record comes first, so that a crash from here on leaves something the next run can clean up.
        record = {
            'namespace': namespace, 'veth': veth, 'address': address, 'session': self.session_id,
            'workdir': str(self.workdir), 'control_path_dir': str(self.control_path_dir), 'owner_pid': os.getpid(), 'owner_start': _start_time(os.getpid()),
            'sshd_pid': None, 'sshd_start': None,
        }
        _write_record(namespace, record)
        self._created.append((namespace, veth))
        _ip('netns', 'add', namespace)
        _ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', peer, 'netns', namespace)
        _ip('addr', 'add', f'{gateway}/30', 'dev', veth)
        _ip('link', 'set', veth, 'up')
        _ip('-n', namespace, 'addr', 'add', f'{address}/30', 'dev', peer)
        _ip('-n', namespace, 'link', 'set', peer, 'up')
        _ip('-n', namespace, 'link', 'set', 'lo', 'up')
        name = HOST_NAME_FORMAT.format(index=index)
        root = self.workdir / 'hosts' / name
        root.mkdir(parents=True, exist_ok=True)
        self.hosts.append(FleetHost(name=name, namespace=namespace, address=address, root=root, gateway=gateway, veth=veth, index=index))

    def _sshd_paths(self, host: FleetHost) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
        base = self.workdir / 'sshd' / host.name
        return base.with_suffix('.conf'), base.with_suffix('.pid'), base.with_suffix('.log')

    def _start_sshd(self, host: FleetHost) -> None:
        config, pid_file, log = self._sshd_paths(host)
        config.write_text(
            '\n'.join([
                f'ListenAddress {host.address}:{SSH_PORT}',
                f'HostKey {self.host_key}',
                f'PidFile {pid_file}',
                f'AuthorizedKeysFile {self.authorized_keys}',
                'PermitRootLogin prohibit-password',
                'PubkeyAuthentication yes',
                'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'UsePAM no',
                'StrictModes no',
                'UseDNS no',
                'PrintMotd no',
                'PrintLastLog no',
                'X11Forwarding no',
                'MaxStartups 64:30:128',
                'MaxSessions 64',
                'Subsystem sftp internal-sftp',
                f'SetEnv "WASM_OCI_FLEET_HOST={host.name}" "WASM_OCI_FLEET_ROOT={host.root}"',
                'LogLevel INFO',
                '',
            ]),
            encoding='utf-8',
        )
        with log.open('ab') as log_file:
            popen = subprocess.Popen(  # pylint: disable=consider-using-with
                ['ip', 'netns', 'exec', host.namespace, SSHD, '-D', '-e', '-f', str(config)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            )
        # `ip netns exec` execs the command in its own process: the PID is sshd's.
        self._sshd[host.namespace] = popen
        record = _read_record(host.namespace) or {}
        record.update(sshd_pid=popen.pid, sshd_start=_start_time(popen.pid))
        _write_record(host.namespace, record)

    def _wait_ready(self) -> None:
        """Wait until every sshd sends its SSH banner on <address>:22, seen from the root namespace."""
        deadline = time.monotonic() + READY_TIMEOUT
        for host in self.hosts:
            popen = self._sshd[host.namespace]
            log = self._sshd_paths(host)[2]
            while True:
                if popen.poll() is not None:
                    raise FleetError(f'sshd of {host.name} ({host.namespace}) exited with {popen.returncode}:\n{_tail(log)}')
                if _ssh_banner(host.address, SSH_PORT):
                    break
                if time.monotonic() > deadline:
                    raise FleetError(f'sshd of {host.name} did not answer on {host.address}:{SSH_PORT} in {READY_TIMEOUT}s:\n{_tail(log)}')
                time.sleep(0.02)

    def _write_inventory(self) -> None:
        hosts = {}
        for host in self.hosts:
            hosts[host.name] = {
                'ansible_host': host.address,
                'ansible_port': SSH_PORT,
                'ansible_connection': 'ssh',
                'ansible_user': 'root',
                'ansible_ssh_private_key_file': str(self.private_key),
                'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
                'ansible_control_path_dir': str(self.control_path_dir),
                'ansible_python_interpreter': sys.executable,
                'fleet_root': str(host.root),
                'fleet_namespace': host.namespace,
                'fleet_address': host.address,
            }
        inventory = {'all': {'children': {FLEET_GROUP: {'hosts': hosts}}}}
        self.inventory_path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding='utf-8')

    # -- helpers for tests

    def host(self, ref: HostRef) -> FleetHost:
        """A host by ``FleetHost``, name or index."""
        if isinstance(ref, FleetHost):
            return ref
        if isinstance(ref, int):
            return self.hosts[ref]
        for host in self.hosts:
            if ref in (host.name, host.namespace):
                return host
        raise KeyError(f'no fleet host {ref!r}; the hosts are {[host.name for host in self.hosts]}')

    def run_in(
        self,
        host: HostRef,
        command: Command,
        *,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (argument list, or a string for ``sh -c``) in the host's namespace and return the
        completed process (text stdout and stderr). With ``check`` (the default) a non-zero exit raises
        ``FleetError`` with the output. The command runs as root on the shared file system: use ``host.root``."""
        target = self.host(host)
        argv = ['ip', 'netns', 'exec', target.namespace, *_argv(command)]
        completed = subprocess.run(argv, input=input, capture_output=True, text=True, check=False, timeout=timeout, env=env, cwd=cwd)
        if check and completed.returncode != 0:
            raise FleetError(
                f'{_argv(command)} in {target.name} ({target.namespace}) exited with {completed.returncode}:\n'
                f'--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}'
            )
        return completed

    def start_in(
        self,
        host: HostRef,
        command: Command,
        *,
        name: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> FleetProcess:
        """Start ``command`` in the background in the host's namespace, output to a log under the session's
        workdir. Stop it with ``.stop()`` (or use it as a context manager); teardown stops it anyway."""
        target = self.host(host)
        label = name or f'{target.name}-{len(self._processes)}'
        log = self.workdir / 'processes' / f'{label}.log'
        argv = ['ip', 'netns', 'exec', target.namespace, *_argv(command)]
        with log.open('ab') as log_file:
            log_file.write(f'$ {" ".join(argv)}\n'.encode())
            log_file.flush()
            popen = subprocess.Popen(  # pylint: disable=consider-using-with
                argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd
            )
        process = FleetProcess(target, label, popen, log)
        self._processes.append(process)
        return process

    def wait_for_port(self, host: HostRef, port: int, *, timeout: float = 10.0, process: FleetProcess | None = None) -> None:
        """Wait until ``<address>:port`` of the host accepts TCP connections from the root namespace; fail early
        (with its log) if ``process`` exits first."""
        target = self.host(host)
        deadline = time.monotonic() + timeout
        while True:
            if process is not None and not process.alive():
                raise FleetError(f'{process.name} exited with {process.popen.returncode} before {target.address}:{port} opened:\n{process.log_tail()}')
            with contextlib.suppress(OSError), socket.create_connection((target.address, port), timeout=1):
                return
            if time.monotonic() > deadline:
                tail = f':\n{process.log_tail()}' if process is not None else ''
                raise FleetError(f'nothing accepted connections on {target.address}:{port} of {target.name} in {timeout}s{tail}')
            time.sleep(0.05)

    def ssh_command(self, host: HostRef, *remote: str) -> list[str]:
        """The argument vector of a real ``ssh`` to the host as root, running ``remote`` (if given)."""
        target = self.host(host)
        return [
            'ssh', '-F', 'none', '-i', str(self.private_key), '-p', str(SSH_PORT),
            '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
            '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', f'root@{target.address}', *remote,
        ]

    def ansible_environment(self, base: t.Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with what Ansible needs for the fleet."""
        return dict(base if base is not None else os.environ, ANSIBLE_HOST_KEY_CHECKING='False')

    def sshd_log(self, host: HostRef) -> str:
        return _tail(self._sshd_paths(self.host(host))[2], 200)


def _timed(function: t.Callable[[], object]) -> float:
    started = time.monotonic()
    function()
    return time.monotonic() - started


def _ssh_banner(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(64).startswith(b'SSH-')
    except OSError:
        return False


def _close_control_masters(directory: pathlib.Path) -> None:
    """Ask each ssh control master of the session (Ansible's ControlPersist) to exit."""
    if not directory.is_dir():
        return
    for socket_path in directory.iterdir():
        if socket_path.is_socket():
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    ['ssh', '-F', 'none', '-o', f'ControlPath={socket_path}', '-O', 'exit', 'fleet'],
                    capture_output=True, check=False, timeout=STOP_TIMEOUT,
                )


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise FleetError('the fleet makes network namespaces: run the tests as root')
    missing = [tool for tool in ('ip', 'ssh', 'ssh-keygen') if shutil.which(tool) is None]
    missing += [SSHD] if not os.access(SSHD, os.X_OK) else []
    if missing:
        raise FleetError(f'missing {", ".join(missing)}: run tests/harness/install-system-deps (openssh-server, openssh-client, iproute2)')
    # Debian's sshd wants its privilege separation directory, which only its service script makes.
    SSHD_PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)


_ACTIVE: list[Fleet] = []


@atexit.register
def _stop_leftovers() -> None:
    """A safety net for an interrupted session: the fixture normally stops the fleet first."""
    for running in _ACTIVE.copy():  # a copy: stop() takes the fleet off _ACTIVE
        running.stop()


@contextlib.contextmanager
def start_fleet(workdir: pathlib.Path, size: int = DEFAULT_SIZE) -> t.Iterator[Fleet]:
    """Set up a fleet of ``size`` hosts under ``workdir`` and remove it on exit, whatever happened."""
    running = Fleet(workdir, size)
    try:
        running.start()
        yield running
    finally:
        running.stop()


# One fleet per test process, however many modules import the fixture (each import is a fixture definition
# of its own to pytest, with its own cache): the first user starts it, the last one's teardown stops it.
_SHARED: dict[str, t.Any] = {'fleet': None, 'users': 0}


@pytest.fixture(scope='session')
def fleet(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Fleet]:
    """The session's fleet of SSH hosts in network namespaces (see the module's docstring)."""
    if _SHARED['fleet'] is None:
        size = int(os.environ.get('WASM_OCI_FLEET_SIZE', DEFAULT_SIZE))
        running = Fleet(tmp_path_factory.mktemp('fleet'), size)
        try:
            running.start()
        except BaseException:
            running.stop()
            raise
        _SHARED['fleet'] = running
    _SHARED['users'] += 1
    try:
        yield _SHARED['fleet']
    finally:
        _SHARED['users'] -= 1
        if _SHARED['users'] == 0:
            _SHARED['fleet'].stop()
            _SHARED['fleet'] = None
