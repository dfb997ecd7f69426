"""Runtimes: what runs an exported component. Each is an object registered through the
``register_runtimes`` hook — the core registers ncnn and onnxruntime through it, exactly as a
third-party plugin registers its own.

A ``Runtime`` says which artifact formats it loads, why it cannot run here (a missing extra), which
options each precision runs with (recorded in the manifest and the card), checks a component's
files before loading them, and loads them into a ``Session``. Vision runtimes give
``TensorSession``s: named arrays in, named arrays out, batch-first as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from zoo.errors import InputError
from zoo.specs import TensorSpec


@runtime_checkable
class Session(Protocol):
    """One loaded component. What else it offers depends on the runtime (``run`` for tensors)."""

    def close(self) -> None: ...


@runtime_checkable
class TensorSession(Protocol):
    input_names: list[str]
    output_names: list[str]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


@runtime_checkable
class Runtime(Protocol):
    name: str
    """Short id users type: ``--runtime ncnn``."""
    formats: tuple[str, ...]
    """Artifact formats it loads ('ncnn': .param + .bin; 'onnx'; 'gguf')."""
    extra: str
    """The pip extra that installs its library, for the one-line error when it is missing."""

    def unavailable_reason(self) -> str | None:
        """None when usable here, else why not (and what to install)."""
        ...

    def version(self) -> str:
        """The library's version, for cards."""
        ...

    def options_for(self, precision: str) -> dict[str, Any]:
        """The options an artifact of ``precision`` runs with (e.g. ncnn Option flags)."""
        ...

    def check(self, fmt: str, files: Mapping[str, Path]) -> None:
        """Validate a component's files before ``load`` (raise a ZooError naming the file)."""
        ...

    def load(
        self,
        fmt: str,
        files: Mapping[str, Path],
        *,
        threads: int,
        options: Mapping[str, Any],
        outputs: Sequence[TensorSpec] = (),
        inputs: Sequence[TensorSpec] = (),
    ) -> Session:
        """Load one component's files (role → path, e.g. param/bin) into a Session; ``outputs``
        (names and shapes PyTorch gave at export) let a runtime restore axes it drops; ``inputs``
        (names, shapes and dtypes) tell it which inputs are integers (token ids)."""
        ...


class ShapeCheckedSession:
    """A TensorSession that refuses, in one line, an input its export cannot take, before the
    runtime sees it: a fixed-shape ncnn graph fed another shape runs and returns wrong numbers
    without an error (its Reshape layers hold the traced sizes). Inputs are checked against the
    export's ``TensorSpec``s (fixed axes equal, dynamic axes a multiple of ``size_multiple``);
    everything else is the wrapped session's."""

    def __init__(self, session: Any, inputs: Sequence[TensorSpec], source: str) -> None:
        self.session, self.source = session, source
        self.specs = {t.name: t for t in inputs}

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, array in inputs.items():
            spec = self.specs.get(name)
            problem = spec.shape_problem(tuple(np.shape(array))) if spec is not None else None
            if problem:
                raise InputError(f"{self.source}: input {name} {problem}")
        out: dict[str, np.ndarray] = self.session.run(inputs)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


# Optional: ``describe(fmt, files) -> dict`` — what a prebuilt artifact says about itself, read from
# its (already checked) files without loading them: 'architecture', 'params', 'file_type',
# 'context_length', 'license', and 'input' (the card's Input column, e.g. 'ctx 4096'). The core
# records it in the manifest (params, extra['model_facts']) and so in the card.
