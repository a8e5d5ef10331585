"""A loopback CNCF Distribution registry for benchmarks, and the requests it served (the integration harness's
``AccessLog``, read from its access log)."""

from __future__ import annotations

import dataclasses
import pathlib
import typing as t

from .environment import harness_module

_access_log = harness_module('access_log')
AccessEntry = _access_log.AccessEntry
AccessLog = _access_log.AccessLog

if t.TYPE_CHECKING:
    from harness.registries import Registry, RegistryInstance


@dataclasses.dataclass
class LoopbackRegistry:
    """A plain-HTTP, no-auth Distribution on ``127.0.0.1:<free port>``: ``registry`` (the harness's ``Registry``:
    ``.host``, ``.url``, ``.ref('repo:tag')``), ``access_log``, and ``stop()``."""

    instance: RegistryInstance

    @classmethod
    def start(cls, workdir: pathlib.Path, **options: t.Any) -> LoopbackRegistry:
        """Start it storing under ``workdir``; ``options`` go to the harness's ``start_registry`` (``auth=``,
        ``tls=``, ``username=``, ...). Raises (pytest's ``Failed``) with the log tail when it does not come up."""
        return cls(harness_module('registries').start_registry('plain', workdir, **options))

    @property
    def registry(self) -> Registry:
        return self.instance.registry

    @property
    def host(self) -> str:
        return self.instance.registry.host

    @property
    def access_log(self) -> AccessLog:
        return AccessLog(self.instance.log_path)

    def stop(self) -> None:
        self.instance.stop()
