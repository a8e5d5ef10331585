"""Timing: one measured subprocess, alternating A B A B, and median/min/max summaries."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One run: wall ``seconds`` and, when measured, ``peak_rss_kib`` (the largest resident set of the process and of
    the descendants it waited for, from ``wait4``; Linux reports KiB) and ``process_seconds`` (the whole child process,
    fork to reaped, when ``seconds`` is only the part the child timed itself, e.g. without its imports) and
    ``cpu_seconds`` (user + system, the process and its descendants: on a busy machine, steadier than wall time)."""

    seconds: float
    peak_rss_kib: int | None = None
    process_seconds: float | None = None
    cpu_seconds: float | None = None  # user + system time of the process and its descendants


@dataclasses.dataclass(frozen=True)
class MeasuredProcess:
    """What ``run_measured`` returns: the ``measurement``, the ``returncode``, and the captured ``stdout``/``stderr``."""

    measurement: Measurement
    returncode: int
    stdout: str
    stderr: str


# Runs in a small interpreter of its own (no site, stdlib only) and spawns the measured command. Linux keeps the peak
# RSS of the memory a process had before exec in its maximum, so the command must be spawned by a small process: the
# benchmark itself, grown by building images, would lend the command its own size.
_LAUNCHER = """
import json, os, resource, sys, time
report, namespace_uid, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
if namespace_uid >= 0:
    import ctypes
    uid, gid = os.getuid(), os.getgid()
    if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:  # CLONE_NEWUSER
        raise OSError(ctypes.get_errno(), 'unshare(CLONE_NEWUSER)')
    for name, text in (('setgroups', 'deny'), ('uid_map', f'{namespace_uid} {uid} 1'), ('gid_map', f'{namespace_uid} {gid} 1')):
        with open(f'/proc/self/{name}', 'w') as stream:
            stream.write(text)
start = time.perf_counter()
pid = os.posix_spawnp(command[0], command, os.environ)
status = os.waitpid(pid, 0)[1]
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(report, 'w') as stream:
    json.dump({'seconds': seconds, 'maxrss_kib': usage.ru_maxrss, 'cpu_seconds': usage.ru_utime + usage.ru_stime}, stream)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_measured(command: t.Sequence[str], *, env: t.Mapping[str, str] | None = None, cwd: pathlib.Path | None = None,
                 timeout: float = 300.0, check: bool = True, namespace_uid: int | None = None) -> MeasuredProcess:
    """Run ``command`` as a fresh process: its wall time (spawn to exit) and its peak RSS (with its descendants').

    A launcher (a bare interpreter, ``-S``) spawns the command and reports ``RUSAGE_CHILDREN``'s ``ru_maxrss``, which
    is the command's own: the launcher has no other child, and being small it lends the command no pre-exec memory.
    The time is taken by the launcher around the spawn, so its own start-up is not counted. Output goes to temporary
    files, not pipes, so nothing needs reading while it runs. ``check``: raise ``RuntimeError`` with the output on a
    non-zero exit. A command still running after ``timeout`` seconds is killed with its launcher (SIGKILL to the
    process group the launcher leads, by its id) and the run raises.

    ``namespace_uid``: run the command as that uid in a user namespace of its own (it still acts as this user outside,
    on files and ports), set up by the launcher before the clock starts. For tools that keep caches in a system path
    as root and in ``$XDG_DATA_HOME`` otherwise: skopeo's blob info cache, which would turn a push to a new repository
    into a cross-repository mount of a blob it pushed before.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile(suffix='.json') as report:
        launcher = [sys.executable, '-S', '-c', _LAUNCHER, report.name, str(-1 if namespace_uid is None else namespace_uid), *command]
        process = subprocess.Popen(launcher, env=dict(env) if env is not None else None, cwd=cwd, stdout=out, stderr=err,  # pylint: disable=consider-using-with
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            returncode = process.wait()
            timed_out = True
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode('utf-8', errors='replace'), err.read().decode('utf-8', errors='replace')
        try:
            reported = json.loads(pathlib.Path(report.name).read_text(encoding='utf-8'))
        except ValueError:
            reported = {'seconds': float('nan'), 'maxrss_kib': None, 'cpu_seconds': None}
    measurement = Measurement(reported['seconds'], reported['maxrss_kib'], reported['seconds'], reported['cpu_seconds'])
    result = MeasuredProcess(measurement, returncode, stdout, stderr)
    if timed_out:
        raise RuntimeError(f'{command[0]} killed after {timeout} s:\n{stdout[-4000:]}\n{stderr[-4000:]}')
    if check and returncode != 0:
        raise RuntimeError(f'{" ".join(command)} failed ({returncode}):\n{stdout[-4000:]}\n{stderr[-4000:]}')
    return result


def alternate(cases: t.Mapping[str, t.Callable[[], Measurement]], runs: int, *, warmups: int = 1) -> dict[str, list[Measurement]]:
    """Run every case in turn (A B C A B C ...) ``runs`` times after ``warmups`` untimed rounds; the measurements
    of each case, in order. Cases run in the order of the mapping, so side-by-side comparisons share load drifts."""
    for _round in range(warmups):
        for case in cases.values():
            case()
    samples: dict[str, list[Measurement]] = {name: [] for name in cases}
    for _round in range(runs):
        for name, case in cases.items():
            samples[name].append(case())
    return samples


def summarize(values: t.Sequence[float]) -> dict[str, t.Any]:
    """``{'median', 'min', 'max', 'samples'}`` of ``values`` (at least one)."""
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values), 'samples': list(values)}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, ``inf`` when the denominator is 0."""
    return numerator / denominator if denominator else float('inf')


def timed(function: t.Callable[[], object]) -> Measurement:
    """Call ``function`` in this process and return its wall time (no RSS: this process's peak is not its own)."""
    start = time.perf_counter()
    function()
    return Measurement(time.perf_counter() - start)
