"""``zoo verify --arm``: each artifact through the aarch64 ncnn under qemu (a Pi 5's Cortex-A76),
compared with x86 ncnn on the same inputs, raw outputs and the task's own agreement."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError
from zoo.flows.artifacts import ensure_export, load_sessions
from zoo.flows.parity import ReplaySession, parity_items, run_recorded
from zoo.registry import Registry, get_registry


def verify_arm(
    name: str,
    precisions: Sequence[str] = ("fp32", "fp16", "int8"),
    weights: str | None = None,
    cpu: str = "cortex-a76",
    n_inputs: int = 1,
    ncnn_defaults: bool = False,
    cards_root: Path | None = None,
    registry: Registry | None = None,
) -> dict[str, dict[str, Any]]:
    """x86 ncnn vs emulated-ARM ncnn for each precision's artifact; the result goes into each card.

    Each precision runs with the artifact's own Option flags (what zoo bench runs); with
    ``ncnn_defaults`` also with ncnn's defaults (what a plain ncnn program on the Pi runs: fp16
    arithmetic on a Cortex-A76, several times slower to emulate). The network inputs are the
    ones the task's predictor feeds on the parity photos; ARM's outputs are fed back through the
    same predictor, so the agreement is the task's (top-1, boxes...), not a guess from shapes.
    """
    from zoo.flows.cards import find_or_new_card, update_card
    from zoo.verify.arm import run_both

    reg = registry or get_registry()
    spec = reg.get(name)
    if spec.is_solution:
        raise ConfigError(f"{spec.id} is a solution; verify each of its models")
    task = reg.task(spec.task)
    items = parity_items(reg, spec)[0][: max(1, n_inputs)]
    options = dict(task.parity_options)
    results: dict[str, dict[str, Any]] = {}
    for precision in precisions:
        exp = ensure_export(spec.id, precision, "ncnn", weights, registry=reg)
        sessions = load_sessions(exp, threads=1, registry=reg)
        try:
            _, recorders = run_recorded(reg, spec, sessions, items, options)
        finally:
            for s in sessions.values():
                s.close()
        variants: list[tuple[str, bool]] = [("zoo-options", True)] + (
            [("ncnn-default", False)] if ncnn_defaults else []
        )
        runs: dict[str, Any] = {}
        for label, own_flags in variants:
            x86_replay, arm_replay, per_component = {}, {}, {}
            for role, comp in exp.manifest.components.items():
                files = exp.files(role)
                inputs = [inp for inp, _ in recorders[role].calls]
                flags = {k: bool(v) for k, v in comp.runtime_options.items()} if own_flags else None
                x86, arm, parity = run_both(files["param"], files["bin"], inputs, options=flags, cpu=cpu)
                x86_replay[role] = ReplaySession(x86, recorders[role])
                arm_replay[role] = ReplaySession(arm, recorders[role])
                per_component[role] = parity
            x86_pred, arm_pred = reg.build_predictor(spec, x86_replay), reg.build_predictor(spec, arm_replay)
            ref = [x86_pred(item, **options) for item in items]
            got = [arm_pred(item, **options) for item in items]
            agreement = task.agreement(ref, got)
            main = per_component.get("model") or next(iter(per_component.values()))
            entry = main.model_copy(update={"agreement": agreement}).model_dump(mode="json")
            if len(per_component) > 1:
                entry["components"] = {r: p.model_dump(mode="json") for r, p in per_component.items()}
            runs[label] = entry
        results[precision] = runs
        extra = {**find_or_new_card(spec, "ncnn", precision, cards_root).extra, "arm_parity": runs}
        update_card(spec, "ncnn", precision, exp.manifest, cards_root, reg, extra=extra)
    return results
