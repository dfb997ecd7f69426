"""Timing that follows the best harnesses: perf_counter_ns, warm-up, enough runs, percentiles."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from zoo.card import Latency

DEFAULT_WARMUP = 5
MIN_RUNS = 30
MIN_SECONDS = 2.0
MAX_RUNS = 1000


@dataclass(frozen=True)
class Samples:
    ns: list[int]
    warmup: int

    def latency(self) -> Latency:
        return summarize(self.ns, self.warmup)


def time_calls(fn: Callable[[], object], runs: int | None = None, warmup: int = DEFAULT_WARMUP) -> Samples:
    """Call ``fn`` ``warmup`` times untimed, then time it.

    With ``runs=None`` the count adapts: at least MIN_RUNS calls and MIN_SECONDS of timing (so a
    fast model gets enough samples for a stable median and a slow one doesn't take forever),
    capped at MAX_RUNS.
    """
    for _ in range(warmup):
        fn()
    samples: list[int] = []
    started = time.perf_counter_ns()
    while True:
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
        if runs is not None:
            if len(samples) >= runs:
                break
        elif (len(samples) >= MIN_RUNS and time.perf_counter_ns() - started >= MIN_SECONDS * 1e9) or len(
            samples
        ) >= MAX_RUNS:
            break
    return Samples(samples, warmup)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (numpy's default method)."""
    if not sorted_values:
        raise ValueError("no samples")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ns: list[int], warmup: int) -> Latency:
    ms = sorted(s / 1e6 for s in samples_ns)
    return Latency(
        median_ms=statistics.median(ms),
        p90_ms=percentile(ms, 0.9),
        min_ms=ms[0],
        mean_ms=statistics.fmean(ms),
        stdev_ms=statistics.stdev(ms) if len(ms) > 1 else 0.0,
        runs=len(ms),
        warmup=warmup,
    )
