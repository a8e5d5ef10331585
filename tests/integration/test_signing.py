"""wasm_image_sign, and verify_keys / verify_identity on wasm_image_pull and wasm_image_info, against a real registry.

Images are put into ``registry_plain`` (and one into ``registry_basic``) byte for byte (harness/signing.py). Then the
modules sign them, in the order a CI pipeline would: check mode, a first signature (in diff mode), the same signature
again, new annotations, a second signer. Bad keys are given to the sign module on an image nobody signs. Hostile
``.sig`` manifests are forged with raw requests (10,000 layers, a 100 MiB payload, a signature that is not base64, a
layer of another type), a valid ``.sig`` manifest is copied under another image's tag and into another repository,
and skopeo copies a signed image with its ``.sig`` tag into a local layout. Finally every verification and refusal
runs through Ansible, and the tests check results, what the registry holds, and that refusals wrote nothing.

Starting Ansible costs seconds of CPU: check and diff mode go through ``run_module``, everything else runs as the
tasks of two playbooks (harness/playbook.py), set up once for the whole file. Library behaviour that those runs already
show wired through Ansible is checked in-process: more bad keys, and how fast 10,000 layers are refused.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import pathlib
import time
import typing as t

import pytest

from ansible_collections.wasm.oci.plugins.module_utils._common.errors import SignatureError, SigningKeyError
from ansible_collections.wasm.oci.plugins.module_utils._oci.reference import parse_reference
from ansible_collections.wasm.oci.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.wasm.oci.plugins.module_utils._registry.sender import RegistryOptions
from ansible_collections.wasm.oci.plugins.module_utils._registry.source import RegistrySource
from ansible_collections.wasm.oci.plugins.module_utils._signing.image_signatures import trust_from, verify_image
from ansible_collections.wasm.oci.plugins.module_utils._signing.keys import load_private_key

from harness.module_runner import run_module
from harness.playbook import run_tasks
from harness.registries import Registry, registry_request, run_skopeo, skopeo_args
from harness.signing import (
    COSIGN_SIGNATURE_ANNOTATION,
    COSIGN_SIMPLE_SIGNING,
    PASSPHRASE,
    blob_downloads,
    copy_signature_image,
    cosign_payload,
    get_blob,
    key_id,
    key_structure,
    make_keys,
    payload_layer,
    put_image,
    put_signature_image,
    sign,
    signature_manifest,
    signature_tag,
    tags,
    vector_signature,
    wasm_module,
    with_label,
)
from harness.wild_images import OCI_CONFIG, OCI_MANIFEST, OCI_TAR, OCI_TAR_GZIP, WildImage, container, platform_index

MAIN = 'signed/filter'
UNSIGNED = 'signed/unsigned'
INDEX = 'signed/index'
COPY = 'signed/copy'
BASIC = 'signed/basic'
HOSTILE_REPOSITORY = 'signed-hostile'
HOSTILE = ('many-layers', 'huge-payload', 'not-base64', 'other-type')
MANY_LAYERS = 10_000
HUGE_PAYLOAD = 100 * 1024 * 1024
OLD_DEST = b'\0asm\x01\0\0\0 the module deployed before this pull; it must survive\n'
TIMEOUT = 10


def image_of(module: bytes) -> WildImage:
    """A one-layer OCI image of ``plugin.wasm``, as a ``FROM scratch`` build pushed with OCI media types writes it."""
    image = WildImage()
    container(image, [('plugin.wasm', module)], manifest_type=OCI_MANIFEST, layer_type=OCI_TAR_GZIP)
    return image


@dataclasses.dataclass
class Scene:
    """What the module fixture put into the registries, what the modules answered, and what the registry held when."""

    registry: Registry
    basic: Registry
    keys: dict[str, pathlib.Path]
    workdir: pathlib.Path
    log_path: pathlib.Path
    modules: dict[str, bytes] = dataclasses.field(default_factory=dict)
    digests: dict[str, str] = dataclasses.field(default_factory=dict)
    results: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    # The .sig manifest of the main image after check mode and after all signing, as served (None: no .sig tag).
    signatures: dict[str, dict[str, t.Any] | None] = dataclasses.field(default_factory=dict)
    dests: dict[str, pathlib.Path] = dataclasses.field(default_factory=dict)
    hostile_layers: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    unsigned_tags: list[str] = dataclasses.field(default_factory=list)

    def ref(self, repository: str, tag: str = 'v1') -> str:
        return self.registry.ref(f'{repository}:{tag}')

    def plays(self, phase: str) -> pathlib.Path:
        directory = self.workdir / f'{phase}-plays'
        directory.mkdir()
        return directory

    def dest(self, name: str, existing: bytes | None = None) -> pathlib.Path:
        """A dest in a directory of its own, so a test sees every file a pull left beside it."""
        directory = self.workdir / 'dests' / name
        directory.mkdir(parents=True)
        self.dests[name] = directory / 'filter.wasm'
        if existing is not None:
            self.dests[name].write_bytes(existing)
        return self.dests[name]


def sign_task(name: str, key: pathlib.Path, registry: Registry | None = None, **options: t.Any) -> tuple[str, dict[str, t.Any]]:
    args = {'name': name, 'key': str(key), 'plain_http': True, 'timeout': TIMEOUT, **options}
    if registry is not None and registry.username:
        args.update(username=registry.username, password=registry.password)
    return 'wasm_image_sign', args


def pull_task(name: str, dest: pathlib.Path, keys: list[str] | None, **options: t.Any) -> tuple[str, dict[str, t.Any]]:
    args = {'name': name, 'dest': str(dest), 'plain_http': True, 'timeout': TIMEOUT, **options}
    if keys is not None:
        args['verify_keys'] = keys
    return 'wasm_image_pull', args


def info_task(name: str, keys: list[str] | None, **options: t.Any) -> tuple[str, dict[str, t.Any]]:
    args = {'name': name, 'plain_http': True, 'timeout': TIMEOUT, **options}
    if keys is not None:
        args['verify_keys'] = keys
    return 'wasm_image_info', args


def _put_images(scene: Scene, sample_filter: pathlib.Path) -> None:
    registry = scene.registry
    scene.modules['main'] = sample_filter.read_bytes()
    scene.modules['other'] = with_label(scene.modules['main'], 'another build')
    main = image_of(scene.modules['main'])
    scene.digests['main'] = put_image(registry, MAIN, 'v1', main)
    scene.digests['other'] = put_image(registry, MAIN, 'other', image_of(scene.modules['other']))
    # The same image in another repository: same digest, so the same .sig tag name.
    assert put_image(registry, COPY, 'v1', main) == scene.digests['main']
    scene.modules['unsigned'] = wasm_module('unsigned')
    scene.digests['unsigned'] = put_image(registry, UNSIGNED, 'v1', image_of(scene.modules['unsigned']))
    index = WildImage()
    scene.modules['index'] = wasm_module('index')
    platform_index(index, scene.modules['index'], docker=False, attestations=False)
    scene.digests['index'] = put_image(registry, INDEX, 'v1', index)
    scene.modules['basic'] = wasm_module('basic')
    scene.digests['basic'] = put_image(scene.basic, BASIC, 'v1', image_of(scene.modules['basic']))
    for name in HOSTILE:
        scene.modules[name] = wasm_module(name)
        scene.digests[name] = put_image(registry, f'{HOSTILE_REPOSITORY}/{name}', 'v1', image_of(scene.modules[name]))


def _forge_hostile_signatures(scene: Scene) -> None:
    """Each forged .sig holds payloads that name their image exactly and are signed by the ci key: only the one
    hostile trait is left to refuse them."""
    for name in HOSTILE:
        repository, digest = f'{HOSTILE_REPOSITORY}/{name}', scene.digests[name]
        payload = cosign_payload(scene.registry.ref(repository), digest, {'forged': name})
        signature = sign(scene.keys['ci'], payload)
        layer = {
            'many-layers': payload_layer(payload, signature),
            'huge-payload': payload_layer(payload, signature, size=HUGE_PAYLOAD),
            'not-base64': payload_layer(payload, 'this is not base64!'),
            'other-type': payload_layer(payload, signature, media_type=OCI_TAR),
        }[name]
        scene.hostile_layers[name] = layer
        put_signature_image(scene.registry, repository, digest, [layer] * (MANY_LAYERS if name == 'many-layers' else 1), [payload])


def _copy_to_layouts(scene: Scene) -> dict[str, pathlib.Path]:
    """skopeo copies the main image with its .sig tag into one layout, and without it into another."""
    layouts = {'signed': scene.workdir / 'layout-signed', 'unsigned': scene.workdir / 'layout-unsigned'}
    sig_tag = signature_tag(scene.digests['main'])
    copies = [('signed', 'v1'), ('signed', sig_tag), ('unsigned', 'v1')]
    for layout, tag in copies:
        run_skopeo('copy', '--preserve-digests', *skopeo_args(scene.registry, 'src'), f'docker://{scene.ref(MAIN, tag)}',
                   f'oci:{layouts[layout]}:{tag}')
    for layout in layouts.values():
        index = json.loads((layout / 'index.json').read_text(encoding='utf-8'))
        assert scene.digests['main'] in [entry['digest'] for entry in index['manifests']], 'skopeo changed the image digest'
    return layouts


def _sign(scene: Scene, environment: dict[str, str]) -> None:
    """Check mode first, on its own; then every signing, and every refusal that needs no signature, as play tasks."""
    keys, ci, unsigned = scene.keys, str(scene.keys['ci.pub']), scene.ref(UNSIGNED)
    first = sign_task(scene.ref(MAIN), keys['ci'], annotations={'ci': '1'})
    scene.results['check mode'] = run_module(*first, environment, check_mode=True, diff=True)
    scene.signatures['after check mode'] = signature_manifest(scene.registry, MAIN, scene.digests['main'])
    scene.results.update(run_tasks({
        # One group: these run in this order.
        'sign main: first': first,
        'sign main: the same key and annotations again': first,
        'sign main: new annotations': sign_task(scene.ref(MAIN), keys['ci'], annotations={'ci': '2'}),
        'sign main: a second signer, with an encrypted key': sign_task(scene.ref(MAIN), keys['release'], key_passphrase=PASSPHRASE),
        'bad key: P-384': sign_task(unsigned, keys['p384']),
        'bad key: wrong passphrase': sign_task(unsigned, keys['release'], key_passphrase='not the passphrase'),
        'bad key: cosign format': sign_task(unsigned, keys['cosign']),
        'bad key: PEM text instead of a path': sign_task(unsigned, keys['ci'].read_text(encoding='ascii')),
        'sign index: by tag': sign_task(scene.ref(INDEX), keys['ci']),
        'sign basic: with credentials': sign_task(scene.basic.ref(f'{BASIC}:v1'), keys['ci'], scene.basic),
        'sign layout: refused': sign_task(f'oci:{scene.workdir / "nothing"}:v1', keys['ci']),
        'verify with a private key: info': info_task(scene.ref(MAIN), [str(keys['ci'])]),
        'refuse unsigned: pull': pull_task(unsigned, scene.dest('unsigned'), [ci]),
        **{f'refuse {name}: pull': pull_task(scene.ref(f'{HOSTILE_REPOSITORY}/{name}'), scene.dest(name), [ci]) for name in HOSTILE},
    }, environment, scene.plays('sign')))
    scene.signatures['signed'] = signature_manifest(scene.registry, MAIN, scene.digests['main'])
    scene.unsigned_tags = tags(scene.registry, UNSIGNED)


def _verify(scene: Scene, layouts: dict[str, pathlib.Path], environment: dict[str, str]) -> None:
    keys = scene.keys
    ci, release, stranger = str(keys['ci.pub']), str(keys['release.pub']), str(keys['stranger.pub'])
    scene.results.update(run_tasks({
        'verify main: info, both keys': info_task(scene.ref(MAIN), [ci, release]),
        'verify main: pull, the second signer with identity': pull_task(scene.ref(MAIN), scene.dest('main'), [release], verify_identity=True),
        'verify main: pull again into the same dest': pull_task(scene.ref(MAIN), scene.dests['main'], [release], verify_identity=True),
        # A key may be given as its PEM text, as well as by path.
        'verify index: pull by tag, the key as PEM text': pull_task(scene.ref(INDEX), scene.dest('index'),
                                                                    [keys['ci.pub'].read_text(encoding='ascii')], verify_identity=True),
        'verify basic: pull with credentials': pull_task(scene.basic.ref(f'{BASIC}:v1'), scene.dest('basic'), [ci],
                                                         username=scene.basic.username, password=scene.basic.password),
        'verify copy: pull without identity': pull_task(scene.ref(COPY), scene.dest('copy'), [ci]),
        'verify layout: pull': pull_task(f'oci:{layouts["signed"]}:v1', scene.dest('layout'), [ci]),
        'refuse copy: identity of another repository': pull_task(scene.ref(COPY), scene.dest('identity'), [ci], verify_identity=True),
        'refuse wrong key: pull over an existing dest': pull_task(scene.ref(MAIN), scene.dest('wrong key', existing=OLD_DEST), [stranger]),
        'refuse mismatch: pull': pull_task(scene.ref(MAIN, 'other'), scene.dest('mismatch'), [ci]),
        'refuse layout without signatures: pull': pull_task(f'oci:{layouts["unsigned"]}:v1', scene.dest('layout unsigned'), [ci]),
    }, environment, scene.plays('verify')))


@pytest.fixture(scope='module')
def scene(sample_filter: pathlib.Path, registry_plain: Registry, registry_basic: Registry, registry_workdir: pathlib.Path,
          ansible_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Scene:
    workdir = tmp_path_factory.mktemp('signing')
    (workdir / 'keys').mkdir()
    found = Scene(registry_plain, registry_basic, make_keys(workdir / 'keys'), workdir, registry_workdir / 'plain' / 'registry.log')
    _put_images(found, sample_filter)
    _forge_hostile_signatures(found)
    _sign(found, ansible_environment)
    # A signature of the main image, copied under the other image's .sig tag and into another repository.
    copy_signature_image(registry_plain, MAIN, found.digests['main'], MAIN, found.digests['other'])
    copy_signature_image(registry_plain, MAIN, found.digests['main'], COPY, found.digests['main'])
    _verify(found, _copy_to_layouts(found), ansible_environment)
    return found


def succeeded(result: dict[str, t.Any]) -> dict[str, t.Any]:
    assert not result['failed'], result
    return result


def refused(result: dict[str, t.Any], *fragments: str) -> str:
    assert result['failed'], result
    for fragment in fragments:
        assert fragment in result['msg'], (fragment, result['msg'])
    return result['msg']


def payloads(scene: Scene, manifest: dict[str, t.Any] | None) -> list[dict[str, t.Any]]:
    assert manifest is not None
    return [json.loads(get_blob(scene.registry, MAIN, layer['digest'])) for layer in manifest['layers']]


def nothing_written(scene: Scene, name: str, existing: bytes | None = None) -> None:
    dest = scene.dests[name]
    if existing is None:
        assert list(dest.parent.iterdir()) == [], f'the refused pull left {list(dest.parent.iterdir())}'
    else:
        assert list(dest.parent.iterdir()) == [dest]
        assert dest.read_bytes() == existing


# -- signing ---------------------------------------------------------------------------------------------


def test_check_mode_reports_the_signature_and_writes_nothing(scene: Scene) -> None:
    result = succeeded(scene.results['check mode'])
    assert result['changed']
    assert result['digest'] == scene.digests['main']
    assert scene.signatures['after check mode'] is None
    # The diff names the payload the real run then wrote: payloads are deterministic, only signatures differ.
    final = scene.signatures['signed']
    assert final is not None
    assert result['diff'] == {'before': {'signatures': []}, 'after': {'signatures': [final['layers'][0]['digest']]}}


def test_first_signature_names_the_image_and_the_annotations(scene: Scene) -> None:
    result = succeeded(scene.results['sign main: first'])
    assert result['changed']
    assert result['signature_tag'] == signature_tag(scene.digests['main'])
    claim = payloads(scene, scene.signatures['signed'])[0]
    assert claim['critical'] == {
        'identity': {'docker-reference': scene.registry.ref(MAIN)},
        'image': {'docker-manifest-digest': scene.digests['main']},
        'type': 'cosign container image signature',
    }
    assert claim['optional'] == {'ci': '1'}


def test_signing_again_with_the_same_key_and_annotations_changes_nothing(scene: Scene) -> None:
    result = succeeded(scene.results['sign main: the same key and annotations again'])
    assert not result['changed']
    assert result['digest'] == scene.digests['main']
    # Of the three layers in the end, none is a second copy of the first claim.
    assert [claim['optional'] for claim in payloads(scene, scene.signatures['signed'])] == [{'ci': '1'}, {'ci': '2'}, None]


def test_new_annotations_add_a_layer(scene: Scene) -> None:
    assert succeeded(scene.results['sign main: new annotations'])['changed']
    final = scene.signatures['signed']
    assert final is not None
    assert len(final['layers']) == 3


def test_a_second_signer_is_added_and_every_signer_verifies(scene: Scene) -> None:
    assert succeeded(scene.results['sign main: a second signer, with an encrypted key'])['changed']
    ci, release, digest = key_id(scene.keys['ci.pub']), key_id(scene.keys['release.pub']), scene.digests['main']
    # The first layer, written before two more were added, still verifies: other layers are kept as they were.
    both = succeeded(scene.results['verify main: info, both keys'])
    assert both['signatures'] == [
        {'key': ci, 'digest': digest, 'annotations': {'ci': '1'}},
        {'key': ci, 'digest': digest, 'annotations': {'ci': '2'}},
        {'key': release, 'digest': digest, 'annotations': {}},
    ]
    pulled = succeeded(scene.results['verify main: pull, the second signer with identity'])
    assert pulled['changed']
    assert pulled['signatures'] == [{'key': release, 'digest': digest, 'annotations': {}}]
    assert scene.dests['main'].read_bytes() == scene.modules['main']
    # Verified again (what is on disk proves nothing about who signed it), and nothing to change.
    again = succeeded(scene.results['verify main: pull again into the same dest'])
    assert not again['changed']
    assert again['signatures'] == pulled['signatures']


def test_signing_a_tag_signs_the_manifest_digest_it_names(scene: Scene) -> None:
    signed = succeeded(scene.results['sign main: first'])
    described = succeeded(scene.results['verify main: info, both keys'])
    assert signed['digest'] == described['image']['digest'] == scene.digests['main']
    assert signed['signature_tag'] == 'sha256-' + scene.digests['main'].split(':', 1)[1] + '.sig'


def test_signing_an_index_signs_the_index_digest(scene: Scene) -> None:
    signed = succeeded(scene.results['sign index: by tag'])
    pulled = succeeded(scene.results['verify index: pull by tag, the key as PEM text'])
    assert signed['changed']
    assert signed['digest'] == scene.digests['index'] == pulled['image']['index_digest']
    child = pulled['image']['digest']
    assert child != scene.digests['index']
    assert signature_manifest(scene.registry, INDEX, child) is None
    assert pulled['signatures'] == [{'key': key_id(scene.keys['ci.pub']), 'digest': scene.digests['index'], 'annotations': {}}]
    assert scene.dests['index'].read_bytes() == scene.modules['index']


def test_the_signature_image_has_the_shape_cosign_writes(scene: Scene) -> None:
    manifest = scene.signatures['signed']
    assert manifest is not None
    assert manifest['mediaType'] == OCI_MANIFEST
    assert manifest['config']['mediaType'] == OCI_CONFIG
    assert {layer['mediaType'] for layer in manifest['layers']} == {COSIGN_SIMPLE_SIGNING}
    for layer in manifest['layers']:
        assert set(layer['annotations']) == {COSIGN_SIGNATURE_ANNOTATION}
        assert len(base64.b64decode(layer['annotations'][COSIGN_SIGNATURE_ANNOTATION], validate=True)) <= 72
    # The second signer signed no annotations, as the vector: the payloads must agree key for key, and byte for byte
    # once the vector's repository and digest are replaced by ours.
    ours = get_blob(scene.registry, MAIN, manifest['layers'][2]['digest'])
    vector, _signature = vector_signature()
    claim = json.loads(vector)['critical']
    assert key_structure(json.loads(ours)) == key_structure(json.loads(vector))
    expected = (vector.replace(claim['identity']['docker-reference'].encode(), scene.registry.ref(MAIN).encode())
                      .replace(claim['image']['docker-manifest-digest'].encode(), scene.digests['main'].encode()))
    assert ours == expected
    # With annotations, only the optional part differs.
    annotated = json.loads(get_blob(scene.registry, MAIN, manifest['layers'][0]['digest']))
    assert key_structure(annotated['critical']) == key_structure(json.loads(vector)['critical'])
    config = json.loads(get_blob(scene.registry, MAIN, manifest['config']['digest']))
    assert config['rootfs'] == {'type': 'layers', 'diff_ids': [layer['digest'] for layer in manifest['layers']]}


def test_credentials_reach_the_signature_manifest(scene: Scene) -> None:
    signed = succeeded(scene.results['sign basic: with credentials'])
    assert signed['changed']
    assert signed['digest'] == scene.digests['basic']
    # Only with credentials does the registry show the signature the module wrote.
    anonymous = registry_request(scene.basic, 'GET', f'/v2/{BASIC}/manifests/{signed["signature_tag"]}', username=None)
    assert anonymous.status_code == 401
    assert signature_manifest(scene.basic, BASIC, scene.digests['basic']) is not None
    pulled = succeeded(scene.results['verify basic: pull with credentials'])
    assert pulled['signatures'] == [{'key': key_id(scene.keys['ci.pub']), 'digest': scene.digests['basic'], 'annotations': {}}]
    assert scene.dests['basic'].read_bytes() == scene.modules['basic']


# Through Ansible: one key of the wrong curve, one of the wrong format, and a passphrase through the no_log option.
BAD_KEYS = {
    'P-384': ('key (', 'is an EC key on curve secp384r1, not P-256'),
    'wrong passphrase': ('cannot be decrypted: the key_passphrase is wrong',),
    'cosign format': ("is in cosign's own encrypted format, which only cosign reads",),
}
# The module reads its key the same way before it connects to anything: these are checked in-process.
BAD_KEYS_IN_PROCESS = {
    'ed25519': 'is not an EC key; cosign signatures use ECDSA P-256 keys',
    'release': 'is encrypted; give its passphrase in key_passphrase',
    'ci.pub': 'is a public key; signing needs the private key',
}


@pytest.mark.parametrize('case', BAD_KEYS)
def test_bad_signing_keys_are_refused_clearly(scene: Scene, case: str) -> None:
    message = refused(scene.results[f'bad key: {case}'], *BAD_KEYS[case])
    # A key is named by its path, never by its bytes.
    assert 'BEGIN' not in message
    assert str(scene.workdir / 'keys') in message


@pytest.mark.parametrize('name', BAD_KEYS_IN_PROCESS)
def test_other_bad_signing_keys_are_refused_clearly(scene: Scene, name: str) -> None:
    with pytest.raises(SigningKeyError) as caught:
        load_private_key(str(scene.keys[name]), None, 'key')
    assert str(caught.value).startswith(f'key ({scene.keys[name]}) {BAD_KEYS_IN_PROCESS[name]}')


def test_a_private_key_given_as_text_is_refused_unprinted(scene: Scene) -> None:
    message = refused(scene.results['bad key: PEM text instead of a path'], 'key takes the path of the private key file')
    assert 'BEGIN' not in message


def test_bad_signing_keys_write_nothing_to_the_registry(scene: Scene) -> None:
    assert scene.unsigned_tags == ['v1']
    assert signature_manifest(scene.registry, UNSIGNED, scene.digests['unsigned']) is None


def test_an_image_in_a_layout_is_not_signed(scene: Scene) -> None:
    refused(scene.results['sign layout: refused'], 'is an image in a local layout', 'Push it first')


def test_verify_keys_refuses_a_private_key(scene: Scene) -> None:
    message = refused(scene.results['verify with a private key: info'], 'verify_keys[0]', 'is a private key', 'openssl pkey')
    assert 'BEGIN' not in message


# -- refusals --------------------------------------------------------------------------------------------


def test_unsigned_image_is_refused_naming_its_signature_tag(scene: Scene) -> None:
    refused(scene.results['refuse unsigned: pull'], key_id(scene.keys['ci.pub']), 'found no signatures',
            signature_tag(scene.digests['unsigned']))
    nothing_written(scene, 'unsigned')


def test_wrong_key_is_refused_naming_the_key_tried_and_the_dest_is_kept(scene: Scene) -> None:
    message = refused(scene.results['refuse wrong key: pull over an existing dest'], key_id(scene.keys['stranger.pub']),
                      'found 3 signatures, none accepted')
    assert message.count('wrong key') == 3
    nothing_written(scene, 'wrong key', existing=OLD_DEST)


def test_signature_of_another_digest_is_refused(scene: Scene) -> None:
    refused(scene.results['refuse mismatch: pull'], 'found 3 signatures',
            f'digest mismatch: it covers {scene.digests["main"]}, not {scene.digests["other"]}')
    nothing_written(scene, 'mismatch')


def test_identity_is_checked_only_when_asked(scene: Scene) -> None:
    refused(scene.results['refuse copy: identity of another repository'],
            f"identity mismatch: it names '{scene.registry.ref(MAIN)}', not '{scene.registry.ref(COPY)}'")
    nothing_written(scene, 'identity')
    accepted = succeeded(scene.results['verify copy: pull without identity'])
    assert accepted['changed']
    assert len(accepted['signatures']) == 2
    assert scene.dests['copy'].read_bytes() == scene.modules['main']


HOSTILE_MESSAGES = {
    'many-layers': (f'holds {MANY_LAYERS} signatures, more than the 64 allowed; refusing it unread',),
    'huge-payload': (f'a payload of {HUGE_PAYLOAD} bytes, more than the 65536 bytes a payload may have; not read',),
    'not-base64': ('signature 1: the signature is not base64',),
    'other-type': (f"signature 1: a layer of type '{OCI_TAR}', not a simple-signing payload",),
}


@pytest.mark.parametrize('name', HOSTILE)
def test_hostile_signature_image_is_refused_without_reading_its_layers(scene: Scene, name: str) -> None:
    refused(scene.results[f'refuse {name}: pull'], *HOSTILE_MESSAGES[name])
    nothing_written(scene, name)
    if name != 'not-base64':
        # Nothing about these layers says they may be signatures: their payloads are never fetched.
        assert blob_downloads(scene.log_path, f'{HOSTILE_REPOSITORY}/{name}', scene.hostile_layers[name]['digest']) == []


def test_many_layers_are_refused_quickly(scene: Scene) -> None:
    reference = parse_reference(scene.ref(f'{HOSTILE_REPOSITORY}/many-layers'))
    source = RegistrySource(RegistryClient(reference, RegistryOptions(plain_http=True, timeout=TIMEOUT), None))
    trust = trust_from([str(scene.keys['ci.pub'])], False, reference)
    started = time.monotonic()
    with pytest.raises(SignatureError, match='refusing it unread'):
        verify_image(source, scene.digests['many-layers'], trust)
    # One manifest read: fetching 10,000 payloads would take far longer, even from loopback.
    assert time.monotonic() - started < 5


# -- local layouts ---------------------------------------------------------------------------------------


def test_image_copied_into_a_layout_with_its_signatures_verifies(scene: Scene) -> None:
    pulled = succeeded(scene.results['verify layout: pull'])
    assert pulled['changed']
    assert [signature['digest'] for signature in pulled['signatures']] == [scene.digests['main']] * 2
    assert scene.dests['layout'].read_bytes() == scene.modules['main']


def test_image_copied_into_a_layout_without_its_signatures_is_refused(scene: Scene) -> None:
    refused(scene.results['refuse layout without signatures: pull'], 'found no signatures', signature_tag(scene.digests['main']))
    nothing_written(scene, 'layout unsigned')
