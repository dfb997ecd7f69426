"""The public Python API, a thin facade over ``zoo.flows``: list, info, pull, export, load,
bench, evaluate, compress, verify_arm, int8_sensitivity. The CLI is a thin layer over these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ConfigError
from zoo.flows.artifacts import ensure_export, open_export, resolve_weights
from zoo.flows.compress import compress
from zoo.flows.run import stream
from zoo.flows.sensitivity import int8_sensitivity
from zoo.flows.verify import verify_arm
from zoo.registry import Registry, get_registry
from zoo.specs import ModelSpec
from zoo.tasks import Predictor

__all__ = [
    "bench",
    "compress",
    "ensure_export",
    "evaluate",
    "export",
    "info",
    "int8_sensitivity",
    "list_models",
    "load",
    "open_export",
    "pull",
    "resolve_weights",
    "stream",
    "verify_arm",
]


def load(
    name: str,
    dtype: str | None = None,
    threads: int | None = None,
    weights: str | None = None,
    artifacts: str | Path | None = None,
    runtime: str | None = None,
    roles: dict[str, str] | None = None,
    **kwargs: Any,
) -> Predictor:
    """A ready predictor: ``zoo.load("yolov8n", dtype="int8")(image) -> Detections``.

    ``dtype`` is the precision (fp32, fp16, int8, or a GGUF type); ``artifacts`` an export folder
    (no torch needed); ``roles`` the models it runs with (``{"detector": "yolov8n"}``)."""
    from zoo.flows.run import load as load_flow

    return load_flow(name, dtype, runtime, threads, weights, artifacts=artifacts, roles=roles, **kwargs)


def export(name: str, dtype: str | None = None, **kwargs: Any) -> Any:
    """PyTorch → TorchScript → PNNX → ncnn (or → ONNX with ``runtime="onnxruntime"``); the folder
    and its manifest (``.folder``, ``.manifest``)."""
    from zoo.flows.export import export as export_flow

    if dtype is None:
        spec = (kwargs.get("registry") or get_registry()).get(name)
        dtype = spec.default_precision(kwargs.get("runtime"))
    return export_flow(name, dtype, **kwargs)


def bench(name: str, dtypes: Any = None, threads: Any = None, **kwargs: Any) -> list[Any]:
    """Benchmark every runtime × dtype × thread count; one ModelCard per runtime × dtype (default
    dtype: the model's own, fp32 or its first prebuilt artifact)."""
    from zoo.flows.bench import bench as bench_flow

    return bench_flow(name, list(dtypes) if dtypes else None, threads, **kwargs)


def evaluate(name: str, data: str | Path, dtype: str | None = None, **kwargs: Any) -> Any:
    """Accuracy on a labelled dataset through the model's task evaluator, into its card."""
    from zoo.flows.eval import evaluate as evaluate_flow

    return evaluate_flow(name, data, dtype, **kwargs)


def list_models(task: str | None = None, registry: Registry | None = None) -> list[ModelSpec]:
    return (registry or get_registry()).list(task)


def info(name: str, registry: Registry | None = None) -> dict[str, Any]:
    """Spec, what it can run as (runtime → precision → 'supported' or why not), and its cards."""
    from zoo.card import load_cards

    reg = registry or get_registry()
    spec = reg.get(name)
    cards = [c for c in load_cards() if c.model == spec.id]
    runtimes: dict[str, dict[str, str]] = {}
    for runtime in spec.runtimes() or [spec.runtime]:
        why_not = reg.runtime(runtime, usable=False).unavailable_reason() if runtime in reg.runtimes else (
            f"no runtime {runtime!r} is registered")  # fmt: skip
        runtimes[runtime] = {p: why_not or spec.unsupported_reason(p, runtime) or "supported"
                             for p in spec.precisions(runtime)}  # fmt: skip
    return {
        "spec": spec.model_dump(mode="json"),
        "runtimes": runtimes,
        "dtypes": runtimes.get(spec.runtime, {}),
        "int8_method": spec.int8_method,
        "task": {"name": spec.task, "options": [o.name for o in reg.task(spec.task).options]},
        "cards": [c.model_dump(mode="json") for c in cards],
    }


def is_repo_uri(name: str) -> bool:
    """hf://ORG/REPO[@REV] (a repository of zoo exports), not hf://ORG/REPO/FILE (a model file)."""
    return name.startswith("hf://") and name.removeprefix("hf://").split("@", 1)[0].strip("/").count("/") == 1


def pull(name: str, offline: bool = False, registry: Registry | None = None, progress: Any = None) -> Path:
    """Fetch the model's source weights (or its prebuilt artifact) into the cache, sha256-verified;
    return the local path. ``hf://ORG/REPO[@REV]`` fetches the exports pushed there instead
    (``pull_exports``) and returns the first one's folder."""
    from zoo.flows.artifacts import materialize_artifact
    from zoo.sources import fetch

    if is_repo_uri(name):
        from zoo.flows.hub import pull_exports

        return pull_exports(name, registry, offline)[0].folder

    spec = (registry or get_registry()).get(name)  # hf://ORG/REPO/FILE: a plugin's resolve_model
    if spec.weights is not None:
        return fetch(spec.weights, offline=offline, progress=progress)
    if spec.artifacts:
        precision = next(iter(spec.artifacts))
        return materialize_artifact(spec, precision, offline=offline, registry=registry, progress=progress).folder
    if spec.is_solution:
        raise ConfigError(f"{spec.id} is a solution; pull its models: " + ", ".join(
            r.default for r in spec.roles.values() if r.default))  # fmt: skip
    raise ConfigError(f"{spec.id} has no published weights in registry.yaml; use --weights random with export/bench")
