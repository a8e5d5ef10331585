"""Run one module of the collection through Ansible for real, and hand its result back as a dict.

``run_module('wasm_image_pull', {...}, ansible_environment)`` runs
``ansible localhost -i localhost, -c local -m wasm.oci.wasm_image_pull -a '<JSON args>'``: the module is
found through ANSIBLE_COLLECTIONS_PATH, its arguments are validated by Ansible, it runs with the test
Python, and ``fail_json`` comes back as ``failed: true`` with ``msg``.

ansible-core 2.19 ships no JSON stdout callback (``json`` is in ansible.posix, and the builtin ``tree``
callback is deprecated), so a tiny stdout callback is written to a temporary directory once per process
and loaded with ANSIBLE_CALLBACK_PLUGINS. It writes the task result (internal keys stripped, ``invocation``,
``diff`` and ``exception`` kept) as JSON to the file named by WASM_OCI_RESULT_FILE.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import typing as t

COLLECTION = 'wasm.oci'
CALLBACK_NAME = 'wasm_oci_result'
RESULT_FILE_VARIABLE = 'WASM_OCI_RESULT_FILE'
DEFAULT_TIMEOUT = 300

_CALLBACK_SOURCE = '''
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: wasm_oci_result
type: stdout
short_description: write the result of an ad-hoc task as JSON to $WASM_OCI_RESULT_FILE
description: [Test helper of the wasm.oci integration suite.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'wasm_oci_result'

    def _record(self, result, **flags):
        raw = result.result if hasattr(result, 'result') else result._result
        document = self._dump_results(raw, keep_invocation=True, serialize=False)
        for key in ('diff', 'exception', 'warnings', 'deprecations'):
            if key in raw:
                document[key] = raw[key]
        document.update(flags)
        with open(os.environ['WASM_OCI_RESULT_FILE'], 'w', encoding='utf-8') as stream:
            json.dump(document, stream, default=str)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)
'''


class AnsibleRunError(AssertionError):
    """Ansible ran, but produced no task result (bad arguments to the CLI, a missing collection, ...)."""


@functools.cache
def _callback_dir() -> pathlib.Path:
    directory = pathlib.Path(tempfile.mkdtemp(prefix='wasm-oci-callback-'))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    (directory / f'{CALLBACK_NAME}.py').write_text(_CALLBACK_SOURCE, encoding='utf-8')
    return directory


def _ansible_command() -> str:
    """``ansible`` beside the test Python (the venv), else the one on PATH."""
    sibling = pathlib.Path(sys.executable).parent / 'ansible'
    if sibling.is_file():
        return str(sibling)
    found = shutil.which('ansible')
    if found is None:
        raise AnsibleRunError('ansible is not installed: run `make deps`')
    return found


def run_module(module: str, args: dict[str, t.Any], environment: t.Mapping[str, str], *, check_mode: bool = False,
               diff: bool = False, timeout: float = DEFAULT_TIMEOUT) -> dict[str, t.Any]:
    """Run ``module`` (``wasm_image_pull`` or a fully qualified name) once on localhost and return its result.

    The result is what a play would register: ``changed``, the module's return values, and ``failed`` with
    ``msg`` when the module failed (``failed`` is always present, False on success).
    """
    name = module if '.' in module else f'{COLLECTION}.{module}'
    handle, result_path = tempfile.mkstemp(prefix='wasm-oci-result-', suffix='.json')
    os.close(handle)
    try:
        env = dict(environment)
        env.update({
            'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
            'ANSIBLE_STDOUT_CALLBACK': CALLBACK_NAME,
            'ANSIBLE_CALLBACK_PLUGINS': str(_callback_dir()),
            RESULT_FILE_VARIABLE: result_path,
        })
        command = [_ansible_command(), 'localhost', '-i', 'localhost,', '-c', 'local', '-m', name,
                   '-a', json.dumps(args)]
        if check_mode:
            command.append('--check')
        if diff:
            command.append('--diff')
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=timeout)
        text = pathlib.Path(result_path).read_text(encoding='utf-8')
        if not text:
            raise AnsibleRunError(
                f'{" ".join(command[:-2])} produced no task result (exit {completed.returncode}):\n'
                f'{completed.stdout}\n{completed.stderr}'
            )
        result = json.loads(text)
    finally:
        os.unlink(result_path)
    result.setdefault('failed', False)
    return result


def publish(module: str, tag: str, repository: str, environment: t.Mapping[str, str], layout: str) -> str:
    """Build ``module`` as an add_header image and push it to ``repository`` (plain HTTP); return the reference."""
    built = run_module('wasm_image_build', {'src': module, 'layout': layout, 'tag': tag, 'root_ids': ['add_header']}, environment)
    assert not built['failed'], built
    pushed = run_module('wasm_image_push', {'layout': layout, 'tag': tag, 'name': repository, 'plain_http': True}, environment)
    assert not pushed['failed'], pushed
    return f'{repository}:{tag}'
