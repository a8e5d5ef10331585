"""The registry modules against real CNCF Distribution instances: plain, basic auth, TLS, token auth."""

from __future__ import annotations

import pathlib
import typing as t

import pytest

from harness.registries import Registry, skopeo_args
from harness.targets import run_target

REGISTRY_KINDS = ['plain', 'basic', 'tls', 'token']


def module_options(registry: Registry) -> dict[str, t.Any]:
    """The registry doc fragment's options for ``registry``, as a play would set them."""
    options: dict[str, t.Any] = {'timeout': 20}
    if registry.plain_http:
        options['plain_http'] = True
    if registry.username:
        options.update(username=registry.username, password=registry.password)
    if registry.ca_path:
        options['ca_path'] = str(registry.ca_path)
    return options


@pytest.mark.parametrize('kind', REGISTRY_KINDS)
def test_round_trips(kind: str, request: pytest.FixtureRequest, sample_filter: pathlib.Path,
                     ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    registry: Registry = request.getfixturevalue(f'registry_{kind}')
    run_target(
        'wasm_image_registry',
        {
            'registry': registry.host,
            'repository_path': f'filters/{kind}-{tmp_path.name.lower().replace("_", "-")}',
            'registry_options': module_options(registry),
            'skopeo_options': ' '.join(skopeo_args(registry)),
            'sample_filter': str(sample_filter),
            'workdir': str(tmp_path),
        },
        ansible_environment,
        tmp_path,
    )


def test_registry_faults(registry_plain: Registry, registry_down: Registry, faulty_front: t.Callable[..., t.Any],
                         sample_filter: pathlib.Path, ansible_environment: dict[str, str], tmp_path: pathlib.Path) -> None:
    front = faulty_front(2, match=r'^GET /v2/.*/manifests/', retry_after=1)
    run_target(
        'wasm_image_registry_faults',
        {
            'registry': registry_plain.host,
            'flaky_registry': front.registry.host,
            'down_registry': registry_down.host,
            'sample_filter': str(sample_filter),
            'workdir': str(tmp_path),
        },
        ansible_environment,
        tmp_path,
    )
    assert front.failures == 2
