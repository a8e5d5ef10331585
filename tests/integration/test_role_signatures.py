"""The envoy_filter role enforcing cosign signatures (envoy_filter_verify_keys, and verify_keys per filter), against a real
registry, a real Envoy and real ansible-playbook runs: an image that fails verification fails the play before any file of
any host changes and Envoy keeps its filters; once signed, it rolls out and Envoy confirms it.

One host (this machine, one Envoy) serves the single-host tests: each first runs the role to a state of its own, so the
tests do not depend on their order. Two inventory hosts on this machine, each with directories of its own, show that one
host's refused image stops the other before it writes anything (that is Ansible's play control, which the transport does
not change, so they need no SSH)."""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import subprocess
import typing as t

import pytest

from harness.envoy import STAT_PREFIX, Envoy, free_port, snapshot
from harness.module_runner import run_module
from harness.playbook import run_tasks
from harness.registries import Registry
from harness.role import local_role_vars, reported, run_role
from harness.signing_keys import KeyPair, make_key_pair

FILTER = 'add_header'
REPOSITORY = 'filters/role-signatures'
TASK_PREFIX = 'TASK [wasm.oci.envoy_filter : '
DEPLOY_TASK = TASK_PREFIX + 'Apply the filter set in one transaction, confirmed by Envoy or undone]'


class Keys(t.NamedTuple):
    a: KeyPair
    b: KeyPair


class Images(t.NamedTuple):
    v1_by_a: str  # the v1 module (header add_header), signed with key A
    v2_by_b: str  # the v2 module (header add_header_v2), signed with key B
    # The v2 module in a repository of its own (signatures are found by manifest digest within a repository), signed by
    # nobody until the test of unsigned images signs it.
    unsigned: str


@pytest.fixture(scope='module')
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp('signing-keys')
    return Keys(make_key_pair(directory, 'a'), make_key_pair(directory, 'b'))


def _sign(image: str, key: KeyPair, environment: dict[str, str]) -> None:
    signed = run_module('wasm_image_sign', {'name': image, 'key': str(key.private), 'plain_http': True}, environment)
    assert signed['changed'], signed
    assert not signed['failed'], signed


@pytest.fixture(scope='module')
def images(keys: Keys, sample_filter: pathlib.Path, sample_filter_v2: pathlib.Path, registry_plain: Registry,
           ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Images:
    workdir = tmp_path_factory.mktemp('signed-images')
    repository = f'{registry_plain.host}/{REPOSITORY}'
    published = Images(f'{repository}:v1', f'{repository}:v2', f'{repository}-unsigned:v2')
    made = {'v1_by_a': (sample_filter, keys.a), 'v2_by_b': (sample_filter_v2, keys.b), 'unsigned': (sample_filter_v2, None)}
    tasks: dict[str, tuple[str, dict[str, t.Any]]] = {}
    # A few plays of a few tasks each: every module run as a command of its own costs seconds of Ansible start-up.
    for field, (module, key) in made.items():
        image = getattr(published, field)
        name, tag = image.rsplit(':', 1)
        layout = str(workdir / field)
        tasks[f'{field}: build'] = ('wasm_image_build', {'src': str(module), 'layout': layout, 'tag': tag, 'root_ids': [FILTER]})
        tasks[f'{field}: push'] = ('wasm_image_push', {'layout': layout, 'tag': tag, 'name': name, 'plain_http': True})
        if key is not None:
            tasks[f'{field}: sign'] = ('wasm_image_sign', {'name': image, 'key': str(key.private), 'plain_http': True})
    results = run_tasks(tasks, ansible_environment, workdir)
    assert not [name for name, result in results.items() if result['failed']], results
    return published


class Host:
    """This machine as one host of the role, with directories of its own, a managed bootstrap and one Envoy."""

    def __init__(self, workdir: pathlib.Path, envoy_binary: pathlib.Path, environment: dict[str, str], **role_vars: t.Any) -> None:
        self.workdir = workdir
        self.envoy_binary = envoy_binary
        self.environment = environment
        self.admin_port, self.listener_port = free_port(), free_port()
        self.role_vars = local_role_vars(workdir, str(envoy_binary), self.admin_port, self.listener_port, envoy_filter_manage_bootstrap=True,
                                         **role_vars)
        self.config_dir = pathlib.Path(self.role_vars['envoy_filter_config_dir'])
        self.wasm_dir = pathlib.Path(self.role_vars['envoy_filter_wasm_dir'])
        self.cache = pathlib.Path(self.role_vars['envoy_filter_controller_cache'])
        self.envoy: Envoy | None = None

    def start_envoy(self) -> None:
        """Envoy on the bootstrap the role wrote."""
        self.envoy = Envoy(self.envoy_binary, self.config_dir / 'envoy.yaml', self.workdir / 'envoy.log', self.admin_port, self.listener_port)
        self.envoy.wait_ready()

    def run(self, *filters: dict[str, t.Any], **role_vars: t.Any) -> subprocess.CompletedProcess:
        return run_role(dict(self.role_vars, **role_vars, envoy_filter_filters=list(filters)), self.environment, self.workdir)

    def files(self) -> dict[str, t.Any]:
        """Every path of the host's configuration and module directories, and of the controller's module cache."""
        return snapshot(self.config_dir, self.wasm_dir, self.cache)

    def serving(self) -> tuple[str | None, str]:
        """The header Envoy's filter adds, and the image version Envoy reports for it."""
        assert self.envoy is not None
        return self.envoy.header(), self.envoy.stats()[STAT_PREFIX + 'version_text']


@pytest.fixture(scope='module')
def host(keys: Keys, images: Images, envoy_binary: pathlib.Path, ansible_environment: dict[str, str],
         tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Host]:
    """The host with v1 rolled out and its Envoy running; the role verifies with key A unless a test says otherwise."""
    serving = Host(tmp_path_factory.mktemp('signed-host'), envoy_binary, ansible_environment, envoy_filter_verify_keys=[str(keys.a.public)])
    # Envoy starts on the bootstrap this first rollout writes (unconfirmed, since no Envoy runs yet).
    first = serving.run({'name': FILTER, 'image': images.v1_by_a})
    assert first.returncode == 0, first.stdout + first.stderr
    try:
        serving.start_envoy()
        yield serving
    finally:
        if serving.envoy is not None:
            serving.envoy.stop()


def _refusals(output: str) -> list[dict[str, t.Any]]:
    """The result of each failed loop item in ansible-playbook's default output, with its host and the task it failed in."""
    lines = output.splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.startswith('failed: ['):
            task = next(line for line in reversed(lines[:index]) if line.startswith(TASK_PREFIX))
            found.append(dict(json.loads(line[line.index('{'):]), task=task[len(TASK_PREFIX):].split(']', 1)[0],
                              host=re.match(r'failed: \[([^] ]+)', line)[1]))
    assert found, output
    return found


def _module_file_name(image: str) -> str:
    """What the role names the file a pull of a tagged image writes: the sha256 of the reference."""
    return hashlib.sha256(image.encode()).hexdigest()


def test_an_unsigned_image_is_refused_before_any_file_changes_and_rolls_out_once_signed(
        host: Host, keys: Keys, images: Images, ansible_environment: dict[str, str]) -> None:
    unsigned = images.unsigned
    # Envoy runs v1 as the host fixture left it, unless another test ran first.
    if not host.serving()[1].strip('"').startswith(f'{images.v1_by_a} '):
        start = host.run({'name': FILTER, 'image': images.v1_by_a})
        assert start.returncode == 0, start.stdout + start.stderr
    before, serving = host.files(), host.serving()
    assert serving[0] == FILTER

    refused = host.run({'name': FILTER, 'image': unsigned})
    assert refused.returncode != 0, refused.stdout
    [refusal] = _refusals(refused.stdout)
    assert refusal['task'] == 'Pull each image once', refusal
    assert refusal['item'] == [unsigned, [str(keys.a.public)]], refusal
    assert f'(item={unsigned})' in refused.stdout
    assert f'with the keys tried ({keys.a.key_id}): found no signatures' in refusal['msg'], refusal
    assert DEPLOY_TASK not in refused.stdout
    # Not a byte, nor a rewrite of the same bytes, on the host; not even the controller's copy of the module.
    assert host.files() == before
    assert host.serving() == serving

    _sign(unsigned, keys.a, ansible_environment)
    rolled_out = host.run({'name': FILTER, 'image': unsigned})
    assert rolled_out.returncode == 0, rolled_out.stdout + rolled_out.stderr
    assert reported(rolled_out.stdout) == [f'{FILTER}: {unsigned} (<digest>) applied and confirmed by Envoy'], rolled_out.stdout
    header, version = host.serving()
    assert header == 'add_header_v2', version
    assert version.strip('"').startswith(f'{unsigned} sha256:'), version


def test_a_filter_s_own_keys_replace_the_role_s(host: Host, keys: Keys, images: Images) -> None:
    by_b = {'name': FILTER, 'image': images.v2_by_b, 'verify_keys': [str(keys.b.public)]}
    # Signed with B only, it passes with the filter's key B although the role's is A.
    passed = host.run(by_b)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    header, version = host.serving()
    assert header == 'add_header_v2', version
    assert version.strip('"').startswith(f'{images.v2_by_b} sha256:'), version
    before, serving = host.files(), host.serving()

    # The keys belong to the filter: another filter of the same image, left with the role's key A, is refused. And they
    # replace the role's keys rather than add to them: v1, signed with A, is refused with the filter's key B.
    refused = host.run(by_b, {'name': 'second', 'image': images.v2_by_b},
                       {'name': 'third', 'image': images.v1_by_a, 'verify_keys': [str(keys.b.public)]})
    assert refused.returncode != 0, refused.stdout
    refusals = _refusals(refused.stdout)
    assert [refusal['item'] for refusal in refusals] == [[images.v2_by_b, [str(keys.a.public)]], [images.v1_by_a, [str(keys.b.public)]]], refusals
    assert f'with the keys tried ({keys.a.key_id}): found 1 signature, none accepted: signature 1: wrong key' in refusals[0]['msg'], refusals
    assert f'with the keys tried ({keys.b.key_id}): found 1 signature, none accepted: signature 1: wrong key' in refusals[1]['msg'], refusals
    assert DEPLOY_TASK not in refused.stdout
    assert host.files() == before
    assert host.serving() == serving


def test_a_host_that_pulls_refuses_a_wrong_key_before_writing_its_copy(host: Host, keys: Keys, images: Images) -> None:
    # The keys as PEM text: a path would be read on the host, where the pull runs.
    pulling = {'envoy_filter_pull_on': 'host', 'envoy_filter_verify_keys': [keys.a.public_pem]}
    start = host.run({'name': FILTER, 'image': images.v1_by_a}, **pulling)
    assert start.returncode == 0, start.stdout + start.stderr
    assert (host.wasm_dir / f'.{_module_file_name(images.v1_by_a)}.pulled.wasm').is_file()
    before, serving = host.files(), host.serving()
    assert serving[0] == FILTER

    refused = host.run({'name': FILTER, 'image': images.v2_by_b}, **pulling)
    assert refused.returncode != 0, refused.stdout
    [refusal] = _refusals(refused.stdout)
    assert refusal['task'] == 'Pull each image on the host', refusal
    assert refusal['item'][0] == images.v2_by_b, refusal
    assert f'with the keys tried ({keys.a.key_id}): found 1 signature, none accepted: signature 1: wrong key' in refusal['msg'], refusal
    assert DEPLOY_TASK not in refused.stdout
    # The pulled copy of v2 included: the pull writes nothing before the image verified.
    assert host.files() == before
    assert not list(host.wasm_dir.glob(f'*{_module_file_name(images.v2_by_b)}*'))
    assert host.serving() == serving


@pytest.mark.parametrize('pull_on', ['controller', 'host'])
def test_a_refused_image_of_one_host_stops_every_host_before_any_writes(pull_on: str, keys: Keys, images: Images, envoy_binary: pathlib.Path,
                                                                        ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    hosts = ('edge-a', 'edge-b')
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'all': {'hosts': {name: {'ansible_connection': 'local'} for name in hosts}}}), encoding='utf-8')
    playbook = tmp_path / 'rollout.yml'
    playbook.write_text('- hosts: all\n  gather_facts: false\n  roles: [wasm.oci.envoy_filter]\n', encoding='utf-8')
    variables = dict(
        # Each host's own directories; nothing listens on the admin address, so a host that got as far as deploying would
        # write its files unconfirmed, where this test sees them.
        local_role_vars(tmp_path, str(envoy_binary), free_port(), free_port(),
                        envoy_filter_config_dir=f'{tmp_path}/{{{{ inventory_hostname }}}}/etc-envoy',
                        envoy_filter_wasm_dir=f'{tmp_path}/{{{{ inventory_hostname }}}}/wasm-store'),
        envoy_filter_manage_bootstrap=True,
        envoy_filter_pull_on=pull_on,
        envoy_filter_verify_keys=[keys.a.public_pem],
        # Both hosts run v1, signed with A; only edge-b also runs v2, signed with B. The controller pulls edge-a's images
        # once for all, then edge-b's own; with pull_on=host each host pulls its own.
        every_host_filters=[{'name': FILTER, 'image': images.v1_by_a}],
        edge_b_filters=[{'name': 'second', 'image': images.v2_by_b}],
        envoy_filter_filters="{{ every_host_filters + (edge_b_filters if inventory_hostname == 'edge-b' else []) }}",
    )
    variables_file = tmp_path / 'rollout-vars.json'
    variables_file.write_text(json.dumps(variables), encoding='utf-8')

    refused = subprocess.run(['ansible-playbook', '-i', str(inventory), str(playbook), '-e', f'@{variables_file}'], env=ansible_environment,
                             capture_output=True, text=True, check=False, timeout=300)
    assert refused.returncode != 0, refused.stdout
    # edge-b's pull is refused (on the controller, or on edge-b itself), and edge-a, which failed nothing, stops too.
    [refusal] = _refusals(refused.stdout)
    assert refusal['host'] == 'edge-b', refusal
    assert refusal['item'][0] == images.v2_by_b, refusal
    assert 'wrong key' in refusal['msg'], refusal
    assert DEPLOY_TASK not in refused.stdout
    for name in hosts:
        assert not (tmp_path / name / 'etc-envoy').exists()
        # With pull_on=host each host verified v1 before it wrote its copy, as the role's docs say; nothing else is there.
        stored = sorted(path.name for path in (tmp_path / name / 'wasm-store').glob('*'))
        expected = [f'.{_module_file_name(images.v1_by_a)}.pulled.wasm', f'..{_module_file_name(images.v1_by_a)}.pulled.wasm.wasm-oci.json']
        assert stored == (sorted(expected) if pull_on == 'host' else []), stored
