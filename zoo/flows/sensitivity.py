"""``zoo sensitivity``: which layers lose most in int8, to choose ``--keep-float``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.flows.artifacts import ensure_export, load_sessions
from zoo.flows.export import calibration_source
from zoo.flows.parity import run_recorded
from zoo.registry import Registry, get_registry
from zoo.specs import SINGLE


def int8_sensitivity(
    name: str,
    weights: str | None = None,
    calib: str | Path | None = None,
    method: str | None = None,
    samples: int | None = 8,
    component: str = SINGLE,
    registry: Registry | None = None,
) -> list[dict[str, Any]]:
    """Output cosine vs fp32 with only one layer of ``component`` quantized, worst first.

    Calibrates on the inputs the task's predictor feeds the fp32 ncnn model (no torch needed
    once the fp32 export exists), like the int8 export."""
    from zoo.convert.int8 import layer_sensitivity
    from zoo.images import load_image

    reg = registry or get_registry()
    spec = reg.get(name)
    if component not in spec.components:
        raise InputError(f"{spec.id} has no component {component!r} (it has: {', '.join(spec.components)})")
    fp32 = ensure_export(spec.id, "fp32", "ncnn", weights, registry=reg)
    items, _ = calibration_source(reg, spec, calib)
    items = [load_image(i) if isinstance(i, Path) else i for i in items]
    sessions = load_sessions(fp32, threads=1, registry=reg)
    try:
        _, recorders = run_recorded(reg, spec, sessions, items, dict(reg.task(spec.task).parity_options))
    finally:
        for s in sessions.values():
            s.close()
    inputs = [inp for inp, _ in recorders[component].calls]
    files = fp32.files(component)
    rows = layer_sensitivity(files["param"], files["bin"], inputs, method=method or spec.int8_method, limit=samples)
    return [r.model_dump() for r in rows]
