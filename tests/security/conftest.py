"""Hostile input: every test gets its own cache and cards folder, and helpers to run zoo as a
user would (a subprocess) and to check that an error is one clean line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo import registry

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def zoo_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``zoo ARGS`` in a fresh process (cwd and env as given), as a user would."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, **env}
        return subprocess.run(
            [sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True, cwd=cwd or tmp_path,
            env=full, timeout=timeout,
        )  # fmt: skip

    return run


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single 'zoo: error:' line of a failed run (and nothing else on stderr)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode > 0, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("zoo: error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
