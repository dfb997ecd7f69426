"""A third-party plugin package, pip-installed into a temporary environment, shows up in zoo list.

This is the real entry-point path: a package with ``[project.entry-points.zoo]`` and nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "zoo-acme-models"
version = "1.2.3"

[project.entry-points.zoo]
acme = "zoo_acme.plugin"

[tool.setuptools]
packages = ["zoo_acme"]
"""

PLUGIN_MODULE = """
from zoo import hookimpl
from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec


@hookimpl
def register_models(register):
    register(ModelSpec(
        id="acme-net", task="classifier", aliases=("acme",), description="Acme's tiny classifier",
        inputs=(TensorSpec(name="in0", shape=(1, 3, 96, 96)),),
        pre=PreSpec(kind="resize", size=(96, 96)), post=PostSpec(decoder="topk"),
    ))
"""


@pytest.mark.slow
def test_pip_installed_plugin_appears_in_zoo_list(tmp_path: Path) -> None:
    pkg = tmp_path / "zoo-acme-models"
    (pkg / "zoo_acme").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (pkg / "zoo_acme" / "__init__.py").write_text("")
    (pkg / "zoo_acme" / "plugin.py").write_text(textwrap.dedent(PLUGIN_MODULE))

    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    env_python = env_dir / "bin" / "python"
    # The temporary environment sees zoo and its dependencies through a .pth file (as if they were
    # installed there), and gets the third-party package by a real pip install.
    site = subprocess.run(
        [str(env_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host_site = sysconfig.get_paths()["purelib"]
    Path(site, "zoo-host.pth").write_text(f"import site; site.addsitedir({host_site!r})\n")
    subprocess.run(
        [str(env_python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(pkg)],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {**os.environ, "ZOO_CACHE": str(tmp_path / "cache")}
    env.pop("ZOO_PLUGINS", None)
    listed = subprocess.run(
        [str(env_python), "-m", "zoo.cli", "list", "--json"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows["acme-net"]["plugin"] == "acme" and rows["acme-net"]["aliases"] == ["acme"]
    assert "resnet18" in rows  # first-party plugins still there
    plugins = json.loads(
        subprocess.run(
            [str(env_python), "-m", "zoo.cli", "plugins", "--json"], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    acme = next(p for p in plugins["plugins"] if p["name"] == "acme")
    assert acme["distribution"] == "zoo-acme-models" and acme["version"] == "1.2.3" and acme["models"] == ["acme-net"]
    # The host environment, where the package is not installed, does not see it.
    host = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "list", "--json"], capture_output=True, text=True, env=env, check=True
    )
    assert "acme-net" not in host.stdout
