"""``zoo eval``: a model's accuracy on a labelled dataset through its task's evaluator, into the card."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zoo.card import Metric
from zoo.errors import ConfigError, InputError
from zoo.flows.artifacts import RANDOM
from zoo.registry import Registry, get_registry


class EvalReport(BaseModel):
    """What ``zoo eval`` prints; ``metrics`` fill the card's accuracy column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    runtime: str
    precision: str
    threads: int
    weights: str = Field(description="Checkpoint path/URI the export came from, or 'random'.")
    data: str = Field(description="The --data argument as given.")
    metrics: list[Metric]
    facts: dict[str, Any] = Field(description="How it was measured: library, counts, thresholds, timings.")
    limit: int | None = None
    load_ms: float = Field(description="Loading the predictor (exporting first when not cached).")
    total_s: float = Field(description="Wall time of the whole evaluation, dataset reading included.")
    date: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))


def evaluate(
    name: str,
    data: str | Path,
    precision: str | None = None,
    runtime: str | None = None,
    weights: str | None = None,
    threads: int | None = None,
    limit: int | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    artifacts: str | Path | None = None,
    roles: Mapping[str, str] | None = None,
    dataset_name: str | None = None,
    results_file: Path | None = None,
    allow_random: bool = False,
    write_card: bool = True,
    cards_root: Path | None = None,
    registry: Registry | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Score ``name`` on ``data`` with its task's evaluator; write the metrics into its card.

    Random weights are refused (their accuracy means nothing) unless ``allow_random``; then the
    card says so and the Hub card gets no model-index."""
    from zoo.flows.cards import update_card
    from zoo.flows.run import export_of, load

    started = time.perf_counter()
    reg = registry or get_registry()
    spec = reg.get(name)
    task = reg.task(spec.task)
    if task.evaluator is None:
        raise ConfigError(f"the {task.name} task has no evaluator, so {spec.id} cannot be scored with zoo eval")
    if weights == RANDOM and not allow_random:
        raise ConfigError(
            f"{spec.id}: accuracy of random weights means nothing; pass --weights PATH to a trained checkpoint"
        )
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be a positive integer, got {threads}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be a positive number of items, got {limit}")
    opts = task.resolve_options(options or {})
    dataset = task.evaluator.load(Path(data), limit=limit, name=dataset_name)  # bad data fails before any export
    t0 = time.perf_counter()
    predictor = load(spec.id, precision, runtime, threads, weights, artifacts=artifacts, roles=roles, registry=reg,
                     require_roles=False)  # fmt: skip
    load_ms = (time.perf_counter() - t0) * 1e3
    try:
        outcome = task.evaluator.evaluate(
            dataset, predictor, options=opts, results_file=results_file, progress=progress
        )
    finally:
        predictor.close()
    exp = predictor.export
    shown = export_of(predictor)  # a solution has no export of its own: it runs where its parts run
    random = bool(shown is not None and shown.manifest.weights.random)
    report = EvalReport(
        model=spec.id,
        runtime=shown.manifest.runtime if shown else (runtime or spec.runtime),
        precision=shown.manifest.precision if shown else (precision or "fp32"),
        threads=threads or 0,
        weights=shown.manifest.weights.source if shown else (weights or "registry"),
        data=str(data),
        metrics=outcome.metrics,
        facts=outcome.facts,
        limit=limit,
        load_ms=load_ms,
        total_s=time.perf_counter() - started,
    )
    if write_card:
        card_fields: dict[str, Any] = {
            "accuracy": report.metrics,
            "accuracy_reason": "random weights: the metric is measured but not meaningful" if random else None,
        }
        from zoo.flows.cards import find_or_new_card

        card = find_or_new_card(spec, report.runtime, report.precision, cards_root)
        card_fields["extra"] = {**card.extra, "eval": {"data": report.data, **outcome.facts}}
        update_card(spec, report.runtime, report.precision, exp.manifest if exp else None, cards_root, reg,
                    **card_fields)  # fmt: skip
    return report


def card_folder(report: EvalReport, cards_root: Path | None = None, registry: Registry | None = None) -> Path:
    from zoo.flows.cards import find_or_new_card

    reg = registry or get_registry()
    return find_or_new_card(reg.get(report.model), report.runtime, report.precision, cards_root).path(cards_root)
