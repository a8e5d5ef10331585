"""Self-tests of the fleet harness (harness/fleet.py): SSH hosts in network namespaces, reached by real Ansible and ssh."""

from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from harness.fleet import FLEET_GROUP, FLEET_NETWORK, Fleet, FleetError, cleanup_stale_fleets, start_fleet

ANSIBLE = pathlib.Path(sys.executable).parent / 'ansible'
HERE = pathlib.Path(__file__).resolve().parent


def _namespaces() -> set[str]:
    listing = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


def _links() -> str:
    return subprocess.run(['ip', '-o', 'link', 'show'], capture_output=True, text=True, check=True).stdout


def _ansible(fleet_: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    environment = fleet_.ansible_environment()
    environment.update(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0')
    command = [str(ANSIBLE), '-i', str(fleet_.inventory_path), FLEET_GROUP, *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=120)


def test_hosts_have_their_own_namespace_address_and_root(fleet: Fleet) -> None:
    assert len(fleet.hosts) == int(os.environ.get('WASM_OCI_FLEET_SIZE', '3'))
    assert len({host.namespace for host in fleet.hosts}) == len(fleet.hosts)
    assert len({host.address for host in fleet.hosts}) == len(fleet.hosts)
    assert len({host.root for host in fleet.hosts}) == len(fleet.hosts)
    live = _namespaces()
    for host in fleet.hosts:
        assert host.namespace in live
        assert host.namespace.startswith(f'wasmoci-{fleet.session_id}-')
        assert ipaddress.ip_address(host.address) in FLEET_NETWORK
        assert ipaddress.ip_address(host.gateway) in FLEET_NETWORK
        assert host.root.is_dir()
        assert host.path('/etc/envoy') == host.root / 'etc' / 'envoy'
    # Any other fleet address is unreachable from the root namespace (asked of the routing table: no packet is sent).
    route = subprocess.run(['ip', 'route', 'get', str(FLEET_NETWORK[-2])], capture_output=True, text=True, check=False)
    assert route.returncode != 0 or route.stdout.startswith('unreachable'), route.stdout


def test_inventory_describes_every_host(fleet: Fleet) -> None:
    inventory = yaml.safe_load(fleet.inventory_path.read_text(encoding='utf-8'))
    hosts = inventory['all']['children'][FLEET_GROUP]['hosts']
    assert list(hosts) == [host.name for host in fleet.hosts]
    for host in fleet.hosts:
        variables = hosts[host.name]
        assert variables['ansible_host'] == host.address
        assert variables['ansible_user'] == 'root'
        assert pathlib.Path(variables['ansible_ssh_private_key_file']).is_file()
        assert variables['ansible_ssh_common_args'] == '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
        assert variables['ansible_python_interpreter'] == sys.executable
        assert variables['fleet_root'] == str(host.root)


def test_ansible_ping_over_ssh_reaches_every_host(fleet: Fleet) -> None:
    completed = _ansible(fleet, '-m', 'ansible.builtin.ping', '-o')
    assert completed.returncode == 0, f'{completed.stdout}\n{completed.stderr}'
    for host in fleet.hosts:
        assert f'{host.name} | SUCCESS' in completed.stdout, completed.stdout
        # Over SSH, not a local connection: each host's sshd let root in with the session's key.
        assert 'Accepted publickey for root' in fleet.sshd_log(host)


def test_modules_run_inside_the_hosts_namespace(fleet: Fleet) -> None:
    completed = _ansible(fleet, '-m', 'ansible.builtin.shell', '-a', 'ip -4 -o addr show; echo "root=$WASM_OCI_FLEET_ROOT"', '-o')
    assert completed.returncode == 0, f'{completed.stdout}\n{completed.stderr}'
    lines = {line.split(' | ', 1)[0]: line for line in completed.stdout.splitlines() if ' | ' in line}
    for host in fleet.hosts:
        line = lines[host.name]
        assert f'inet {host.address}/30' in line
        assert f'root={host.root}' in line
        for other in fleet.hosts:
            if other is not host:
                assert f'inet {other.address}/' not in line


def test_run_in_runs_in_the_namespace(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    addresses = fleet.run_in(host, ['ip', '-4', '-o', 'addr', 'show']).stdout
    assert 'inet 127.0.0.1/8' in addresses  # loopback is up
    assert f'inet {host.address}/30' in addresses
    assert len(addresses.splitlines()) == 2
    routes = fleet.run_in(host.name, 'ip -4 route show').stdout
    assert 'default' not in routes  # a host reaches the root namespace's end of its veth, nothing else
    assert fleet.run_in(0, 'exit 3', check=False).returncode == 3
    with pytest.raises(FleetError, match='exited with 4'):
        fleet.run_in(host, 'echo oops >&2; exit 4')
    assert fleet.run_in(host, ['cat'], input='piped').stdout == 'piped'


def test_server_started_in_a_host_is_reachable_from_the_root_namespace(fleet: Fleet) -> None:
    servers = []
    for host in fleet.hosts:
        (host.root / 'whoami.txt').write_text(host.name, encoding='utf-8')
        command = [sys.executable, '-m', 'http.server', '--bind', host.address, '--directory', str(host.root), '8080']
        servers.append(fleet.start_in(host, command, name=f'http-{host.name}'))
    try:
        for host, server in zip(fleet.hosts, servers, strict=True):
            fleet.wait_for_port(host, 8080, process=server)
            completed = subprocess.run(
                ['curl', '--silent', '--show-error', '--fail', '--noproxy', '*', '--max-time', '5', f'http://{host.address}:8080/whoami.txt'],
                capture_output=True, text=True, check=False, timeout=30,
            )
            assert completed.returncode == 0, completed.stderr
            assert completed.stdout == host.name
            # The listening socket is in the host's namespace, not in the root namespace.
            assert f'{host.address}:8080' in fleet.run_in(host, ['ss', '-Htln', 'sport = :8080']).stdout
            root_listeners = subprocess.run(['ss', '-Htln', 'sport = :8080'], capture_output=True, text=True, check=True).stdout
            assert host.address not in root_listeners
    finally:
        for server in servers:
            server.stop()
    assert not any(server.alive() for server in servers)


def test_real_ssh_with_the_session_key(fleet: Fleet) -> None:
    host = fleet.hosts[-1]
    completed = subprocess.run(fleet.ssh_command(host, 'echo', '$WASM_OCI_FLEET_HOST'), capture_output=True, text=True, check=False, timeout=30)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == host.name


def test_another_fleet_gets_other_addresses_and_is_removed_on_exit(fleet: Fleet, tmp_path: pathlib.Path) -> None:
    with start_fleet(tmp_path, size=1) as second:
        (extra,) = second.hosts
        assert extra.address not in {host.address for host in fleet.hosts}
        assert extra.namespace in _namespaces()
        listing = subprocess.run(['ip', 'netns', 'pids', extra.namespace], capture_output=True, text=True, check=True).stdout
        sshd_pids = [int(pid) for pid in listing.split()]
        assert sshd_pids
    assert extra.namespace not in _namespaces()
    assert extra.veth not in _links()
    assert not second.control_path_dir.exists()
    for pid in sshd_pids:
        assert not _running(pid)
    # The session's fleet is untouched.
    assert {host.namespace for host in fleet.hosts} <= _namespaces()


def test_leftovers_of_a_crashed_run_are_removed(fleet: Fleet, tmp_path: pathlib.Path) -> None:
    script = textwrap.dedent(
        """
        import json, pathlib, sys, time
        sys.path.insert(0, sys.argv[1])
        from harness import fleet
        running = fleet.Fleet(pathlib.Path(sys.argv[2]), 1).start()
        host = running.hosts[0]
        print(json.dumps({'namespace': host.namespace, 'veth': host.veth, 'sshd': running._sshd[host.namespace].pid,
                          'control': str(running.control_path_dir)}), flush=True)
        time.sleep(120)
        """
    )
    # pylint: disable-next=consider-using-with
    crashing = subprocess.Popen([sys.executable, '-c', script, str(HERE), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        leftover = json.loads(crashing.stdout.readline())
    finally:
        crashing.send_signal(signal.SIGKILL)  # no teardown, no atexit: what a crash leaves
        crashing.wait(timeout=10)
        crashing.stdout.close()
    assert leftover['namespace'] in _namespaces()
    assert _running(leftover['sshd'])  # its sshd outlives it

    removed = cleanup_stale_fleets()

    assert leftover['namespace'] in removed
    assert leftover['namespace'] not in _namespaces()
    assert leftover['veth'] not in _links()
    assert not pathlib.Path(leftover['control']).exists()
    deadline = time.monotonic() + 5
    while _running(leftover['sshd']) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(leftover['sshd'])
    # A live fleet is never stale.
    assert {host.namespace for host in fleet.hosts} <= _namespaces()


def _running(pid: int) -> bool:
    try:
        state = pathlib.Path(f'/proc/{pid}/stat').read_text(encoding='ascii').rsplit(')', 1)[1].split()[0]
    except OSError:
        return False
    return state not in ('Z', 'X')
