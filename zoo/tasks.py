"""Task definitions: what a task plugin registers through ``register_tasks``.

A task bundles the pure-numpy halves of a pipeline (image in, tensors out; tensors out, results
in) and how two results agree, so the core can run, benchmark and check parity of any model
without knowing what a classifier or a detector is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from zoo.specs import ModelSpec, PreSpec


@runtime_checkable
class Result(Protocol):
    """What a postprocess function returns. ``to_dict`` is what ``--json`` prints."""

    def to_dict(self) -> dict[str, Any]: ...

    def summary(self) -> str: ...


Preprocess = Callable[[np.ndarray, PreSpec], tuple[np.ndarray, dict[str, Any]]]
"""(RGB uint8 HxWx3 image, spec.pre) -> (network input, batch first; context for postprocess)."""

Postprocess = Callable[[Mapping[str, np.ndarray], dict[str, Any], ModelSpec, Mapping[str, Any]], Result]
"""(raw outputs by blob name, context, spec, user options such as top_k or conf) -> Result."""

Agreement = Callable[[list[Result], list[Result]], dict[str, float]]
"""(reference results, candidate results) -> named agreement figures, e.g. {'top1_agreement': 1.0}."""

Draw = Callable[[np.ndarray, Result], np.ndarray]
"""(RGB image, result) -> annotated RGB image."""


@dataclass(frozen=True)
class TaskDef:
    name: str
    description: str
    default_metric: str
    preprocess: Preprocess
    postprocess: Postprocess
    agreement: Agreement
    draw: Draw | None = None
    run_options: Mapping[str, Any] = field(default_factory=dict)
    """Options ``zoo run`` accepts for this task, with defaults (e.g. {'top_k': 5})."""
    parity_options: Mapping[str, Any] = field(default_factory=dict)
    """Postprocess options for the parity check (PyTorch vs ncnn results), e.g. a detector's
    COCO-eval threshold {'conf': 0.001}: at a deployment threshold a random-weights model yields no
    boxes, and an agreement over nothing says nothing."""
