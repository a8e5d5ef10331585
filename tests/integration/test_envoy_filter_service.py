# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The envoy_filter role restarts Envoy through ansible.builtin.service when a managed bootstrap itself changes.

This machine has no systemd, so the service module drives a SysV init script through /usr/sbin/service. The test
installs such a script for a real Envoy, rolls a filter out, changes the node cluster (only the bootstrap holds it,
and Envoy reads the bootstrap only when it starts), and checks that the role restarted Envoy once and only then.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import uuid

import requests

from harness.envoy import Envoy, free_port
from harness.registries import Registry
from harness.role import LocalRollout, headers, recap_changed, reported

SERVICE_COMMAND = '/usr/sbin/service'
INIT_DIR = pathlib.Path('/etc/init.d')
RESTART_TASK = 'Restart Envoy to read its new bootstrap'
# What _task_outcome says of a task that did not run: skipped, or never included.
NOT_RUN = ('skipping', None)

# `service` runs the script with an empty environment (PATH aside), so every path in it is absolute.
INIT_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:
# Default-Stop:
# Short-Description: Envoy of a wasm.oci integration test
### END INIT INFO

ENVOY='{envoy}'
BOOTSTRAP='{bootstrap}'
PIDFILE='{pidfile}'
LOG='{log}'
BASE_ID={base_id}

# A process that exited but was not reaped yet (a zombie) is not running.
alive() {{
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}}

running() {{
    [ -s "$PIDFILE" ] && alive "$(cat "$PIDFILE")"
}}

do_start() {{
    running && return 0
    # Output to the log and stdin from /dev/null: whoever runs this script reads its output until every copy of it closes.
    "$ENVOY" -c "$BOOTSTRAP" --concurrency 1 --base-id "$BASE_ID" -l warn >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
}}

do_stop() {{
    if running; then
        pid=$(cat "$PIDFILE")
        kill -TERM "$pid"
        # The next start needs the admin and listener ports and the base ID's shared memory: wait until Envoy is gone.
        waited=0
        while alive "$pid"; do
            if [ "$waited" -eq 100 ]; then
                kill -KILL "$pid"
            fi
            waited=$((waited + 1))
            sleep 0.1
        done
    fi
    rm -f "$PIDFILE"
}}

case "$1" in
    start) do_start ;;
    stop) do_stop ;;
    restart|force-reload) do_stop; do_start ;;
    status)
        if running; then
            echo "running"
            exit 0
        fi
        echo "not running"
        exit 3
        ;;
    *)
        echo "Usage: $0 {{start|stop|restart|force-reload|status}}" >&2
        exit 2
        ;;
esac
"""


class ServiceEnvoy(Envoy):
    """An Envoy that an init script starts and stops; the test knows its process only from the pidfile."""

    def __init__(self, name: str, binary: pathlib.Path, bootstrap: pathlib.Path, workdir: pathlib.Path,  # pylint: disable=super-init-not-called
                 admin_port: int, listener_port: int) -> None:
        self.name = name
        self.admin = f'http://127.0.0.1:{admin_port}'
        self.listener = f'http://127.0.0.1:{listener_port}'
        self.log = workdir / 'envoy-service.log'
        self.pidfile = workdir / 'envoy-service.pid'
        self.script = INIT_DIR / name
        self.script.write_text(INIT_SCRIPT.format(name=name, envoy=binary, bootstrap=bootstrap, pidfile=self.pidfile, log=self.log,
                                                  # Fixed, so a restart waits for its shared memory; unique while Envoy holds its port.
                                                  base_id=admin_port + 70000), encoding='utf-8')
        self.script.chmod(0o755)

    def service(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run([SERVICE_COMMAND, self.name, action], capture_output=True, text=True, check=False, timeout=30)

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text(encoding='utf-8').strip())
        except (FileNotFoundError, ValueError):
            return None

    def log_tail(self, lines: int = 30) -> str:
        return super().log_tail(lines) if self.log.exists() else '(no log)'

    def exit_status(self) -> str | None:
        return None if self.service('status').returncode == 0 else f'Envoy of service {self.name} is not running'

    def node_cluster(self) -> str:
        response = requests.get(f'{self.admin}/server_info', timeout=2)
        response.raise_for_status()
        return response.json()['node']['cluster']

    def stop(self) -> None:
        """Stop Envoy and remove the init script, whatever state either is in."""
        try:
            if self.script.exists():
                self.service('stop')
        finally:
            pid = self.pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.script.unlink(missing_ok=True)


def _task_outcome(output: str, task: str) -> str | None:
    """``ok``, ``changed``, ``skipping``, ``fatal`` ... of the role task named ``task`` in ansible-playbook's default output;
    None when the play did not include the task."""
    lines = output.splitlines()
    header = next((index for index, line in enumerate(lines) if line.startswith('TASK [') and f' : {task}]' in line), None)
    if header is None:
        return None
    outcomes = ('ok:', 'changed:', 'skipping:', 'fatal:', 'failed:')
    return next(line.split(':', 1)[0] for line in lines[header + 1:] if line.startswith(outcomes))


def test_bootstrap_change_restarts_envoy_through_sysv_service(envoy_binary: pathlib.Path, modules: dict[str, pathlib.Path],
                                                              registry_plain: Registry, ansible_environment: dict[str, str],
                                                              tmp_path: pathlib.Path) -> None:
    rollout = LocalRollout(envoy_binary, modules, registry_plain, ansible_environment, tmp_path, envoy_filter_manage_bootstrap=True)
    add_header = {'name': 'add_header', 'image': rollout.images['v1']}
    envoy = ServiceEnvoy(f'wasm-oci-envoy-{uuid.uuid4().hex[:12]}', envoy_binary, rollout.config_dir / 'envoy.yaml', tmp_path,
                         rollout.admin_port, rollout.listener_port)
    try:
        written = rollout.run(add_header)
        assert written.returncode == 0, written.stdout + written.stderr
        assert _task_outcome(written.stdout, RESTART_TASK) in NOT_RUN, written.stdout

        started = envoy.service('start')
        assert started.returncode == 0, started.stdout + started.stderr
        envoy.wait_ready()
        first_pid = envoy.pid()
        assert headers(envoy) == ['add_header']
        assert envoy.node_cluster() == 'envoy'

        moved = rollout.run(add_header, envoy_filter_cluster='edge', envoy_filter_service=envoy.name)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert _task_outcome(moved.stdout, RESTART_TASK) == 'changed', moved.stdout
        assert reported(moved.stdout) == ['The bootstrap changed; Envoy reads it only when it starts'], moved.stdout
        assert 'restart Envoy to apply it' not in moved.stdout
        envoy.wait_ready()
        restarted_pid = envoy.pid()
        assert restarted_pid is not None, (first_pid, restarted_pid)
        assert restarted_pid != first_pid, (first_pid, restarted_pid)
        assert envoy.node_cluster() == 'edge', json.dumps(requests.get(f'{envoy.admin}/server_info', timeout=2).json(), indent=1)
        assert headers(envoy) == ['add_header']

        again = rollout.run(add_header, envoy_filter_cluster='edge', envoy_filter_service=envoy.name)
        assert again.returncode == 0, again.stdout
        assert recap_changed(again.stdout) == 0, again.stdout
        assert _task_outcome(again.stdout, RESTART_TASK) in NOT_RUN, again.stdout
        assert envoy.pid() == restarted_pid
        assert envoy.service('status').returncode == 0

        # A new admin address: the Envoy to restart is found at the old one, and the role waits for it at the new one.
        new_admin_port = free_port()
        rollout.role_vars['envoy_filter_admin_address'] = f'127.0.0.1:{new_admin_port}'
        readdressed = rollout.run(add_header, envoy_filter_cluster='edge', envoy_filter_service=envoy.name)
        assert readdressed.returncode == 0, readdressed.stdout + readdressed.stderr
        assert _task_outcome(readdressed.stdout, RESTART_TASK) == 'changed', readdressed.stdout
        envoy.admin = f'http://127.0.0.1:{new_admin_port}'
        assert requests.get(f'{envoy.admin}/ready', timeout=2).status_code == 200
        assert envoy.pid() not in (None, restarted_pid)
    finally:
        envoy.stop()
    assert not envoy.script.exists()
