"""The benchmark worker: ``python -m zoo.measure.worker`` reads a ``BenchJob`` (JSON) on stdin
and prints a ``BenchOutcome``.

It runs in a fresh process so that peak RSS and load time belong to the model alone (no torch,
no exporter in memory). It imports the runtime, numpy and the task's pre/post-processing —
exactly what a board imports — and loads the export folders itself, checked like any other load.

What it times comes from the task (``TaskDef.bench_probes``), else two probes: 'model' replays
the network calls one item makes (the networks alone: the card's latency) and 'pipeline' calls
the predictor (pre + networks + post: what a user feels). The task's ``primary_probe`` ('model'
unless the task says otherwise) is timed first, with the load and energy monitors on.
"""

from __future__ import annotations

import datetime as _dt
import resource
import sys
from typing import Any

from zoo.card import Measure
from zoo.tasks import Predictor, Probe


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


def network_calls(predictor: Predictor, item: Any, **options: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(session, inputs) of every network call one predictor call (with ``options``) makes, parts
    included, in order."""
    from zoo.flows.parity import Recorder

    calls: list[tuple[Any, dict[str, Any]]] = []
    wrapped: list[tuple[Predictor, str, Any]] = []

    def wrap(p: Predictor) -> None:
        for role, session in list(p.sessions.items()):
            rec = Recorder(session)
            wrapped.append((p, role, session))
            p.sessions[role] = rec
        for part in p.parts.values():
            wrap(part)

    wrap(predictor)
    try:
        predictor(item, **options)
    finally:
        for p, role, session in wrapped:
            rec = p.sessions[role]
            calls += [(session, inputs) for inputs, _ in rec.calls]  # type: ignore[attr-defined]
            p.sessions[role] = session
    predictor.reset()
    return calls


def default_probes(predictor: Predictor, item: Any) -> list[Probe]:
    calls = network_calls(predictor, item)

    def model() -> None:
        for session, inputs in calls:
            session.run(inputs)

    n = len(calls)
    shapes = input_shapes(calls)
    return [
        Probe("model", model, f"the networks alone ({n} call{'s' if n != 1 else ''} per item)", input_shapes=shapes),
        Probe("pipeline", lambda: predictor(item), "pre-processing + networks + post-processing per item",
              input_shapes=shapes),
    ]  # fmt: skip


def input_shapes(calls: list[tuple[Any, dict[str, Any]]]) -> tuple[tuple[int, ...], ...]:
    """The shape of every array the recorded calls feed, in order."""
    return tuple(tuple(int(d) for d in getattr(a, "shape", ())) for _, inputs in calls for a in inputs.values())


def bench_item(predictor: Predictor) -> Any:
    task = predictor.task
    if task.parity_items is not None:
        return task.parity_items(predictor.spec)[0]
    from zoo.images import sample_images

    return sample_images(1)[0]


def run(job: Any) -> Any:
    import time

    from zoo.flows.bench import BenchOutcome
    from zoo.flows.run import load
    from zoo.measure.host import LoadMonitor
    from zoo.measure.timing import time_calls
    from zoo.registry import get_registry

    reg = get_registry()
    t0 = time.perf_counter_ns()
    predictor = load(job.model, job.precision, job.runtime, job.threads, roles=job.roles, exports=job.exports,
                     registry=reg, require_roles=False)  # fmt: skip
    load_ms = (time.perf_counter_ns() - t0) / 1e6
    item = bench_item(predictor)
    task = predictor.task
    probes = task.bench_probes(predictor, item) if task.bench_probes is not None else default_probes(predictor, item)
    main = task.primary_probe
    if main not in [p.name for p in probes]:
        from zoo.errors import PluginError

        raise PluginError(
            f"the {task.name} task's bench probes ({', '.join(p.name for p in probes)}) have no {main!r}, "
            "its primary_probe — a bug in the task's plugin"
        )
    if not job.pipeline:
        probes = [p for p in probes if p.name != "pipeline" or p.name == main]
    probes = sorted(probes, key=lambda p: p.name != main)  # the primary first: the others follow its run count
    meter, energy_reason = _energy(reg.power_meters)
    measures: dict[str, Measure] = {}
    joules = other_load = None
    model_runs = 30
    for probe in probes:
        primary = probe.name == main
        for _ in range(job.warmup if probe.warmup is None else min(job.warmup, probe.warmup)):
            probe.fn()
        predictor.reset()
        monitor = LoadMonitor()
        if primary:
            monitor.start()
            if meter is not None:
                meter.start()
        # --runs, else the probe's own count, else: the primary adapts (≥30 runs, ≥2 s) and the
        # others take as many, 10 to 50.
        runs = job.runs or probe.runs or (None if primary else max(10, min(model_runs, 50)))
        samples = time_calls(probe.fn, runs=runs, warmup=0)
        if primary:
            model_runs = len(samples.ns)
            joules = meter.stop() / len(samples.ns) if meter is not None else None
            other_load = monitor.stop()
        measures[probe.name] = Measure(latency=samples.latency(), items=probe.items, unit=probe.unit,
                                       description=probe.description,
                                       input_shapes=[list(s) for s in probe.input_shapes])  # fmt: skip
    predictor.close()
    return BenchOutcome(
        measures=measures,
        primary=main,
        load_ms=load_ms,
        peak_rss_mb=peak_rss_kb() / 1024.0,
        other_load=other_load,
        energy_j=joules,
        energy_reason=energy_reason,
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def main() -> None:
    from zoo.errors import ZooError
    from zoo.flows.bench import BenchJob

    try:
        job = BenchJob.model_validate_json(sys.stdin.read())
        print(run(job).model_dump_json())
    except ZooError as err:
        print(f"zoo: error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
