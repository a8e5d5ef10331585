"""How fast wasm.oci moves a module between a registry and a file, beside skopeo, the ORAS SDK and the physical floor.

Not a test: a measurement, run by ``make bench`` and never by ``make test``. Run it as::

    PATH=.venv/bin:$PATH PYTHONPATH=.build/linked ANSIBLE_COLLECTIONS_PATH=.build/linked \\
        .venv/bin/python benchmarks/transfer.py --results benchmarks/results.json

Method (everything on loopback, under one temporary directory that is removed at the end):

1. A CNCF Distribution registry (``docker-registry``, plain HTTP, started by the integration harness's
   ``start_registry``). Modules of 16, 64 and 256 MiB (less 128 KiB, so that the gzipped tar layer of the largest
   stays within the collection's default max_size of 256 MiB): a Wasm header and one custom section of padding, a
   random MiB repeated, which gzip cannot shrink (its window is 32 KiB). Each is built with the collection's builder
   as an ``oci`` and a ``compat`` image, each into an OCI layout of its own, and pushed once.
2. **Pull**, per variant and size, after one untimed GET that warms the registry's page cache, ``--runs`` rounds of
   every client in turn (A B C ... A B C ...), each into an empty directory. At the smallest size, SMALLEST_SIZE_ROUNDS
   times as many rounds of every client but Ansible: its runs take tens of milliseconds, of which the fixed costs
   (process, first request, fsync) vary the most, so five of them leave a median that moves by a tenth from one
   run of the script to the next. Before each timed run, what earlier runs left to write is written out (untimed).

   * ``wasm_image_pull`` through Ansible (``ansible localhost -m``), timed spawn to exit;
   * the library: the functions the module calls, in the order it calls them (``present_image``,
     ``existing_image``, ``pull_module``);
   * ``skopeo copy docker://... dir:...``, spawn to exit;
   * the ORAS SDK (``oras.provider.Registry.pull``);
   * the floor: one streamed GET of the blob that holds the module with ``http.client``, sha256 over it, written to a
     file, fsynced; and the same without the fsync. For a compat image also the compat floor: the same GET and
     sha256, gunzipped with zlib, the tar headers walked to ``plugin.wasm``, which is hashed, written and fsynced
     (the least a verified compat pull can do: the module's digest is not in the manifest). For an oci image also the
     floor by tag: the manifest's GET, then the floor's for the module layer it names, on the same connection (what a
     pull by tag cannot do without; the config, which only describes the image, left out).

   The library, ORAS and the floors run each in a new process and time themselves (wall and CPU): a zygote per kind
   that has made the run's imports forks one child per run (the imports, half a second each time, are not measured
   anyway). Peak RSS is each run's own (from wait4: with what the child shares with its zygote), beside the baseline:
   a child of the library's zygote that does nothing. The CLIs are spawned by a small launcher that reads
   ``RUSAGE_CHILDREN``.
3. **Push** of the same layouts, the same way, each run to a repository of its own: ``wasm_image_push`` through
   Ansible, the library (``push_image``, what the module calls),
   ``skopeo copy oci:LAYOUT:TAG docker://...`` and the ORAS SDK (``push`` of the module file, or of the compat
   layer, with its media type). Each push must upload: Distribution links a blob into a new repository only after an
   upload or a cross-repository ``mount``. No client here is given a repository to mount from, and skopeo, which as
   root remembers in /var/lib/containers/cache where it pushed a blob and mounts it from there, runs as another user
   in a user namespace of its own without a writable cache directory. The access log proves it afterwards: every
   repository got its blobs by completed uploads, and no request asked for a mount. Above the smallest size, PUSH_ROUNDS
   times as many rounds: a push's time is mostly the registry's writing, which varies by a fifth either way at 64 MiB
   for either client, so that with five rounds the ratio to skopeo moved by a tenth from one run of the script to
   the next (0.76x, then 1.05x, then 0.89x with fifteen rounds, with no change to the push in between).
4. **No-op re-runs**, counted (not timed) in the registry's access log: a pull into a dest that holds the image
   already (both variants through the library, oci also through Ansible; pull policy ``always``, the default for a tag, and
   ``if_not_present``), and a push of a tag the registry has already. Requests, bytes of blob downloads, uploads.
   Without ``verify_keys``: signatures are always read from the registry.

At the smallest size every client runs (Ansible for the oci variant); above it only what a target compares: for a
pull the library and its floor (oci: with and without fsync; compat: the compat floor), for a push the library and
skopeo (PULL_COMPARED, PUSH_COMPARED). The other clients would double the time, and what they add does not depend on
the size or the variant (Ansible's start-up, two seconds a run) or is not the collection's (skopeo's and the ORAS SDK's
transfers). ``--every-size`` runs them all.

It prints one table per part and the targets of issue 12 with their verdict, and writes the key ``"transfer"`` of
``--results`` (the other top-level keys belong to other scripts and are kept).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import gc
import hashlib
import http.client
import json
import os
import pathlib
import random
import resource
import shutil
import subprocess
import sys
import time
import traceback
import typing as t
import urllib.parse
import zlib

SIZES_MIB = (16, 64, 256)
VARIANTS = ('oci', 'compat')
PARTS = ('pull', 'push', 'noop')
TAG = 'bench'
MIB = 1024 * 1024
# Each module is its nominal size less this, so that the compat layer of the 256 MiB one (the module in a gzipped
# tar: 0.03% more for incompressible bytes) stays within the collection's default max_size of 256 MiB.
SIZE_ALLOWANCE = 128 * 1024
CHUNK = MIB
ROOT_ID = 'bench_root'
ABI = 'proxy_abi_version_0_2_1'
TAR_BLOCK = 512
COMPAT_MODULE = 'plugin.wasm'
CHILD_TIMEOUT = 300
SKOPEO_PUSH_UID = 1000
# Targets of issue 12.
PULL_FLOOR_RATIO = 1.1
RSS_ABOVE_BASELINE_MIB = 64
NOOP_PULL_REQUESTS = 1
NOOP_PUSH_REQUESTS = 1
# Above the smallest size only what a target compares runs (the library with its floor, or with skopeo): the other
# clients would double the time, and what they add is the same at every size (Ansible's start-up) or not ours (skopeo's
# and the ORAS SDK's pulls). --every-size runs every client at every size.
PULL_COMPARED = {'oci': ('library', 'floor_fsync', 'floor_no_fsync'), 'compat': ('library', 'compat_floor')}
PUSH_COMPARED = ('library', 'skopeo')
# How many times --runs the smallest size is measured, Ansible excepted (see 2. above).
SMALLEST_SIZE_ROUNDS = 3
# How many times --runs a push above the smallest size is measured (see 3. below).
PUSH_ROUNDS = 2

# -- children: each measured run is a fresh interpreter running one of these ----------------------------------------


class Library(t.NamedTuple):
    """What a library pull or push imports; the baseline run imports exactly this, and stops."""

    existing_image: t.Callable[..., t.Any]
    present_image: t.Callable[..., t.Any]
    pull_module: t.Callable[..., t.Any]
    pull_policy: t.Callable[..., t.Any]
    push_image: t.Callable[..., t.Any]
    requested_image: t.Callable[..., t.Any]
    oci_layout: t.Callable[..., t.Any]
    parse_reference: t.Callable[..., t.Any]
    connect: t.Callable[..., t.Any]
    registry_source: t.Callable[..., t.Any]


def import_library() -> Library:
    # pylint: disable=import-outside-toplevel
    from ansible_collections.wasm.oci.plugins.module_utils._image import pull, push, source
    from ansible_collections.wasm.oci.plugins.module_utils._oci import layout, reference
    from ansible_collections.wasm.oci.plugins.module_utils._registry import connection, source as registry_source

    return Library(pull.existing_image, pull.present_image, pull.pull_module, pull.pull_policy, push.push_image, source.requested_image, layout.OciLayout,
                   reference.parse_reference, connection.connect, registry_source.RegistrySource)


def _registry_params() -> dict[str, t.Any]:
    """The registry options as a task that sets only ``plain_http`` gives them to the module."""
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.wasm.oci.plugins.module_utils._registry.connection import registry_argument_spec

    return dict({option: spec.get('default') for option, spec in registry_argument_spec().items()}, plain_http=True)


def _no_credential_helper(args: list[str], data: bytes) -> tuple[int, bytes, bytes]:
    raise RuntimeError(f'the benchmark runs no credential helper ({args[0]})')


def baseline() -> dict[str, t.Any]:
    return {}


def library_pull(name: str, dest: str, policy: str | None = None) -> dict[str, t.Any]:
    """What wasm_image_pull does without verify_keys, minus Ansible: the record first, else the registry."""
    library = import_library()
    requested = library.requested_image({'name': name, 'tag': 'latest', 'layout': None})
    image = library.present_image(dest, requested.reference, requested.digest, policy=library.pull_policy(policy, requested.digest),
                                  platform=None, sha256=None, force=False)
    changed = False
    if image is None:
        source = library.registry_source(library.connect(requested.name, _registry_params(), _no_credential_helper))
        resolved = library.existing_image(source, None)
        changed, image = library.pull_module(source, resolved, dest, platform=None, max_size=256 * MIB, sha256=None, force=False,
                                             check_mode=False)
    return {'changed': changed, 'wasm': image['wasm']}


def library_push(layout_path: str, tag: str, name: str) -> dict[str, t.Any]:
    """What wasm_image_push does, minus Ansible: look the tag up, push what is missing while describing the image."""
    library = import_library()
    client = library.connect(library.parse_reference(name, default_tag=tag), _registry_params(), _no_credential_helper)
    outcome = library.push_image(library.oci_layout(layout_path), tag, client)
    return {'changed': outcome.changed, 'uploaded': outcome.counts.uploaded}


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.netloc, timeout=30)
    connection.request('GET', parsed.path, headers=headers or {})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f'GET {url}: HTTP {response.status}')
    return connection, response


def _stream_to_file(response: http.client.HTTPResponse, dest: str, fsync: bool) -> str:
    """The floor's loop: the body read into one buffer, hashed, written to ``dest``, fsynced (``fsync``); its digest."""
    hasher = hashlib.sha256()
    view = memoryview(bytearray(CHUNK))
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while count := response.readinto(view):
            hasher.update(view[:count])
            os.write(fd, view[:count])
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return f'sha256:{hasher.hexdigest()}'


def floor_pull(url: str, digest: str, dest: str, fsync: bool) -> dict[str, t.Any]:
    """The least a verified pull can do: one streamed GET, sha256 over it, written to a file, fsynced (``fsync``)."""
    connection, response = _get(url)
    try:
        streamed = _stream_to_file(response, dest, fsync)
    finally:
        connection.close()
    if streamed != digest:
        raise RuntimeError(f'{url} does not match {digest}')
    return {}


def floor_by_tag_pull(repository_url: str, tag: str, manifest_type: str, layer_type: str, dest: str) -> dict[str, t.Any]:
    """The least a verified pull by tag can do: the manifest ``tag`` names (of ``manifest_type``), then the floor for the
    layer of ``layer_type`` it names, over the same connection (the config, which describes the image, left out)."""
    connection, response = _get(f'{repository_url}/manifests/{tag}', {'Accept': manifest_type})
    try:
        layer = next(layer for layer in json.loads(response.read())['layers'] if layer['mediaType'] == layer_type)
        connection.request('GET', f'{urllib.parse.urlsplit(repository_url).path}/blobs/{layer["digest"]}')
        streamed = _stream_to_file(connection.getresponse(), dest, fsync=True)
    finally:
        connection.close()
    if streamed != layer['digest']:
        raise RuntimeError(f'the module layer of {repository_url}:{tag} does not match {layer["digest"]}')
    return {}


def compat_floor_pull(url: str, digest: str, dest: str) -> dict[str, t.Any]:
    """The least a verified compat pull can do: the floor's GET and sha256, gunzipped, the tar walked to plugin.wasm,
    which is hashed (its digest is nowhere else), written and fsynced."""
    connection, response = _get(url)
    layer_hash, module_hash = hashlib.sha256(), hashlib.sha256()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b''  # decompressed, not yet walked
    member_left = padding = 0
    in_module = False
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while compressed := response.read(CHUNK):
            layer_hash.update(compressed)
            pending += inflater.decompress(compressed)
            while pending:
                if member_left:
                    data, pending = pending[:member_left], pending[member_left:]
                    member_left -= len(data)
                    if in_module:
                        module_hash.update(data)
                        os.write(fd, data)
                elif padding:
                    skipped = min(padding, len(pending))
                    pending, padding = pending[skipped:], padding - skipped
                elif len(pending) >= TAR_BLOCK:
                    header, pending = pending[:TAR_BLOCK], pending[TAR_BLOCK:]
                    if header.strip(b'\0'):
                        member_left = int(header[124:136].strip(b'\0 ') or b'0', 8)
                        padding = -member_left % TAR_BLOCK
                        in_module = header[:100].rstrip(b'\0').decode().rsplit('/', 1)[-1] == COMPAT_MODULE
                else:
                    break
        os.fsync(fd)
    finally:
        os.close(fd)
        connection.close()
    if f'sha256:{layer_hash.hexdigest()}' != digest or not inflater.eof:
        raise RuntimeError(f'{url} does not match {digest}')
    return {'module': f'sha256:{module_hash.hexdigest()}'}


def oras_pull(target: str, outdir: str) -> dict[str, t.Any]:
    import oras.provider  # pylint: disable=import-outside-toplevel

    return {'files': oras.provider.Registry(hostname=target.split('/', 1)[0], insecure=True).pull(target=target, outdir=outdir)}


def oras_push(target: str, path: str, media_type: str) -> dict[str, t.Any]:
    import oras.provider  # pylint: disable=import-outside-toplevel

    oras.provider.Registry(hostname=target.split('/', 1)[0], insecure=True).push(
        target=target, files=[f'{path}:{media_type}'], disable_path_validation=True, quiet=True)
    return {}


CHILDREN: dict[str, t.Callable[..., dict[str, t.Any]]] = {
    'baseline': baseline,
    'library-pull': library_pull,
    'library-push': library_push,
    'floor-pull': floor_pull,
    'floor-by-tag-pull': floor_by_tag_pull,
    'compat-floor-pull': compat_floor_pull,
    'oras-pull': oras_pull,
    'oras-push': oras_push,
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# Which zygote forks each kind of child: the library's, the ORAS SDK's, or a plain interpreter's (the floors).
ZYGOTE_OF = {
    'baseline': 'library', 'library-pull': 'library', 'library-push': 'library',
    'oras-pull': 'oras', 'oras-push': 'oras',
    'floor-pull': 'plain', 'floor-by-tag-pull': 'plain', 'compat-floor-pull': 'plain',
}


def run_zygote(group: str) -> None:
    """Zygote mode: make the imports of ``group``'s children once, then fork one child per request read from stdin.

    A child is a new process as an exec'd one is (its peak RSS, from wait4, counts what it shares with the zygote, the
    baseline), but it starts in a millisecond instead of the half second the imports take, a minute over a whole
    run. The child times its operation itself; the zygote answers one JSON line per request.
    """
    if group == 'library':
        import_library()
    elif group == 'oras':
        import oras.provider  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    gc.freeze()  # a child's collections then leave the zygote's objects alone: fewer copy-on-write faults
    print(json.dumps({'ready': group}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _run_forked(request, write_end)
        os.close(write_end)
        with os.fdopen(read_end, encoding='utf-8') as stream:
            text = stream.read()
        usage = os.wait4(pid, 0)[2]
        reply = {'result': json.loads(text) if text else {'error': 'the child died'}, 'maxrss_kib': usage.ru_maxrss,
                 'process_seconds': time.perf_counter() - start}
        print(json.dumps(reply), flush=True)


def _run_forked(request: dict[str, t.Any], result_fd: int) -> t.NoReturn:
    """In a forked child: run the request, write its result (or error) to ``result_fd``, exit without cleanup."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stdout is the zygote's answer channel
    try:
        cpu_start, start = _cpu_seconds(), time.perf_counter()
        result = CHILDREN[request['kind']](**request['keywords'])
        result['seconds'] = time.perf_counter() - start
        result['cpu_seconds'] = _cpu_seconds() - cpu_start
    except BaseException:  # reported to the parent, which fails the run  # pylint: disable=broad-exception-caught
        result = {'error': traceback.format_exc()}
    with os.fdopen(result_fd, 'w', encoding='utf-8') as stream:
        json.dump(result, stream)
    os._exit(0)


# -- images -----------------------------------------------------------------------------------------------------------


def make_module(size: int, seed: int) -> bytes:
    """A valid Wasm module of exactly ``size`` bytes: the header and one custom section of incompressible padding."""
    # pylint: disable-next=import-outside-toplevel
    from _bench import WASM_HEADER, custom_section, leb128

    name = b'wasm.oci.bench'
    # The section's size is written before it, in as many bytes as it needs: the one that makes the module ``size``.
    after_header = size - len(WASM_HEADER) - 1
    body_size = next(body for body in (after_header - width for width in range(1, 6)) if len(leb128(body)) == after_header - body)
    padding_size = body_size - len(leb128(len(name))) - len(name)
    block = random.Random(seed).randbytes(MIB)
    module = WASM_HEADER + custom_section(name, (block * (padding_size // MIB + 1))[:padding_size])
    if len(module) != size:
        raise AssertionError(f'made a module of {len(module)} bytes, not {size}')
    return module


class Image(t.NamedTuple):
    variant: str
    size_mib: int
    module_size: int
    layout: pathlib.Path
    upload_path: pathlib.Path  # what ORAS pushes: the module file (oci), or the compat layer blob
    repository: str  # where it was pushed once, under TAG
    blob_digest: str  # the blob a pull downloads: the module layer, or the compat tar layer
    blob_media_type: str


def build_images(root: pathlib.Path, host: str, sizes: t.Sequence[int]) -> list[Image]:
    """Build every (variant, size) into a layout of its own with the collection's builder, and push it once; two at a
    time (gzip and sha256 release the GIL), as nothing is measured yet."""
    # pylint: disable=import-outside-toplevel
    from ansible_collections.wasm.oci.plugins.module_utils._image.builder import build_image
    from ansible_collections.wasm.oci.plugins.module_utils._image.runtime_config import RuntimeConfig
    from ansible_collections.wasm.oci.plugins.module_utils._image.wasm_binary import inspect_wasm
    from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt
    from ansible_collections.wasm.oci.plugins.module_utils._oci.layout import store_image

    runtime = RuntimeConfig('envoy_proxy', (ABI,), (ROOT_ID,))

    def build(size: int, variant: str) -> Image:
        module = make_module(size * MIB - SIZE_ALLOWANCE, seed=size)
        inspect_wasm(module, f'the {size} MiB module')  # what wasm_image_build checks first
        built = build_image(variant, module, runtime, {})
        layout = root / 'layouts' / f'{variant}-{size}'
        store_image(str(layout), TAG, built.descriptor, built.layout_blobs)
        layer = next(layer for layer in json.loads(built.manifest)['layers'] if layer['mediaType'] != mt.WASM_CONFIG)
        upload_path = layout / 'blobs' / 'sha256' / layer['digest'].split(':', 1)[1]
        if variant == 'oci':
            upload_path = root / 'modules' / f'{size}.wasm'  # ORAS pushes files by name
            upload_path.parent.mkdir(parents=True, exist_ok=True)
            upload_path.write_bytes(module)
        repository = f'bench/{variant}-{size}'
        library_push(str(layout), TAG, f'{host}/{repository}:{TAG}')
        return Image(variant, size, len(module), layout, upload_path, repository, layer['digest'], layer['mediaType'])

    # Largest first, compat before oci at each size: the 256 MiB compat image (gzip, about 35 MiB/s) takes as long as all
    # the others together, so it starts at once while the other thread builds them.
    pairs = sorted(((size, variant) for size in sizes for variant in VARIANTS), key=lambda pair: (-pair[0], pair[1] != 'compat'))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        built = dict(zip(pairs, pool.map(lambda pair: build(*pair), pairs), strict=True))
    return [built[size, variant] for size in sizes for variant in VARIANTS]


# -- the parent -------------------------------------------------------------------------------------------------------


def written_back() -> None:
    """Write out what earlier runs left in the page cache, before a run is timed: a client that does not fsync (or the
    registry, storing a push) leaves up to 256 MiB to write, and the next run, another client's, would pay for it (its
    fsync waits for it on ext4; the kernel's writeback competes with it in any case)."""
    os.sync()


class Bench:
    """Runs the measured clients against the registry; each case returns a Measurement of one run."""

    def __init__(self, bench: t.Any, root: pathlib.Path, registry: t.Any, collections: pathlib.Path, clients: t.Sequence[str] | None,
                 sizes: t.Sequence[int], every_size: bool) -> None:
        self.bench = bench  # the _bench package
        self.sizes = sizes
        self.host = registry.host
        self.access_log = registry.access_log
        self.scratch = root / 'scratch'
        self.scratch.mkdir()
        self.environment = bench.ansible_environment(collections, PYTHONPATH=str(collections))
        self.clients = clients
        self.every_size = every_size
        self.pushes = 0
        self.zygotes: dict[str, subprocess.Popen] = {}

    def smallest(self, image: Image) -> bool:
        """Whether ``image`` is of the smallest size measured, where every client runs, and more often."""
        return image.size_mib == min(self.sizes)

    def only(self, cases: dict[str, t.Callable[[], t.Any]]) -> dict[str, t.Callable[[], t.Any]]:
        """``cases`` without the clients that ``--clients`` leaves out."""
        return {name: case for name, case in cases.items() if self.clients is None or name in self.clients}

    def child(self, kind: str, **keywords: t.Any) -> tuple[t.Any, dict[str, t.Any]]:
        """A new process running ``kind``, forked by its zygote: its Measurement (the seconds and CPU it timed itself,
        its peak RSS, fork to exit) and its result."""
        written_back()
        zygote = self._zygote(ZYGOTE_OF[kind])
        assert zygote.stdin is not None
        assert zygote.stdout is not None
        zygote.stdin.write(json.dumps({'kind': kind, 'keywords': keywords}) + '\n')
        zygote.stdin.flush()
        line = zygote.stdout.readline()
        if not line:
            raise RuntimeError(f'the {ZYGOTE_OF[kind]} zygote ended (exit {zygote.poll()}); its log is {self.scratch.parent / "zygotes.log"}')
        reply = json.loads(line)
        result = reply['result']
        if 'error' in result:
            raise RuntimeError(f'{kind} {keywords} failed:\n{result["error"]}')
        return self.bench.Measurement(result['seconds'], reply['maxrss_kib'], reply['process_seconds'], result['cpu_seconds']), result

    def _zygote(self, group: str) -> subprocess.Popen:
        zygote = self.zygotes.get(group)
        if zygote is None:
            log = (self.scratch.parent / 'zygotes.log').open('a', encoding='utf-8')  # pylint: disable=consider-using-with
            command = [sys.executable, str(pathlib.Path(__file__).resolve()), '--zygote', group]
            zygote = subprocess.Popen(command, env=self.environment,  # pylint: disable=consider-using-with
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
            self.zygotes[group] = zygote
            assert zygote.stdout is not None
            if json.loads(zygote.stdout.readline() or '{}').get('ready') != group:
                raise RuntimeError(f'the {group} zygote did not start; its log is {log.name}')
        return zygote

    def close(self) -> None:
        """End the zygotes: they exit when their input ends."""
        for zygote in self.zygotes.values():
            if zygote.stdin:
                zygote.stdin.close()
            try:
                zygote.wait(10)
            except subprocess.TimeoutExpired:
                zygote.kill()
                zygote.wait()
        self.zygotes.clear()

    def process(self, command: list[str], *, namespace_uid: int | None = None, **environment: str) -> t.Any:
        """A whole CLI process: its Measurement, spawn to exit."""
        written_back()
        return self.bench.run_measured(command, env=dict(self.environment, **environment), timeout=CHILD_TIMEOUT,
                                       namespace_uid=namespace_uid).measurement

    def ansible(self, module: str, arguments: dict[str, t.Any]) -> t.Any:
        return self.process([str(self.bench.BIN / 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local', '-m', f'wasm.oci.{module}',
                             '-a', json.dumps(arguments)])

    def empty_directory(self, name: str) -> pathlib.Path:
        """An empty directory for one client's pulls: whatever its last run left there is removed first (untimed)."""
        directory = self.scratch / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        return directory

    def fresh_repository(self, image: Image, client: str) -> str:
        self.pushes += 1
        return f'{self.host}/push/{image.variant}-{image.size_mib}-{client}-{self.pushes}'

    def pull_cases(self, image: Image) -> dict[str, t.Callable[[], t.Any]]:
        # pylint: disable-next=import-outside-toplevel
        from ansible_collections.wasm.oci.plugins.module_utils._oci import media_types as mt

        reference = f'{self.host}/{image.repository}:{TAG}'
        blob_url = f'http://{self.host}/v2/{image.repository}/blobs/{image.blob_digest}'
        module_dest = 'module.wasm'

        def ansible() -> t.Any:
            dest = self.empty_directory('ansible') / module_dest
            return self.ansible('wasm_image_pull', {'name': reference, 'dest': str(dest), 'plain_http': True})

        def library() -> t.Any:
            return self.child('library-pull', name=reference, dest=str(self.empty_directory('library') / module_dest))[0]

        def skopeo() -> t.Any:
            return self.process(['skopeo', '--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', f'docker://{reference}',
                                 f'dir:{self.empty_directory("skopeo") / "image"}'])

        def oras() -> t.Any:
            return self.child('oras-pull', target=reference, outdir=str(self.empty_directory('oras')))[0]

        def floor() -> t.Any:
            return self.child('floor-pull', url=blob_url, digest=image.blob_digest, dest=str(self.empty_directory('floor') / 'blob'),
                              fsync=True)[0]

        def floor_no_fsync() -> t.Any:
            return self.child('floor-pull', url=blob_url, digest=image.blob_digest, dest=str(self.empty_directory('floor') / 'blob'),
                              fsync=False)[0]

        def floor_by_tag() -> t.Any:
            return self.child('floor-by-tag-pull', repository_url=f'http://{self.host}/v2/{image.repository}', tag=TAG,
                              manifest_type=mt.OCI_MANIFEST, layer_type=image.blob_media_type,
                              dest=str(self.empty_directory('floor') / 'blob'))[0]

        def compat_floor() -> t.Any:
            return self.child('compat-floor-pull', url=blob_url, digest=image.blob_digest,
                              dest=str(self.empty_directory('floor') / module_dest))[0]

        cases = {'ansible': ansible, 'library': library, 'skopeo': skopeo, 'oras': oras, 'floor_fsync': floor,
                 'floor_no_fsync': floor_no_fsync}
        if image.variant == 'oci':
            cases['floor_by_tag'] = floor_by_tag
        else:
            cases['compat_floor'] = compat_floor
        return self.chosen(image, cases, PULL_COMPARED[image.variant])

    def push_cases(self, image: Image) -> dict[str, t.Callable[[], t.Any]]:
        def ansible() -> t.Any:
            return self.ansible('wasm_image_push', {'name': self.fresh_repository(image, 'ansible'), 'layout': str(image.layout), 'tag': TAG,
                                                    'plain_http': True})

        def library() -> t.Any:
            return self.child('library-push', layout_path=str(image.layout), tag=TAG, name=f'{self.fresh_repository(image, "library")}:{TAG}')[0]

        def skopeo() -> t.Any:
            # As root, skopeo would mount the blobs from where it pushed them before, instead of uploading them.
            return self.process(['skopeo', '--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', f'oci:{image.layout}:{TAG}',
                                 f'docker://{self.fresh_repository(image, "skopeo")}:{TAG}'],
                                namespace_uid=SKOPEO_PUSH_UID, XDG_DATA_HOME='/dev/null/no-blob-info-cache')

        def oras() -> t.Any:
            return self.child('oras-push', target=f'{self.fresh_repository(image, "oras")}:{TAG}', path=str(image.upload_path),
                              media_type=image.blob_media_type)[0]

        return self.chosen(image, {'ansible': ansible, 'library': library, 'skopeo': skopeo, 'oras': oras}, PUSH_COMPARED)

    def chosen(self, image: Image, cases: dict[str, t.Callable[[], t.Any]], compared: t.Collection[str]) -> dict[str, t.Callable[[], t.Any]]:
        """Every case at the smallest size, Ansible for the oci variant only, or every case with ``--every-size``; else
        those a target compares. Then ``--clients``."""
        if not self.every_size:
            if not self.smallest(image):
                cases = {name: case for name, case in cases.items() if name in compared}
            elif image.variant != 'oci':
                cases = {name: case for name, case in cases.items() if name != 'ansible'}
        return self.only(cases)


def summarize_case(bench: t.Any, measurements: list[t.Any], module_size: int) -> dict[str, t.Any]:
    def values(name: str) -> list[float]:
        return [getattr(measurement, name) for measurement in measurements if getattr(measurement, name) is not None]

    seconds = bench.summarize(values('seconds'))
    return {
        'seconds': seconds,
        'process_seconds': bench.summarize(values('process_seconds')),
        'cpu_seconds': bench.summarize(values('cpu_seconds')),
        'throughput_mib_s': module_size / MIB / seconds['median'],
        'peak_rss_mib': bench.summarize([kib / 1024 for kib in values('peak_rss_kib')]),
    }


def sampled(runner: Bench, image: Image, cases: dict[str, t.Callable[[], t.Any]], runs: int,
            rounds_above_smallest: int = 1) -> dict[str, list[t.Any]]:
    """``runs`` rounds of every case, alternating; at the smallest size then more rounds of all but Ansible, so that
    each of those has SMALLEST_SIZE_ROUNDS times as many; above it ``rounds_above_smallest`` times ``runs``."""
    if not runner.smallest(image):
        return runner.bench.alternate(cases, runs * rounds_above_smallest, warmups=0)
    samples = runner.bench.alternate(cases, runs, warmups=0)
    short = {name: case for name, case in cases.items() if name != 'ansible'}
    for name, values in runner.bench.alternate(short, runs * (SMALLEST_SIZE_ROUNDS - 1), warmups=0).items():
        samples[name] += values
    return samples


def measure_pulls(runner: Bench, images: list[Image], runs: int) -> dict[str, t.Any]:
    results: dict[str, t.Any] = {}
    for image in images:
        cases = runner.pull_cases(image)
        runner.child('floor-pull', url=f'http://{runner.host}/v2/{image.repository}/blobs/{image.blob_digest}', digest=image.blob_digest,
                     dest=str(runner.empty_directory('warm') / 'blob'), fsync=False)  # the registry's page cache holds the blob now
        samples = sampled(runner, image, cases, runs)
        rows = {name: summarize_case(runner.bench, values, image.module_size) for name, values in samples.items()}
        for floor in ('floor_fsync', 'compat_floor'):
            if floor in rows:
                for row in rows.values():
                    row[f'ratio_to_{floor}'] = row['seconds']['median'] / rows[floor]['seconds']['median']
        results.setdefault(image.variant, {})[str(image.size_mib)] = rows
        progress = ', '.join(f'{name} {row["seconds"]["median"]:.2f} s' for name, row in rows.items())
        print(f'  pull {image.variant} {image.size_mib} MiB: {progress}', flush=True)
    return results


def check_uploads(runner: Bench, mark: int, image: Image) -> dict[str, int]:
    """Fail unless every repository pushed since ``mark`` got at least two blobs by completed uploads and nothing was
    mounted: a push that skipped its upload would time nothing. Returns the completed uploads per repository."""
    uploads: dict[str, int] = {}
    for entry in runner.access_log.since(mark):
        if 'mount=' in entry.path:
            raise RuntimeError(f'a push asked for a cross-repository mount: {entry.method} {entry.path}')
        if entry.method == 'PUT' and '/blobs/uploads/' in entry.path and entry.status == 201:
            repository = entry.path.split('/v2/', 1)[1].split('/blobs/', 1)[0]
            uploads[repository] = uploads.get(repository, 0) + 1
    pushed = [name for name in uploads if name.startswith(f'push/{image.variant}-{image.size_mib}-')]
    short = {name: count for name, count in uploads.items() if count < 2}
    if short or not pushed:
        raise RuntimeError(f'pushes of {image.variant} {image.size_mib} MiB that did not upload their blobs: {short or "all"}')
    return uploads


def measure_pushes(runner: Bench, images: list[Image], runs: int) -> dict[str, t.Any]:
    results: dict[str, t.Any] = {}
    for image in images:
        mark = runner.access_log.mark()
        samples = sampled(runner, image, runner.push_cases(image), runs, rounds_above_smallest=PUSH_ROUNDS)
        rows = {name: summarize_case(runner.bench, values, image.module_size) for name, values in samples.items()}
        check_uploads(runner, mark, image)
        if 'skopeo' in rows:
            for row in rows.values():
                row['ratio_to_skopeo'] = row['seconds']['median'] / rows['skopeo']['seconds']['median']
        results.setdefault(image.variant, {})[str(image.size_mib)] = rows
        progress = ', '.join(f'{name} {row["seconds"]["median"]:.2f} s' for name, row in rows.items())
        print(f'  push {image.variant} {image.size_mib} MiB: {progress}', flush=True)
    return results


def measure_baseline(runner: Bench, runs: int) -> dict[str, t.Any]:
    return runner.bench.summarize([runner.child('baseline')[0].peak_rss_kib / 1024 for _run in range(runs)])


def count_noops(runner: Bench, images: list[Image]) -> list[dict[str, t.Any]]:
    """Requests and blob bytes of first runs and no-op re-runs, from the access log; the smallest image of each variant."""
    rows = []

    def counted(operation: str, variant: str, client: str, action: t.Callable[[], object]) -> None:
        mark = runner.access_log.mark()
        action()
        counts = runner.bench.AccessLog.count(runner.access_log.since(mark))
        rows.append({'operation': operation, 'variant': variant, 'client': client, **counts})

    for variant in VARIANTS:
        image = min((image for image in images if image.variant == variant), key=lambda image: image.size_mib)
        reference = f'{runner.host}/{image.repository}:{TAG}'
        dest = str(runner.empty_directory(f'noop-{variant}') / 'module.wasm')
        repository = runner.fresh_repository(image, 'noop')

        def library_pull(policy: str | None = None, reference: str = reference, dest: str = dest) -> object:
            return runner.child('library-pull', name=reference, dest=dest, policy=policy)

        def ansible_pull(reference: str = reference, dest: str = dest) -> object:
            return runner.ansible('wasm_image_pull', {'name': reference, 'dest': dest, 'plain_http': True})

        def library_push(image: Image = image, repository: str = repository) -> object:
            return runner.child('library-push', layout_path=str(image.layout), tag=TAG, name=f'{repository}:{TAG}')

        def ansible_push(image: Image = image, repository: str = repository) -> object:
            return runner.ansible('wasm_image_push', {'name': repository, 'layout': str(image.layout), 'tag': TAG, 'plain_http': True})

        counted('first pull', variant, 'library', library_pull)
        counted('no-op pull (always)', variant, 'library', library_pull)
        if variant == 'oci':  # the module calls the library counted above; Ansible adds no request
            counted('no-op pull (always)', variant, 'ansible', ansible_pull)
        counted('no-op pull (if_not_present)', variant, 'library', functools.partial(library_pull, 'if_not_present'))
        counted('first push', variant, 'library', library_push)
        counted('no-op push', variant, 'library', library_push)
        if variant == 'oci':
            counted('no-op push', variant, 'ansible', ansible_push)
    return rows


# -- report -----------------------------------------------------------------------------------------------------------

PULL_LABELS = {
    'ansible': 'wasm_image_pull via Ansible [process]',
    'library': 'library pull',
    'skopeo': 'skopeo copy to dir: [process]',
    'oras': 'ORAS SDK pull',
    'floor_fsync': 'floor: GET+sha256+write+fsync',
    'floor_no_fsync': 'floor without fsync',
    'floor_by_tag': 'floor by tag: GET manifest, then the floor',
    'compat_floor': 'compat floor: + gunzip, tar, sha256',
}
PUSH_LABELS = {
    'ansible': 'wasm_image_push via Ansible [process]',
    'library': 'library push',
    'skopeo': 'skopeo copy from oci: [process]',
    'oras': 'ORAS SDK push',
}


def _transfer_rows(section: dict[str, t.Any], labels: dict[str, str], ratio_keys: t.Sequence[str]) -> list[list[str]]:
    rows: list[list[str]] = []
    for variant, sizes in section.items():
        for size, cases in sizes.items():
            for name, label in labels.items():
                if name not in cases:
                    continue
                row = cases[name]
                seconds = row['seconds']
                ratio = '  '.join(f'{row[key]:.2f}x' for key in ratio_keys if key in row)
                rows.append([f'{variant:<6} {size:>3} MiB  {label}', f'{seconds["median"]:.3f}', f'{seconds["min"]:.3f}', f'{seconds["max"]:.3f}',
                             f'{row["cpu_seconds"]["median"]:.2f}', f'{row["throughput_mib_s"]:.0f}', ratio, f'{row["peak_rss_mib"]["median"]:.0f}'])
    return rows


def _short_request(line: str) -> str:
    """``GET /v2/bench/oci-16/manifests/bench 200`` as ``GET manifests/bench 200``, digests and upload ids shortened."""
    method, path, status = line.split(' ')
    parts = path.split('?', 1)[0].rstrip('/').split('/')
    kind = next((index for index, part in enumerate(parts) if part in ('manifests', 'blobs')), len(parts) - 1)
    shown = '/'.join(part[:14] if part.startswith('sha256:') else part[:8] for part in parts[kind:])
    return f'{method} {shown} {status}'


def print_report(bench: t.Any, results: dict[str, t.Any]) -> None:
    machine = results['machine']
    print(f'\nwasm.oci transfer benchmark: {machine["cpus"]} CPUs, load {machine["load_1min"]:.1f} before and {results["load_1min_after"]:.1f} '
          f'after, Python {machine["python"]}, ansible-core {machine["ansible_core"]}, {results["runs"]} runs of each client '
          f'({results["smallest_size_runs"]} at the smallest size, Ansible excepted; {results["push_runs"]} for pushes above it), alternating; '
          'seconds: the median (min, max) of the wall time the run timed itself, after its imports ([process]: spawn to exit); '
          'cpu: its user+system seconds, measured the same way\n')
    header = ['', 'median s', 'min s', 'max s', 'cpu s', 'MiB/s', 'ratio', 'peak RSS MiB']
    if results['pull']:
        bench.print_table(header, _transfer_rows(results['pull'], PULL_LABELS, ('ratio_to_floor_fsync', 'ratio_to_compat_floor')),
                          title='PULL (ratio: to the floor with fsync; for compat also to the compat floor)')
        print(f'interpreter baseline (the imports of a library run, nothing else): peak RSS {results["baseline_rss_mib"]["median"]:.0f} MiB\n')
    if results['push']:
        bench.print_table(header, _transfer_rows(results['push'], PUSH_LABELS, ('ratio_to_skopeo',)), title='PUSH (ratio: to skopeo copy)')
    if results['noop']:
        noop_rows = [[f'{row["operation"]:<28} {row["variant"]:<6} {row["client"]}', row['requests'], row['blob_bytes'], row['blob_uploads'],
                      ', '.join(_short_request(line) for line in row['lines'])] for row in results['noop']]
        bench.print_table(['', 'requests', 'blob bytes', 'uploads', 'requests seen'], noop_rows,
                          title='FIRST RUNS AND NO-OP RE-RUNS (counted in the registry access log; uploads: upload requests)')
    print('TARGETS (issue 12)')
    for target in results['targets']:
        print(f'  [{"met" if target["met"] else "NOT MET"}] {target["target"]}: {target["measured"]}')
    print()


def evaluate_targets(results: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    targets = []
    baseline = results['baseline_rss_mib']['median']
    floors = {'oci': 'ratio_to_floor_fsync', 'compat': 'ratio_to_compat_floor'}
    for variant, sizes in results['pull'].items():
        if not all('library' in cases for cases in sizes.values()):
            continue
        key = floors[variant]
        ratios = {size: cases['library'].get(key, float('nan')) for size, cases in sizes.items()}
        which = 'the floor with fsync' if variant == 'oci' else 'the compat floor'
        targets.append({'target': f'library pull within {PULL_FLOOR_RATIO}x of {which} ({variant})',
                        'met': all(ratio <= PULL_FLOOR_RATIO for ratio in ratios.values()),
                        'measured': ', '.join(f'{size} MiB {ratio:.2f}x' for size, ratio in ratios.items())})
        above = {size: cases['library']['peak_rss_mib']['median'] - baseline for size, cases in sizes.items()}
        targets.append({'target': f'library pull peak RSS under {RSS_ABOVE_BASELINE_MIB} MiB above the baseline ({variant})',
                        'met': all(value < RSS_ABOVE_BASELINE_MIB for value in above.values()),
                        'measured': ', '.join(f'{size} MiB +{value:.0f} MiB' for size, value in above.items())})
    for variant, sizes in results['push'].items():
        if not all('library' in cases and 'skopeo' in cases for cases in sizes.values()):
            continue
        ratios = {size: cases['library']['ratio_to_skopeo'] for size, cases in sizes.items()}
        targets.append({'target': f'library push at least as fast as skopeo copy from the layout ({variant})',
                        'met': all(ratio <= 1.0 for ratio in ratios.values()),
                        'measured': ', '.join(f'{size} MiB {ratio:.2f}x' for size, ratio in ratios.items())})
    for row in results['noop']:
        if row['operation'] == 'no-op pull (always)':
            targets.append({'target': f'no-op pull: {NOOP_PULL_REQUESTS} request and 0 blob bytes ({row["variant"]}, {row["client"]})',
                            'met': row['requests'] <= NOOP_PULL_REQUESTS and row['blob_bytes'] == 0,
                            'measured': f'{row["requests"]} request(s), {row["blob_bytes"]} blob bytes'})
        elif row['operation'] == 'no-op push':
            targets.append({'target': f'no-op push: at most {NOOP_PUSH_REQUESTS} request per image plus auth, none here ({row["variant"]}, '
                                      f'{row["client"]})',
                            'met': row['requests'] <= NOOP_PUSH_REQUESTS and row['blob_uploads'] == 0,
                            'measured': f'{row["requests"]} request(s), {row["blob_uploads"]} upload requests'})
    return targets


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--results', type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent / 'results.json',
                        help='the JSON file whose key "transfer" this script replaces')
    parser.add_argument('--runs', type=int, default=5, help='timed runs of each client (at least 5)')
    parser.add_argument('--sizes', type=lambda text: tuple(int(size) for size in text.split(',')), default=SIZES_MIB,
                        help='module sizes in MiB, comma-separated (default 16,64,256)')
    parser.add_argument('--parts', type=lambda text: tuple(text.split(',')), default=PARTS,
                        help='what to measure, comma-separated: pull,push,noop (default: all)')
    parser.add_argument('--every-size', action='store_true',
                        help='every client at every size (about twice as long); by default above the smallest size only the '
                             'clients a target compares')
    parser.add_argument('--clients', type=lambda text: tuple(text.split(',')), default=None,
                        help='only these clients, comma-separated: ansible,library,skopeo,oras,floor_fsync,floor_no_fsync,floor_by_tag,compat_floor')
    parser.add_argument('--collections', type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[1] / '.build' / 'linked',
                        help='the ANSIBLE_COLLECTIONS_PATH (and PYTHONPATH) holding wasm.oci')
    parser.add_argument('--zygote', choices=sorted(set(ZYGOTE_OF.values())), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.zygote is None and arguments.runs < 5:
        parser.error('--runs must be at least 5')
    return arguments


def main() -> None:
    arguments = parse_arguments()
    if arguments.zygote:
        run_zygote(arguments.zygote)
        return
    import _bench  # pylint: disable=import-outside-toplevel

    if str(arguments.collections) not in sys.path:
        sys.path.insert(0, str(arguments.collections))
    started = time.monotonic()
    results: dict[str, t.Any] = {'machine': _bench.machine_info(), 'runs': arguments.runs, 'smallest_size_runs': arguments.runs * SMALLEST_SIZE_ROUNDS,
                                 'push_runs': arguments.runs * PUSH_ROUNDS,
                                 'sizes_mib': list(arguments.sizes), 'size_allowance_bytes': SIZE_ALLOWANCE}
    with _bench.Workspace.create('wasm-oci-bench-transfer-') as workspace:
        registry = _bench.LoopbackRegistry.start(workspace.root / 'registry')
        workspace.stops.append(registry.stop)
        print(f'building and pushing {len(arguments.sizes) * len(VARIANTS)} images ...', flush=True)
        images = build_images(workspace.root, registry.host, arguments.sizes)
        print(f'  ready after {time.monotonic() - started:.0f} s', flush=True)
        runner = Bench(_bench, workspace.root, registry, arguments.collections, arguments.clients, arguments.sizes, arguments.every_size)
        workspace.stops.append(runner.close)
        results['baseline_rss_mib'] = measure_baseline(runner, 3)
        results['pull'] = measure_pulls(runner, images, arguments.runs) if 'pull' in arguments.parts else {}
        results['push'] = measure_pushes(runner, images, arguments.runs) if 'push' in arguments.parts else {}
        results['noop'] = count_noops(runner, images) if 'noop' in arguments.parts else []
    results['load_1min_after'] = os.getloadavg()[0]
    results['targets'] = evaluate_targets(results)
    results['seconds'] = time.monotonic() - started
    print_report(_bench, results)
    _bench.merge_results(arguments.results, 'transfer', results)
    print(f'{results["seconds"]:.0f} s in all; written to {arguments.results} (key "transfer")')


if __name__ == '__main__':
    main()
