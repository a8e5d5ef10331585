"""Where things are, the environment Ansible runs in, what machine this is, and a self-cleaning workspace."""

from __future__ import annotations

import atexit
import dataclasses
import importlib
import importlib.metadata
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import typing as t

REPO = pathlib.Path(__file__).resolve().parents[2]
"""The checkout's root (``benchmarks/..``)."""

BIN = pathlib.Path(sys.executable).parent
"""The virtualenv's ``bin`` (``ansible-playbook``, ``ansible``, ...): the running interpreter's directory."""


def harness_module(name: str) -> t.Any:
    """``harness.<name>`` of the integration suite (``tests/integration/harness``), imported as the top-level
    package ``harness`` as the tests do: ``harness_module('registries').start_registry``. Import it this way (or call
    this once before ``from harness... import``) so that ``tests/integration`` is on ``sys.path``."""
    if str(REPO / 'tests' / 'integration') not in sys.path:
        sys.path.insert(0, str(REPO / 'tests' / 'integration'))
    return importlib.import_module(f'harness.{name}')


def ansible_environment(collections: pathlib.Path | None = None, **extra: str) -> dict[str, str]:
    """``os.environ`` plus what a benchmark's ``ansible``/``ansible-playbook`` run needs: ``BIN`` first on PATH,
    ``ANSIBLE_COLLECTIONS_PATH`` (default ``REPO/.build/linked``), this interpreter for localhost, no colour, no
    retry files, the ``default`` stdout callback; ``extra`` overrides any of them."""
    collections = collections or REPO / '.build' / 'linked'
    return dict(
        os.environ,
        PATH=f'{BIN}{os.pathsep}{os.environ.get("PATH", "")}',
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_STDOUT_CALLBACK='default',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_RETRY_FILES_ENABLED='0',
        **extra,
    )


def machine_info() -> dict[str, t.Any]:
    """CPUs, 1-minute load now, Python and ansible-core versions: record it next to the numbers."""
    return {
        'cpus': os.cpu_count(),
        'load_1min': os.getloadavg()[0],
        'python': sys.version.split()[0],
        'ansible_core': importlib.metadata.version('ansible-core'),
    }


@dataclasses.dataclass
class Workspace:
    """A temporary directory (``root``) and the callables that stop what a benchmark started (``stops``, run last
    first). ``close()`` runs them and removes the directory; it is idempotent and registered with ``atexit``, and
    SIGTERM exits through it. Use ``Workspace.create('wasm-oci-bench-')`` or as a context manager."""

    root: pathlib.Path
    stops: list[t.Callable[[], object]] = dataclasses.field(default_factory=list)

    @classmethod
    def create(cls, prefix: str = 'wasm-oci-bench-') -> Workspace:
        workspace = cls(pathlib.Path(tempfile.mkdtemp(prefix=prefix)))
        atexit.register(workspace.close)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return workspace

    def close(self) -> None:
        while self.stops:
            self.stops.pop()()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _exit_on_sigterm(*_args: object) -> None:
    sys.exit(143)  # so that finally blocks and atexit run
