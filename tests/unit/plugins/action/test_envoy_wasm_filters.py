"""Which of the controller's pulled files the envoy_wasm_filters action plugin can send, and which it sends at once."""

from __future__ import annotations

from ansible_collections.wasm.oci.plugins.action.envoy_wasm_filters import _module_files


def _pull(digest: str, dest: str, changed: bool) -> dict[str, object]:
    return {'changed': changed, 'dest': dest, 'image': {'wasm': {'digest': digest}}}


def test_each_module_is_found_by_digest_with_whether_the_pull_just_downloaded_it() -> None:
    files = _module_files([_pull('sha256:aa', '/cache/a.wasm', True), _pull('sha256:bb', '/cache/b.wasm', False)])
    assert files == {'sha256:aa': ('/cache/a.wasm', True), 'sha256:bb': ('/cache/b.wasm', False)}


def test_a_module_two_pulls_share_counts_as_new_when_either_downloaded_it() -> None:
    files = _module_files([_pull('sha256:aa', '/cache/one.wasm', True), _pull('sha256:aa', '/cache/two.wasm', False)])
    assert files['sha256:aa'][1] is True


def test_skipped_and_failed_pulls_and_pulls_without_a_file_are_left_out() -> None:
    pulls = [{'skipped': True, 'changed': False}, {'failed': True, 'msg': 'refused'}, {'changed': True, 'image': {'wasm': {'digest': 'sha256:cc'}}},
             'not a result']
    assert _module_files(pulls) == {}
