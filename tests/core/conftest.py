from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zoo.plugins import ZooPluginManager, new_plugin_manager
from zoo.registry import Registry


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own cache and cards folder, and a fresh global registry."""
    from zoo import registry

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def make_registry() -> Callable[..., Registry]:
    """Build a registry from the built-in plugin plus the given plugin objects (no entry points)."""

    def build(*plugins: tuple[str, Any], registry_path: Path | None = None) -> Registry:
        zpm: ZooPluginManager = new_plugin_manager(autoload=False)
        for name, plugin in plugins:
            zpm.pm.register(plugin, name=name)
        return Registry.build(zpm, registry_path)

    return build
