"""The fuzz harness (benchmarks/fuzz.py) in the suite: seeded, bounded, every kind of input.

Every case must end in success or one clean error line: no signal, hang, traceback or messy
error. The counts are printed (run pytest with -s to see them) and written to
``$ZOO_FUZZ_REPORT`` when set.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CASES_PER_KIND = int(os.environ.get("ZOO_FUZZ_CASES", "20"))
SEED = int(os.environ.get("ZOO_FUZZ_SEED", "0"))


def _harness():  # type: ignore[no-untyped-def]
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("zoo_benchmarks_fuzz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fuzzed_inputs_end_in_success_or_one_clean_line(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    fuzz = _harness()
    outcomes = fuzz.fuzz(CASES_PER_KIND, SEED, fuzz.KINDS, 2, tmp_path)
    report = fuzz.report(outcomes, SEED)
    print(json.dumps({k: v for k, v in report.items() if k != "failures"}, indent=2))
    if os.environ.get("ZOO_FUZZ_REPORT"):
        Path(os.environ["ZOO_FUZZ_REPORT"]).write_text(json.dumps(report, indent=2))
    assert report["cases"] == CASES_PER_KIND * len(fuzz.KINDS)
    assert not report["failures"], json.dumps(report["failures"], indent=2)
    assert report["totals"].get("clean", 0) > 0 and report["totals"].get("success", 0) > 0  # both kinds happen
