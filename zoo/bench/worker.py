"""The benchmark worker: ``python -m zoo.bench.worker`` reads a job as JSON on stdin.

It runs in a fresh process so that peak RSS and load time belong to the model alone (no torch,
no exporter in memory). It imports ncnn, numpy and, for pipeline timing, the task plugin's
pre/post-processing — exactly what a Pi-side deployment imports.
"""

from __future__ import annotations

import datetime as _dt
import json
import resource
import sys
import time
from typing import Any

import numpy as np


def _energy(meters: dict[str, Any]) -> tuple[Any, str | None]:
    reasons = []
    for name, owned in meters.items():
        meter = owned.value()
        why = meter.available()
        if why is None:
            return meter, None
        reasons.append(f"{name}: {why}")
    return None, "; ".join(reasons) or "no power meter registered"


def peak_rss_kb() -> float:
    """This process's peak resident set size, in KiB.

    Linux: ``VmHWM`` from /proc/self/status, the high-water mark of the current address space.
    Not ``ru_maxrss``: Linux carries it across exec, so a worker forked from a parent that had
    torch loaded would report the parent's peak, not its own. Elsewhere ``ru_maxrss`` (bytes on
    macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform == "darwin" else float(peak)


def run(job: dict[str, Any]) -> dict[str, Any]:
    from zoo.bench.host import LoadMonitor
    from zoo.bench.timing import time_calls
    from zoo.registry import get_registry
    from zoo.runtime.ncnn_session import NcnnSession

    t0 = time.perf_counter_ns()
    session = NcnnSession(job["param"], job["bin"], threads=job["threads"], options=job["options"])
    load_ms = (time.perf_counter_ns() - t0) / 1e6

    reg = get_registry()
    spec = reg.get(job["model"])
    task = reg.task(spec.task)
    from zoo.images import sample_images

    image = sample_images(1)[0]
    tensor, context = task.preprocess(image, spec.pre)
    feed = {job["input"]: tensor}

    for _ in range(job["warmup"]):
        session.run(feed)
    meter, energy_reason = _energy(reg.power_meters)
    monitor = LoadMonitor()
    monitor.start()
    if meter is not None:
        meter.start()
    samples = time_calls(lambda: session.run(feed), runs=job["runs"], warmup=0)
    joules = meter.stop() if meter is not None else None
    other_load = monitor.stop()

    pipeline_ns: list[int] = []
    if job.get("pipeline"):

        def full() -> object:
            x, ctx = task.preprocess(image, spec.pre)
            return task.postprocess(session.run({job["input"]: x}), ctx, spec, dict(task.run_options))

        runs = job["runs"] or max(10, min(len(samples.ns), 50))
        pipeline_ns = time_calls(full, runs=runs, warmup=2).ns

    rss_kb = peak_rss_kb()
    return {
        "samples_ns": samples.ns,
        "pipeline_ns": pipeline_ns,
        "load_ms": load_ms,
        "peak_rss_mb": rss_kb / 1024.0,
        "other_load": other_load,
        "energy_j": None if joules is None else joules / len(samples.ns),
        "energy_reason": energy_reason,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "check": float(np.asarray(next(iter(session.run(feed).values()))).sum()),
    }


def main() -> None:
    job = json.loads(sys.stdin.read())
    json.dump(run(job), sys.stdout)


if __name__ == "__main__":
    main()
