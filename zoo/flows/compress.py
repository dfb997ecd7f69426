"""``zoo compress``: a zoo.compress method on the model, exported through the same chain, with
its own card (``<model>@<method>``) and its fidelity against the uncompressed model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.card import ModelCard
from zoo.flows.artifacts import ExportResult, Progress
from zoo.flows.bench import bench_exports
from zoo.flows.export import export
from zoo.flows.parity import compare_pipelines, record_inputs, torch_sessions
from zoo.registry import Registry, get_registry
from zoo.specs import SINGLE


def compress(
    name: str,
    method: str,
    options: dict[str, Any] | None = None,
    weights: str | None = None,
    precision: str = "fp32",
    threads: Sequence[int] | None = None,
    runs: int | None = None,
    bench_it: bool = True,
    cards_root: Path | None = None,
    registry: Registry | None = None,
    progress: Progress | None = None,
) -> tuple[ExportResult, ModelCard | None]:
    """Compress ``name`` with a zoo.compress method, export it through the same chain, bench it.

    The result is a variant named ``<model>@<method>`` with its own artifacts and card; the
    manifest records the compression report and fidelity against the uncompressed model (task
    agreement and min cosine of the PyTorch outputs on the embedded photos, through the task's
    own predictor).
    """
    from zoo.compress.api import compress as run_compression
    from zoo.compress.api import parse_options
    from zoo.flows.run import default_threads
    from zoo.images import calibration_images, sample_images

    reg = registry or get_registry()
    spec = reg.get(name)
    opts = dict(options or {})
    parse_options(method, {k: v for k, v in opts.items() if k != "calibration"})  # fail before any work
    tag = method + "".join(f"-{k}{v}" for k, v in sorted(opts.items()) if k != "calibration")

    def transform(model: Any) -> tuple[Any, dict[str, Any]]:
        if method == "ptq" and "calibration" not in opts:
            recorded = record_inputs(reg, spec, {SINGLE: model}, calibration_images())[SINGLE]
            opts["calibration"] = [next(iter(inputs.values())) for inputs in recorded]
        compressed, report = run_compression(model, method, **opts)
        compressed.eval()
        parity = compare_pipelines(
            reg,
            spec,
            torch_sessions(spec, {SINGLE: model}),
            torch_sessions(spec, {SINGLE: compressed}),
            sample_images(),
            "uncompressed pytorch model, same weights",
            "embedded sample photos and their mirrors",
            {},
        )
        fidelity = {"reference": parity.reference, "min_cosine": parity.min_cosine, **parity.agreement}
        report_data = report.model_dump(mode="json", exclude={"activation_ranges"})
        return compressed, {"compression": report_data, "compression_fidelity": fidelity}

    exp = export(spec.id, precision, weights=weights, registry=reg, progress=progress, transform=transform, variant=tag)
    card = None
    if bench_it:
        card = bench_exports(spec, exp.manifest.runtime, precision, {spec.id: exp}, {}, threads or [default_threads()],
                             runs, 5, True, cards_root, reg, progress, card_model=f"{spec.id}@{tag}")  # fmt: skip
    return exp, card
