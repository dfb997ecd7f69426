"""The plugin manager: built on first use, cached, never at import time.

Plugins are found through the entry-point group ``zoo`` (first-party plugins use it too, exactly
as a third-party package would). Environment switches:

- ``ZOO_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (only the core's built-in steps).
- ``ZOO_PLUGINS=classifier,detector``: load only these entry-point names.

A plugin that fails to import is recorded in ``failures`` (shown by ``zoo plugins``) and skipped;
it never takes ``zoo list`` down.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points

import pluggy

from zoo import hookspecs

GROUP = "zoo"
BUILTIN = "zoo.builtin"


@dataclass(frozen=True)
class PluginFailure:
    name: str
    distribution: str | None
    stage: str
    error: str
    detail: str = ""


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    module: str


@dataclass
class ZooPluginManager:
    pm: pluggy.PluginManager
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def record_failure(self, name: str, stage: str, err: BaseException) -> None:
        dist = self.infos[name].distribution if name in self.infos else None
        self.failures.append(PluginFailure(name, dist, stage, f"{type(err).__name__}: {err}", traceback.format_exc()))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def allow_list() -> set[str] | None:
    raw = os.environ.get("ZOO_PLUGINS")
    if raw is None or not raw.strip():
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def new_plugin_manager(autoload: bool | None = None) -> ZooPluginManager:
    """A fresh manager: the core's built-in plugin plus the allowed entry points."""
    from zoo import builtin

    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    zpm = ZooPluginManager(pm)
    pm.register(builtin, name=BUILTIN)
    zpm.infos[BUILTIN] = PluginInfo(BUILTIN, "zoo", _version("zoo"), builtin.__name__)

    if autoload is None:
        autoload = not _truthy(os.environ.get("ZOO_DISABLE_PLUGIN_AUTOLOAD"))
    if not autoload:
        return zpm
    allowed = allow_list()
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.has_plugin(ep.name):
            continue  # the same distribution seen twice on sys.path
        dist = ep.dist.name if ep.dist else None
        zpm.infos[ep.name] = PluginInfo(ep.name, dist, ep.dist.version if ep.dist else None, ep.value)
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as err:  # a broken plugin must not take the CLI down
            zpm.record_failure(ep.name, "import", err)
            continue
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        zpm.failures.append(PluginFailure(str(err.plugin), None, "validate", str(err)))
    return zpm


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def get_plugin_manager() -> ZooPluginManager:
    """The process-wide manager, built on first call. Tests build their own with new_plugin_manager()."""
    return new_plugin_manager()
