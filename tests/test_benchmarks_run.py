"""Every script in benchmarks/ starts and prints its usage: what the README's table promises runs
(the measurements themselves are long and machine-dependent: they are run by hand, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))
LIBRARIES = {"digits.py"}  # imported by the others, no command line of its own


@pytest.mark.parametrize("script", [p for p in BENCHMARKS if p.name not in LIBRARIES], ids=lambda p: p.name)
def test_a_benchmark_prints_its_usage(script: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout
