"""The hooks a zoo plugin may implement. Nothing else lives here.

A plugin is a module (or object) registered under the entry-point group ``zoo``; it implements
any subset of these with ``@zoo.hookimpl``. The ``register_*`` hooks receive a callback: the core
calls each plugin's implementation with its own callback, so it knows who registered what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from zoo.specs import ModelSpec
    from zoo.tasks import TaskDef

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    """Register task definitions (name, pre/post-processing, agreement, default metric).

    Call ``register(TaskDef(...))`` once per task. A task name registered twice is an error
    naming both plugins.
    """


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model specs. Call ``register(ModelSpec(...))`` once per model.

    The registry records which plugin registered each model, overlays registry.yaml on top, and
    refuses a duplicate id or alias with an error naming both plugins.
    """


@hookspec
def register_exporters(register: Callable[[str, Any], None]) -> None:
    """Register export steps by name: ``register("int8", step)``.

    A step is a callable ``step(ctx: zoo.export.ExportContext, inputs: dict[str, Path]) ->
    zoo.export.StepResult``. The core registers trace, pnnx and int8.
    """


@hookspec
def register_runtimes(register: Callable[[str, Any], None]) -> None:
    """Register runtimes by name: ``register("ncnn", factory)``.

    A factory is ``factory(artifacts: dict[str, Path], threads: int, options: dict) -> Session``
    where Session has ``run(inputs) -> outputs``, ``input_names``, ``output_names``, ``close()``.
    """


@hookspec
def register_power_meters(register: Callable[[str, Any], None]) -> None:
    """Register energy sources by name: ``register("rapl", meter)``.

    A meter is a zero-argument callable returning an object with ``available() -> str | None``
    (None when usable, else the reason), ``start()`` and ``stop() -> float`` (joules used by the
    whole meter's domain between the two calls).
    """


@hookspec(firstresult=True)
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    """Return the ``torch.nn.Module`` for ``spec`` with ``weights`` loaded (a local checkpoint
    path), or random initialisation when ``weights`` is None; return None if not yours.

    The core calls only the implementation of the plugin that registered ``spec``. Loading must
    be strict (every key matched) and must never execute code from a pickle.
    """
