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


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Install a third-party plugin package from source text: ``install_plugin("npy", SOURCE)`` writes
    ``zoo_npy/plugin.py`` and a ``zoo-npy`` dist-info with a ``zoo`` entry point under tmp, on
    sys.path and PYTHONPATH (so subprocesses and the bench worker find it too), and resets the
    registry so it is loaded; everything is undone after the test. Returns the site folder."""
    import os
    import sys

    from zoo import registry

    installed: list[str] = []

    def install(name: str, source: str) -> Path:
        site = tmp_path / "site"
        (site / f"zoo_{name}").mkdir(parents=True)
        (site / f"zoo_{name}" / "__init__.py").write_text("")
        (site / f"zoo_{name}" / "plugin.py").write_text(source)
        dist = site / f"zoo_{name}-0.1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zoo-{name}\nVersion: 0.1.0\n")
        (dist / "entry_points.txt").write_text(f"[zoo]\n{name} = zoo_{name}.plugin\n")
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
        monkeypatch.delenv("ZOO_PLUGINS", raising=False)
        installed.append(name)
        registry.reset()
        return site

    yield install
    registry.reset()
    for name in installed:
        sys.modules.pop(f"zoo_{name}.plugin", None)
        sys.modules.pop(f"zoo_{name}", None)
