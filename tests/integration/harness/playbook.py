"""Run many module calls as the tasks of a few ansible-playbook runs, and hand back each task's result.

Every ``run_module`` starts Ansible afresh, which costs seconds of CPU; a test that needs dozens of module results
(every form of image, pulled and described) runs them as the tasks of a play instead, in a few plays side by side.
Each task ignores its errors, so one failure does not hide the others, and its registered result is what
``run_module`` returns for the same call: ``failed``, ``msg`` and the module's return values.
"""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import shutil
import subprocess
import sys
import typing as t

from .module_runner import COLLECTION

DEFAULT_TIMEOUT = 300
# A task's group is its name up to this separator: the tasks of a group run in order, in the same play.
GROUP_SEPARATOR = ': '
Task = tuple[str, dict[str, t.Any]]


def _ansible_playbook() -> str:
    """``ansible-playbook`` beside the test Python (the venv), else the one on PATH."""
    sibling = pathlib.Path(sys.executable).parent / 'ansible-playbook'
    return str(sibling) if sibling.is_file() else shutil.which('ansible-playbook') or 'ansible-playbook'


def _run_play(tasks: dict[str, Task], environment: t.Mapping[str, str], workdir: pathlib.Path, timeout: float) -> dict[str, dict[str, t.Any]]:
    workdir.mkdir()
    results_path = workdir / 'results.json'
    play_tasks: list[dict[str, t.Any]] = [
        {'name': name, f'{COLLECTION}.{module}': args, 'register': f'result_{position}', 'ignore_errors': True}
        for position, (name, (module, args)) in enumerate(tasks.items())
    ]
    registered = ', '.join(f'result_{position}' for position in range(len(tasks)))
    play_tasks.append({'name': 'Keep the results', 'ansible.builtin.copy': {
        'content': f'{{{{ [{registered}] | to_json }}}}', 'dest': str(results_path), 'mode': '0600',
    }})
    playbook = workdir / 'play.yml'
    # JSON is YAML, and needs no quoting rules.
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'tasks': play_tasks}]),
                        encoding='utf-8')
    # Pipelining runs each module in one process instead of copying it to a temporary directory first.
    completed = subprocess.run([_ansible_playbook(), '-i', 'localhost,', str(playbook)], env={**environment, 'ANSIBLE_PIPELINING': '1'},
                               capture_output=True, text=True, check=False, timeout=timeout)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert results_path.exists(), completed.stdout + completed.stderr
    results = json.loads(results_path.read_text(encoding='utf-8'))
    for result in results:
        result.setdefault('failed', False)
    return dict(zip(tasks, results, strict=True))


def run_tasks(tasks: t.Mapping[str, Task], environment: t.Mapping[str, str], workdir: pathlib.Path, *, plays: int = 2,
              timeout: float = DEFAULT_TIMEOUT) -> dict[str, dict[str, t.Any]]:
    """Run ``{name: (module, args)}`` on localhost and return ``{name: result}``.

    Tasks are grouped by their name up to ``GROUP_SEPARATOR``; each group runs in order within one of ``plays``
    ansible-playbook runs, which run side by side (each Ansible process keeps about one CPU busy).
    """
    groups: dict[str, dict[str, Task]] = {}
    for name, task in tasks.items():
        groups.setdefault(name.split(GROUP_SEPARATOR, 1)[0], {})[name] = task
    lanes: list[dict[str, Task]] = [{} for _position in range(plays)]
    for position, group in enumerate(groups.values()):
        lanes[position % plays].update(group)
    with concurrent.futures.ThreadPoolExecutor(max_workers=plays) as pool:
        futures = [pool.submit(_run_play, lane, environment, workdir / f'play-{position}', timeout)
                   for position, lane in enumerate(lanes) if lane]
        results = {name: result for future in futures for name, result in future.result().items()}
    return {name: results[name] for name in tasks}
