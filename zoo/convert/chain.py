"""Export as a chain of named steps with explicit inputs and outputs.

Each step is ``step(ctx, inputs) -> StepResult``: it receives the files earlier steps produced by
role ('torchscript', 'param', 'bin'), writes its own files into ``ctx.work_dir`` and returns
them by role with its metadata. The chain writes ``<step>.json`` beside the artifacts; no step
finds a file by a naming convention alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ExportError, ZooError
from zoo.paths import atomic_write_text, sha256_file
from zoo.specs import SINGLE, ComponentSpec, ModelSpec


@dataclass
class ExportContext:
    """What one export step of one component sees."""

    spec: ModelSpec
    role: str
    """The component being exported ('model', 'image', 'text', ...)."""
    precision: str
    """The precision this component is exported in."""
    work_dir: Path
    """Absolute path of the (temporary) export folder."""
    model_factory: Callable[[], Any]
    """Builds the component's torch module with its weights loaded; called at most once."""
    step_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: Callable[[], Iterable[dict[str, np.ndarray]]] | None = None
    """Yields this component's inputs by name, recorded from the task's own predictor."""
    _model: Any = None

    @property
    def component(self) -> ComponentSpec:
        return self.spec.components[self.role]

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self.model_factory()
        return self._model

    def options(self, step: str) -> dict[str, Any]:
        return dict(self.step_options.get(step, {}))

    def path(self, suffix: str) -> Path:
        """A file of this component in the export folder: 'model.ncnn.param', 'text.onnx'."""
        return self.work_dir / f"{self.role}.{suffix}"

    def record_name(self, step: str) -> str:
        """Where a step's record goes: 'pnnx.json' for a one-network model, 'text.pnnx.json' else."""
        return f"{step}.json" if set(self.spec.components) == {SINGLE} else f"{self.role}.{step}.json"


@dataclass(frozen=True)
class StepResult:
    step: str
    outputs: dict[str, Path]
    meta: dict[str, Any]


ExportStep = Callable[[ExportContext, dict[str, Path]], StepResult]


def describe_file(path: Path) -> dict[str, Any]:
    return {"file": path.name, "sha256": sha256_file(path), "size": path.stat().st_size}


def run_chain(
    ctx: ExportContext,
    steps: Sequence[str],
    lookup: Callable[[str], ExportStep],
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Path], list[dict[str, Any]]]:
    """Run ``steps`` in order; return the final files by role and each step's record."""
    available: dict[str, Path] = {}
    records: list[dict[str, Any]] = []
    for name in steps:
        step = lookup(name)
        if progress:
            progress(name)
        started = time.perf_counter()
        try:
            result = step(ctx, dict(available))
        except ZooError:
            raise
        except Exception as err:  # a step's library failing is an export failure, with context
            raise ExportError(
                f"export step {name!r} failed for {ctx.spec.id} ({ctx.role}, {ctx.precision}): "
                f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
            ) from err
        record = {
            "step": name,
            "component": ctx.role,
            "seconds": round(time.perf_counter() - started, 3),
            "inputs": {role: path.name for role, path in available.items()},
            "outputs": {role: describe_file(path) for role, path in result.outputs.items()},
            "meta": result.meta,
        }
        atomic_write_text(ctx.work_dir / ctx.record_name(name), json.dumps(record, indent=2, default=str))
        records.append(record)
        available.update(result.outputs)
    return available, records
