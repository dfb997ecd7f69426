"""The bench worker's peak RSS is its own, not the high-water mark of the process that started it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_worker_peak_rss_ignores_the_parents_peak() -> None:
    ballast = np.ones(400 * 2**20 // 8)  # 400 MiB resident in this (parent) process
    code = "from zoo.measure.worker import peak_rss_kb; print(peak_rss_kb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    child_mb = float(out.stdout) / 1024
    assert 5 < child_mb < 200, child_mb  # python + numpy + zoo.measure.worker; far below the ballast
    assert ballast[-1] == 1.0
