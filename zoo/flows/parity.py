"""Parity: the same predictor run on PyTorch modules and on runtime sessions, compared strictly.

The task's own predictor runs both sides, so whatever it does between network calls (crops per
person, a text tower per label) happens identically. Every network call is recorded; calls are
paired in order and outputs compared by name: a missing, extra or differently shaped output is an
error, never a silent mismatch. Task-level agreement comes from ``TaskDef.agreement`` on the two
sides' results. The same recording gives int8 calibration its inputs (``record_inputs``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.card import Parity
from zoo.errors import ExportError, PluginError
from zoo.numerics import cosine
from zoo.registry import Registry
from zoo.specs import ComponentSpec, ModelSpec


class TorchSession:
    """A torch module behind the TensorSession protocol: inputs by the component's input names
    (positional in that order), outputs named by the component's outputs (pnnx: out0, out1...)."""

    def __init__(self, module: Any, component: ComponentSpec) -> None:
        self.module, self.component = module, component
        self.input_names = [t.name for t in component.inputs]
        self.output_names = [t.name for t in component.outputs]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        missing = [n for n in self.input_names if n not in inputs]
        if missing or len(inputs) != len(self.input_names):
            raise PluginError(f"inputs {sorted(inputs)} do not match the component's {self.input_names}")
        args = [torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in self.input_names]
        with torch.no_grad():
            out = self.module(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        names = self.output_names or [f"out{i}" for i in range(len(outs))]
        if len(names) != len(outs):
            raise PluginError(f"the module returned {len(outs)} outputs, the spec names {len(names)}: {names}")
        return {n: o.detach().numpy() for n, o in zip(names, outs, strict=True)}

    def close(self) -> None:
        pass


@dataclass
class Recorder:
    """Wraps a session and keeps every call's inputs and outputs."""

    session: Any
    calls: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = field(default_factory=list)

    @property
    def input_names(self) -> list[str]:
        return list(self.session.input_names)

    @property
    def output_names(self) -> list[str]:
        return list(self.session.output_names)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.session.run(inputs)
        self.calls.append(({k: np.array(v, copy=True) for k, v in inputs.items()}, out))
        return out

    def close(self) -> None:
        self.session.close()


def torch_sessions(spec: ModelSpec, modules: Mapping[str, Any]) -> dict[str, TorchSession]:
    return {role: TorchSession(modules[role], spec.components[role]) for role in spec.components}


def run_recorded(
    registry: Registry, spec: ModelSpec, sessions: Mapping[str, Any], items: Sequence[Any], options: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Recorder]]:
    """Results of the task's predictor on ``items`` and every network call it made, by role."""
    recorders = {role: Recorder(s) for role, s in sessions.items()}
    predictor = registry.build_predictor(spec, recorders)
    results = [predictor(item, **options) for item in items]
    return results, recorders


def record_inputs(
    registry: Registry, spec: ModelSpec, modules: Mapping[str, Any], items: Sequence[Any]
) -> dict[str, list[dict[str, np.ndarray]]]:
    """The inputs each component sees when the predictor runs ``items`` (int8 calibration data:
    exactly what inference feeds it)."""
    task = registry.task(spec.task)
    _, recorders = run_recorded(registry, spec, torch_sessions(spec, modules), items, dict(task.parity_options))
    return {role: [inputs for inputs, _ in rec.calls] for role, rec in recorders.items()}


def compare_calls(reference: Recorder, candidate: Recorder, role: str) -> tuple[float, float, float, int]:
    """(max abs diff, mean abs diff, min cosine, values compared) over calls paired in order,
    outputs paired by name."""
    if len(reference.calls) != len(candidate.calls):
        raise ExportError(
            f"component {role!r}: the reference made {len(reference.calls)} calls, the candidate "
            f"{len(candidate.calls)}; their pipelines diverged"
        )
    max_abs, abs_sum, count, min_cos = 0.0, 0.0, 0, 1.0
    for (_, ref), (_, got) in zip(reference.calls, candidate.calls, strict=True):
        if set(ref) != set(got):
            raise ExportError(
                f"component {role!r}: outputs {sorted(got)} do not match the reference's {sorted(ref)}; "
                "a renamed or missing output cannot be compared"
            )
        for name in ref:
            a, b = np.asarray(ref[name], np.float64), np.asarray(got[name], np.float64)
            if a.size != b.size:
                raise ExportError(f"component {role!r} output {name!r}: shape {b.shape} vs the reference's {a.shape}")
            diff = np.abs(a.ravel() - b.ravel())
            max_abs = max(max_abs, float(diff.max(initial=0.0)))
            abs_sum += float(diff.sum())
            count += diff.size
            min_cos = min(min_cos, cosine(a, b))
    return max_abs, abs_sum / max(count, 1), min_cos, count


def compare_pipelines(
    registry: Registry,
    spec: ModelSpec,
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    items: Sequence[Any],
    reference_name: str,
    items_description: str,
    runtime_options: Mapping[str, Any],
) -> Parity:
    """Run the task's predictor on both session sets; compare every call and the results."""
    task = registry.task(spec.task)
    options = dict(task.parity_options)
    ref_results, ref_calls = run_recorded(registry, spec, reference, items, options)
    got_results, got_calls = run_recorded(registry, spec, candidate, items, options)
    per: dict[str, dict[str, float]] = {}
    max_abs, mean_abs, min_cos, total = 0.0, 0.0, 1.0, 0
    for role in spec.components:
        m, mean, cos, n = compare_calls(ref_calls[role], got_calls[role], role)
        per[role] = {"max_abs_diff": m, "mean_abs_diff": mean, "min_cosine": cos}
        max_abs, min_cos = max(max_abs, m), min(min_cos, cos)
        mean_abs, total = mean_abs + mean * n, total + n
    return Parity(
        reference=reference_name,
        n_inputs=len(items),
        inputs=items_description,
        max_abs_diff=max_abs,
        mean_abs_diff=mean_abs / max(total, 1),
        min_cosine=min_cos,
        agreement=task.agreement(ref_results, got_results),
        runtime_options=dict(runtime_options),
        components=per if len(per) > 1 else {},
    )


def parity_items(registry: Registry, spec: ModelSpec) -> tuple[list[Any], str]:
    task = registry.task(spec.task)
    if task.parity_items is not None:
        return list(task.parity_items(spec)), f"the {task.name} task's parity inputs"
    from zoo.images import sample_images

    return sample_images(), "embedded sample photos and their mirrors"


ProgressFn = Callable[[str], None]


class ReplaySession:
    """Answers each call with the next of a list of recorded outputs (ARM outputs computed in one
    emulator run, fed back through the task's predictor for task-level agreement)."""

    def __init__(self, outputs: Sequence[dict[str, np.ndarray]], like: Any) -> None:
        self.outputs = list(outputs)
        self.input_names, self.output_names = list(like.input_names), list(like.output_names)
        self.next = 0

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.next >= len(self.outputs):
            raise ExportError("the replayed pipeline made more network calls than were recorded")
        out = self.outputs[self.next]
        self.next += 1
        return out

    def close(self) -> None:
        pass
