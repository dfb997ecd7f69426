"""Mutated tiny GGUFs through the runtime, each in its own process with a timeout: every case must
end in success or one clean error line — never a signal, a hang or a traceback."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo_llm.testing import MUTATIONS, mutate, need_llm_extra, write_tiny_llama

need_llm_extra()

CASE_TIMEOUT_S = 120


def run_cases(seeds: range, tmp_path: Path) -> collections.Counter[str]:
    base = write_tiny_llama(tmp_path / "base.gguf").read_bytes()
    outcomes: collections.Counter[str] = collections.Counter()
    failures = []
    for seed in seeds:
        data, what = mutate(base, seed)
        path = tmp_path / f"case{seed}.gguf"
        path.write_bytes(data)
        code = "import sys; from zoo_llm.testing import fuzz_case; sys.exit(fuzz_case(sys.argv[1]))"
        try:
            proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                  timeout=CASE_TIMEOUT_S, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        except subprocess.TimeoutExpired:
            failures.append(f"seed {seed} ({what}): hung")
            continue
        err_lines = [line for line in proc.stderr.splitlines() if line.strip()]
        if proc.returncode == 0 and proc.stdout.strip() == "ok":
            outcomes["loaded"] += 1
        elif proc.returncode == 1 and len(err_lines) == 1 and "Traceback" not in proc.stderr:
            outcomes["crash caught by probe" if "crashed" in err_lines[0] else "refused"] += 1
        else:
            failures.append(f"seed {seed} ({what}): exit {proc.returncode}: {proc.stderr[-400:]}")
        path.unlink()
    assert not failures, "\n".join(failures)
    return outcomes


def test_fuzz_quick(tmp_path: Path) -> None:
    """One case of each mutation kind."""
    outcomes = run_cases(range(len(MUTATIONS)), tmp_path)
    assert sum(outcomes.values()) == len(MUTATIONS)


@pytest.mark.slow
def test_fuzz_100(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = run_cases(range(100, 200), tmp_path)
    assert sum(outcomes.values()) == 100
    with capsys.disabled():
        print(f"\nfuzz over 100 mutated GGUFs: {dict(outcomes)}")
