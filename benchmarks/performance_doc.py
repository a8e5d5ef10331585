"""The tables of docs/performance.md, written from benchmarks/results.json, so the page quotes what ``make bench`` measured.

``make bench`` runs it after transfer.py and hosts.py. It replaces what lies between each pair of markers
``<!-- results: NAME -->`` and ``<!-- end of results: NAME -->`` in the page and leaves the
prose around them alone (NAME: transfer, hosts, total). ``tests/unit/test_performance_doc.py`` fails when the page and the JSON file disagree.

    .venv/bin/python benchmarks/performance_doc.py [--results benchmarks/results.json] [--page docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import typing as t

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / 'results.json'
PAGE = HERE.parent / 'docs' / 'performance.md'
BLOCK = re.compile(r'(<!-- results: (?P<name>[a-z]+) -->\n).*?(<!-- end of results: (?P=name) -->)', re.DOTALL)

PULL_ROWS = {
    'library': 'library pull',
    'floor_fsync': 'floor: GET, sha256, write, fsync',
    'floor_no_fsync': 'floor without fsync',
    'floor_by_tag': 'floor by tag: the manifest, then the floor',
    'compat_floor': 'compat floor: and gunzip, tar, sha256 of the module',
    'skopeo': '`skopeo copy` to `dir:` [process]',
    'oras': 'ORAS SDK pull',
    'ansible': '`wasm_image_pull` through Ansible [process]',
}
PUSH_ROWS = {
    'library': 'library push',
    'skopeo': '`skopeo copy` from the layout [process]',
    'oras': 'ORAS SDK push',
    'ansible': '`wasm_image_push` through Ansible [process]',
}
FLAT_REQUESTS = 'the registry requests of an update do not grow with the hosts'
HOST_RUNS = {'noop': 'A no-op role run', 'two_tasks': 'B stat + uri', 'update': 'C update'}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)] + ['| ' + ' | '.join(row) + ' |' for row in rows]


def _transfer_table(section: dict[str, t.Any], labels: dict[str, str], ratio: t.Callable[[str, dict[str, t.Any]], str]) -> list[str]:
    columns = [(variant, size) for variant, sizes in section.items() for size in sizes]
    rows = []
    for name, label in labels.items():
        if any(name in section[variant][size] for variant, size in columns):
            rows.append([label] + [f'{section[variant][size][name]["seconds"]["median"]:.3f}' if name in section[variant][size] else ''
                                   for variant, size in columns])
    rows.append(['**library, ratio**'] + [ratio(variant, section[variant][size]['library']) for variant, size in columns])
    return _table(['median s'] + [f'{variant} {size} MiB' for variant, size in columns], rows)


def _pull_ratio(variant: str, library: dict[str, t.Any]) -> str:
    key = 'ratio_to_compat_floor' if variant == 'compat' else 'ratio_to_floor_fsync'
    return f'{library[key]:.2f}x' if key in library else ''


def transfer_block(everything: dict[str, t.Any]) -> list[str]:
    results = everything['transfer']
    machine = results['machine']
    heading = (
        f'One run of `benchmarks/transfer.py`: {machine["cpus"]} CPUs, load average {machine["load_1min"]:.1f} at the start and '
        f'{results["load_1min_after"]:.1f} at the end, Python {machine["python"]}, ansible-core {machine["ansible_core"]}, '
        f'{results["seconds"]:.0f} s in all. Seconds are the median of {results["runs"]} runs, {results["smallest_size_runs"]} at '
        f'{min(results["sizes_mib"])} MiB but through Ansible, {results["push_runs"]} for pushes above it (minimum and maximum in the '
        'JSON file); '
        '[process] rows are timed from spawn to exit, the others after their imports. The ratio row compares the library with '
        'its floor (oci: the floor with fsync; compat: the compat floor).'
    )
    lines = [heading, '']
    lines += _transfer_table(results['pull'], PULL_ROWS, _pull_ratio)
    baseline = results['baseline_rss_mib']['median']
    above = [cases['library']['peak_rss_mib']['median'] - baseline for sizes in results['pull'].values() for cases in sizes.values()]
    memory = (
        f'Peak RSS of a library pull: {min(above):.0f} to {max(above):.0f} MiB above the {baseline:.0f} MiB of an interpreter that '
        'made the same imports, at every size.'
    )
    push = 'The push, each run to a new repository, every blob uploaded; the ratio row compares the library with `skopeo copy`:'
    lines += ['', memory, '', push, '']
    lines += _transfer_table(results['push'], PUSH_ROWS,
                             lambda variant, library: f'{library["ratio_to_skopeo"]:.2f}x' if 'ratio_to_skopeo' in library else '')
    lines += ['', 'Requests of first runs and no-op re-runs, counted in the registry access log:', '']
    lines += _table(['run', 'variant', 'client', 'requests', 'blob bytes', 'upload requests'],
                    [[row['operation'], row['variant'], row['client'], str(row['requests']), str(row['blob_bytes']), str(row['blob_uploads'])]
                     for row in results['noop']])
    lines += ['', 'The targets of issue 12 in this run:', '']
    lines += [f'- {"met" if target["met"] else "**not met**"}: {target["target"]}: {target["measured"]}' for target in results['targets']]
    return lines


def hosts_block(everything: dict[str, t.Any]) -> list[str]:
    results = everything['hosts']
    machine = results['machine']
    sizes = [results['sizes'][key] for key in sorted(results['sizes'], key=int)]
    heading = (
        f'One run of `benchmarks/hosts.py`: {machine["cpus"]} CPUs, load average {machine["load_1min"]:.1f} at the start and '
        f'{results["load_1min_after"]:.1f} at the end, ansible-core {machine["ansible_core"]}, {results["total_seconds"]:.0f} s in all; '
        f'medians of {results["runs"]} rounds of A B C.'
    )
    lines = [heading, '']
    rows = []
    for size in sizes:
        for name, label in HOST_RUNS.items():
            run = size[name]
            seconds = run['seconds']
            ratio = '' if name == 'two_tasks' else f'**{seconds["median"] / size["two_tasks"]["seconds"]["median"]:.2f}**'
            on_controller = f' (+{run["controller_module_executions"]:g} on the controller)' if run['controller_module_executions'] else ''
            modules = f'{run["module_executions_per_host"]:g}{on_controller}'
            rows.append([str(size['hosts']), label, f'{seconds["median"]:.2f}', f'{seconds["min"]:.2f}', f'{seconds["max"]:.2f}', ratio,
                         f'{run["cpu_seconds"]:.1f}', f'{run["module_cpu_seconds"]:.1f}', modules, f'{run["module_cpu_seconds_per_host"]:.2f}'])
    lines += _table(['hosts', 'run', 'median s', 'min', 'max', 'x B', 'CPU s', 'of it in modules', 'modules per host',
                     'module CPU s per host'], rows)
    lines += ['', 'Registry requests per run, from the access log:', '']
    lines += _table(['hosts', 'no-op, `pull_on: controller`', 'update, `pull_on: controller`', 'update, `pull_on: host`'],
                    [[str(size['hosts']), f'{size["noop"]["registry_requests"]:g}', f'{size["update"]["registry_requests"]:g}',
                      f'{size["update_pull_on_host"]["registry_requests"]:g}'] for size in sizes])
    verdicts = results['verdicts']
    lines += ['', 'The targets of issue 12 in this run:', '',
              f'- {"met" if verdicts["noop_within_1.6x"] else "**not met**"}: a no-op run within {results["targets"]["noop_ratio"]}x of B',
              f'- {"met" if verdicts["update_within_2.2x"] else "**not met**"}: an update within {results["targets"]["update_ratio"]}x of B',
              f'- {"met" if verdicts["controller_requests_flat"] else "**not met**"}: with `pull_on: controller` {FLAT_REQUESTS}']
    return lines


# What issue 12 allows make bench on this two-core machine.
BENCH_LIMIT_SECONDS = 600


def total_block(everything: dict[str, t.Any]) -> list[str]:
    transfer, hosts = everything['transfer']['seconds'], everything['hosts']['total_seconds']
    total = transfer + hosts
    verdict = 'met' if total < BENCH_LIMIT_SECONDS else '**not met**'
    sentence = (
        f'`transfer.py` {transfer:.0f} s and `hosts.py` {hosts:.0f} s: {total / 60:.1f} minutes in all, in the runs above '
        f'({verdict}: under {BENCH_LIMIT_SECONDS // 60} minutes on this two-core machine).'
    )
    return [sentence]


BLOCKS = {'transfer': transfer_block, 'hosts': hosts_block, 'total': total_block}


def rewritten(page: str, results: dict[str, t.Any]) -> str:
    """``page`` with each results block written anew from ``results``."""
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + '\n'.join(BLOCKS[match['name']](results)) + '\n' + match.group(3)
    return BLOCK.sub(replace, page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--results', type=pathlib.Path, default=RESULTS)
    parser.add_argument('--page', type=pathlib.Path, default=PAGE)
    arguments = parser.parse_args()
    page = arguments.page.read_text(encoding='utf-8')
    missing = [name for name in BLOCKS if f'<!-- results: {name} -->' not in page]
    if missing:
        raise SystemExit(f'{arguments.page} has no block for {", ".join(missing)}')
    arguments.page.write_text(rewritten(page, json.loads(arguments.results.read_text(encoding='utf-8'))), encoding='utf-8')
    print(f'{arguments.page}: tables written from {arguments.results}')


if __name__ == '__main__':
    main()
