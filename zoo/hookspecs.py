"""The hooks a zoo plugin may implement. Nothing else lives here.

A plugin is a module (or object) registered under the entry-point group ``zoo``; it implements
any subset of these with ``@zoo.hookimpl``. The ``register_*`` hooks receive a callback: the core
calls each plugin's implementation with its own callback, so it knows who registered what.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from zoo.runtimes import Runtime, Session
    from zoo.specs import ModelSpec
    from zoo.tasks import Predictor, TaskDef

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    """Register task definitions (name, result type, predictor, agreement, options, evaluator).

    Call ``register(TaskDef(...))`` once per task. A task name registered twice is an error
    naming both plugins.
    """


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model specs. Call ``register(ModelSpec(...))`` once per model.

    The registry records which plugin registered each model, checks the spec against its task
    (preprocessing kinds, components), overlays registry.yaml on top, and refuses a duplicate id
    or alias with an error naming both plugins.
    """


@hookspec
def register_solutions(register: Callable[[ModelSpec], None]) -> None:
    """Register solutions: models made only of other models, by role (``roles=`` with a default
    model each, no ``components``), e.g. ByteTrack over a detector, or a detector + pose model.

    They share the models' id namespace and get their own cards; ``zoo run``/``zoo bench`` load
    each role's model (``--ROLE MODEL`` overrides the default). A solution whose default model is
    not installed is listed as unavailable with the reason.
    """


@hookspec
def register_exporters(register: Callable[[str, Any], None]) -> None:
    """Register export steps by name: ``register("int8", step)``.

    A step is a callable ``step(ctx: zoo.convert.chain.ExportContext, inputs: dict[str, Path]) ->
    zoo.convert.chain.StepResult``. The core registers trace, pnnx, int8 and onnx.
    """


@hookspec
def register_runtimes(register: Callable[[Runtime], None]) -> None:
    """Register runtimes: ``register(runtime)`` with an object following ``zoo.runtimes.Runtime``
    (name, formats, extra, unavailable_reason(), version(), options_for(precision), check(fmt,
    files), load(fmt, files, threads=, options=) -> Session).

    The core registers ncnn and onnxruntime through this same hook. A runtime name registered
    twice is an error naming both plugins.
    """


@hookspec
def register_power_meters(register: Callable[[str, Any], None]) -> None:
    """Register energy sources by name: ``register("rapl", meter)``.

    A meter is a zero-argument callable returning an object with ``available() -> str | None``
    (None when usable, else the reason), ``start()`` and ``stop() -> float`` (joules used by the
    whole meter's domain between the two calls).
    """


@hookspec(firstresult=True)
def resolve_model(name: str) -> ModelSpec | None:
    """Return a ModelSpec for a model ``name`` that no plugin registered — a name that points at a
    model rather than naming one, e.g. ``hf://ORG/REPO/*Q4_K_M.gguf`` — or None if it is not
    yours. Called only for names the registry does not know.

    The spec should pin what it found (a commit, each file's sha256): the core remembers it in
    the cache under its id, so later commands, the bench worker and offline runs find it by id
    (``zoo run ID``) or by the same name without asking again when the source cannot be reached.
    """


@hookspec(firstresult=True)
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    """Return the ``torch.nn.Module`` for ``spec`` with ``weights`` loaded (a local checkpoint
    path), or random initialisation when ``weights`` is None; for a model of several components,
    a dict role → module. Return None if the spec is not yours.

    The core calls only the implementation of the plugin that registered ``spec``, and seeds
    torch, numpy and random before a random build. Loading must be strict (every key matched)
    and must never execute code from a pickle (use ``zoo.checkpoints``).
    """


@hookspec(firstresult=True)
def build_predictor(
    spec: ModelSpec, task: TaskDef, sessions: Mapping[str, Session], parts: Mapping[str, Predictor]
) -> Predictor | None:
    """Return a predictor for ``spec`` when the model needs its own (e.g. a bottom-up pose model
    of the pose task whose head its task's default predictor cannot decode), else None: the
    task's predictor is used. Only the plugin that registered ``spec`` is asked.
    """
