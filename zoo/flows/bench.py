"""``zoo bench``: time exports in a fresh worker process per thread count, write the cards.

The worker (``python -m zoo.measure.worker``) gets a typed ``BenchJob`` and loads the export
folders itself, so peak RSS and load time are the model's alone, with only the runtime, numpy
and the task's pre/post imported — what a board runs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from zoo.card import BenchResult, ComponentInfo, Measure, ModelCard, Stability
from zoo.errors import ConfigError, InputError, ZooError
from zoo.flows.artifacts import ExportResult, Progress, ensure_export, open_export
from zoo.flows.cards import fill_from_manifest, find_or_new_card, save_card
from zoo.registry import Registry, get_registry
from zoo.specs import ModelSpec

UNSTABLE_CV = 0.15
UNSTABLE_LOAD = 0.25


class BenchJob(BaseModel):
    """What one worker process measures."""

    model_config = ConfigDict(extra="forbid")

    model: str
    runtime: str
    precision: str
    threads: int = Field(ge=1)
    runs: int | None = Field(None, description="Timed runs per probe; None: adaptive (≥30 runs and ≥2 s).")
    warmup: int = Field(5, ge=0)
    pipeline: bool = True
    exports: dict[str, str] = Field(description="Model id → export folder, for the model and every part.")
    roles: dict[str, str] = Field(default_factory=dict, description="Role → model id filling it.")


class BenchOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    measures: dict[str, Measure]
    primary: str = Field("model", description="The probe behind the card's latency and FPS (the task's).")
    load_ms: float
    peak_rss_mb: float
    other_load: float | None
    energy_j: float | None
    energy_reason: str | None
    date: str


def run_worker(job: BenchJob) -> BenchOutcome:
    """Run ``job`` in a fresh Python process; one line naming the model on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "zoo.measure.worker"],
        input=job.model_dump_json(),
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if proc.returncode != 0:
        lines = (proc.stderr or "").strip().splitlines()
        last = next((line for line in reversed(lines) if line.startswith("zoo: error: ")), lines[-1] if lines else "")
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else last.removeprefix("zoo: error: ")
        raise ZooError(
            f"benchmark worker failed for {job.model} ({job.runtime} {job.precision}, {job.threads} threads): "
            f"{how or 'no output'}"
        )
    return BenchOutcome.model_validate_json(proc.stdout)


def stability(latency_cv: float, p90_over_median: float, other_load: float | None) -> Stability:
    reasons = []
    if latency_cv > UNSTABLE_CV:
        reasons.append(f"high spread (cv {latency_cv:.0%})")
    if p90_over_median > 1.5:
        reasons.append(f"long tail (p90 {p90_over_median:.1f}× median)")
    if other_load is not None and other_load > UNSTABLE_LOAD:
        reasons.append(f"other processes used {other_load:.0%} of the CPU")
    return Stability(unstable=bool(reasons), reasons=reasons, cv=latency_cv, other_cpu_load=other_load)


def check_request(spec: ModelSpec, precisions: Sequence[str], runtimes: Sequence[str], threads: Sequence[int],
                  registry: Registry) -> None:  # fmt: skip
    """Everything that can be refused is refused before any export or timing starts."""
    if not precisions or not runtimes or not threads:
        raise InputError("nothing to benchmark: give at least one --dtype, --runtime and --threads value")
    if any(t < 1 for t in threads):
        raise InputError("--threads takes positive integers, e.g. --threads 1,4")
    for runtime in runtimes:
        registry.runtime(runtime)
        for precision in precisions:
            reason = spec.unsupported_reason(precision, runtime)
            if reason:
                raise ConfigError(reason)


def bench(
    name: str,
    precisions: Sequence[str] | None = None,
    threads: Sequence[int] | None = None,
    runtimes: Sequence[str] | None = None,
    runs: int | None = None,
    warmup: int = 5,
    weights: str | None = None,
    calib: str | Path | None = None,
    pipeline: bool = True,
    roles: Mapping[str, str] | None = None,
    artifacts: str | Path | None = None,
    cards_root: Path | None = None,
    registry: Registry | None = None,
    progress: Progress | None = None,
    command: str | None = None,
) -> list[ModelCard]:
    """Benchmark ``name`` for every runtime × precision × thread count; one card per runtime ×
    precision (default: the model's own, ``ModelSpec.default_precision``). ``artifacts`` benchmarks
    that export folder (no torch, no export) instead."""
    from zoo.flows.run import default_threads

    reg = registry or get_registry()
    spec = reg.get(name)
    threads = list(threads or [default_threads()])
    if artifacts is not None:
        exp = open_export(artifacts, spec, registry=reg)
        runtimes, precisions = [exp.manifest.runtime], [exp.manifest.precision]
    runtimes = list(runtimes or [default_runtime(spec, reg, roles)])
    precisions = list(precisions or [spec.default_precision(runtimes[0])])
    check_request(spec, precisions, runtimes, threads, reg)
    from zoo.flows.run import check_roles

    check_roles(spec, roles or {}, False, reg)  # a wrong --ROLE fails before any export
    cards = []
    for runtime in runtimes:
        for precision in precisions:
            exports: dict[str, ExportResult] = {}
            if artifacts is not None:
                exports[spec.id] = exp
            elif not spec.is_solution:
                exports[spec.id] = ensure_export(
                    spec.id, precision, runtime, weights, calib, registry=reg, progress=progress
                )
            chosen = _roles(spec, roles or {})
            for model_id in chosen.values():
                part = reg.get(model_id)
                part_precision = precision if precision in part.precisions(runtime) else part.default_precision()
                part_runtime = runtime if precision in part.precisions(runtime) else part.runtime
                exports[model_id] = ensure_export(model_id, part_precision, part_runtime,
                                                  "random" if weights == "random" else None, registry=reg,
                                                  progress=progress)  # fmt: skip
            cards.append(
                bench_exports(
                    spec,
                    runtime,
                    precision,
                    exports,
                    chosen,
                    threads,
                    runs,
                    warmup,
                    pipeline,
                    cards_root,
                    reg,
                    progress,
                    command=command or reproduce(spec.id, runtime, precision, threads, weights, chosen, artifacts, runs),
                )
            )
    return cards


def default_runtime(spec: ModelSpec, registry: Registry, roles: Mapping[str, str] | None = None) -> str:
    """A model's own runtime; a solution's is its first role's model's, the one given for that
    role (``--detector MODEL``) or else its default (its parts run there)."""
    if spec.is_solution:
        given = roles or {}
        first = next((given.get(role) or need.default for role, need in spec.roles.items()
                      if given.get(role) or need.default), None)  # fmt: skip
        if first is not None:
            return registry.get(first).runtime
    return spec.runtime


def _roles(spec: ModelSpec, given: Mapping[str, str]) -> dict[str, str]:
    """Role → model id for the roles that are filled (given, else the default); a model's
    required roles with no default stay empty in a benchmark (its own networks are timed)."""
    unknown = [r for r in given if r not in spec.roles]
    if unknown:
        raise InputError(f"{spec.id} has no {unknown[0]!r} role")
    out = {}
    for role, need in spec.roles.items():
        choice = given.get(role) or need.default
        if choice is not None:
            out[role] = choice
    return out


def bench_exports(
    spec: ModelSpec,
    runtime: str,
    precision: str,
    exports: Mapping[str, ExportResult],
    roles: Mapping[str, str],
    threads: Sequence[int],
    runs: int | None = None,
    warmup: int = 5,
    pipeline: bool = True,
    cards_root: Path | None = None,
    registry: Registry | None = None,
    progress: Progress | None = None,
    card_model: str | None = None,
    command: str | None = None,
) -> ModelCard:
    """Time the given export folders at each thread count; merge the results into the card."""
    reg = registry or get_registry()
    if any(t < 1 for t in threads):
        raise InputError("--threads takes positive integers, e.g. --threads 1,4")
    rt = reg.runtime(runtime, usable=False)
    card = find_or_new_card(spec, runtime, precision, cards_root, card_model=card_model)
    own = exports.get(spec.id)
    comments = []
    if own is not None:
        m = own.manifest
        fill_from_manifest(card, m, rt.version())
        if m.weights.random:
            comments.append("random weights (seed 0): latency only")
        elif not card.accuracy and reg.task(spec.task).evaluator is None:
            card.accuracy_reason = f"no evaluation run: zoo has no {spec.task} evaluator yet"
        if m.extra.get("int8_method"):
            comments.append(f"int8 {m.extra.get('int8_method')} calibrated on {m.extra.get('calibration')}")
        if "compression" in m.extra:
            comp = m.extra["compression"]
            comments.append(
                f"compressed: {comp['method']} {comp['options']}, est. {comp['compression_ratio']:.1f}× smaller"
            )
    else:  # a solution: its numbers are its parts', its input its first part's (the frame it is given)
        card.runtime, card.runtime_version = runtime, rt.version()
        first = next(iter(roles.values()), None)
        if first is not None:
            card.input_resolution = reg.get(first).input_resolution
        card.params = sum(exports[m].manifest.params or 0 for m in roles.values()) or None
        card.macs = sum(exports[m].manifest.macs or 0 for m in roles.values()) or None
        card.gflops = None if card.macs is None else round(2 * card.macs / 1e9, 3)
        randoms = [exports[m].manifest.weights.random for m in roles.values()]
        if any(randoms):
            card.accuracy, card.accuracy_reason = [], "random weights"
            comments.append(
                "random weights (seed 0) in " + ", ".join(m for m, r in zip(roles.values(), randoms, strict=True) if r)
            )
        card.parity_reason = "a solution: parity is measured per component model (see their cards)"
    for role, model_id in roles.items():
        part = exports[model_id].manifest
        card.components[role] = ComponentInfo(model=model_id, precision=part.precision, runtime=part.runtime,
                                              input=reg.get(model_id).input_resolution, params=part.params,
                                              macs=part.macs)  # fmt: skip
    if roles:
        comments.append("with " + ", ".join(f"{role} {m}" for role, m in roles.items()))
    card.comments = comments
    card.command = command
    for t in threads:
        if progress:
            progress(f"{runtime} {precision} × {t} thread{'s' if t > 1 else ''}")
        job = BenchJob(
            model=spec.id,
            runtime=runtime,
            precision=precision,
            threads=t,
            runs=runs,
            warmup=warmup,
            pipeline=pipeline,
            exports={mid: str(e.folder) for mid, e in exports.items()},
            roles=dict(roles),
        )
        out = run_worker(job)
        model = out.measures[out.primary]
        lat = model.latency
        card.merge_result(
            BenchResult(
                threads=t,
                primary_probe=out.primary,
                latency=lat,
                fps=model.throughput,
                pipeline_latency=out.measures["pipeline"].latency if "pipeline" in out.measures else None,
                measures=out.measures,
                stability=stability(
                    lat.stdev_ms / lat.mean_ms if lat.mean_ms else 0.0, lat.p90_ms / lat.median_ms, out.other_load
                ),  # fmt: skip
                peak_rss_mb=out.peak_rss_mb,
                load_time_ms=out.load_ms,
                energy_j_per_inference=out.energy_j,
                energy_reason=out.energy_reason,
                date=out.date,
            )
        )
    save_card(card, cards_root, reg)
    return card


def reproduce(
    model: str,
    runtime: str,
    precision: str,
    threads: Sequence[int],
    weights: str | None,
    roles: Mapping[str, str],
    artifacts: str | Path | None,
    runs: int | None,
) -> str:
    """The command that measures the same thing again (for the card): every choice spelled out."""
    args = ["zoo", "bench", model, "--runtime", runtime, "--dtype", precision, "--threads", ",".join(map(str, threads))]
    if weights is not None:
        args += ["--weights", weights]
    if artifacts is not None:
        args += ["--artifacts", str(artifacts)]
    if runs is not None:
        args += ["--runs", str(runs)]
    for role, model_id in roles.items():
        args += [f"--{role.replace('_', '-')}", model_id]
    return " ".join(shlex.quote(a) for a in args)
