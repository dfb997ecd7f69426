"""Checkpoint readers for the upstream formats, none of which executes code from a pickle.

* Ultralytics ``.pt``: a pickle of the whole ``DetectionModel`` object inside ``{"model": ...,
  "ema": ..., "train_args": ...}``. ``load_ultralytics`` reads it with the core's
  ``zoo.checkpoints.read_checkpoint(allow_objects=True)``: only tensor rebuilders and plain
  containers resolve to real objects; every other class becomes an inert placeholder that records
  its constructor arguments and state (no code of the file runs, and TorchScript archives are
  refused before reading), and the state dict is read out of the placeholders' ``_parameters`` /
  ``_buffers`` / ``_modules``.
* Megvii YOLOX ``.pth``: ``{"model": state_dict, "optimizer": ..., "start_epoch": ...}`` — plain
  tensors, read by ``zoo.checkpoints.load_state_dict(key="model")``.
* torchvision: a plain state dict (``zoo.checkpoints.load_state_dict``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.checkpoints import Inert, read_checkpoint
from zoo.errors import CheckpointError


def module_state_dict(obj: Any, prefix: str = "") -> dict[str, Any]:
    """The state dict of a pickled nn.Module, read from its placeholder (parameters, persistent
    buffers, submodules — what ``Module.state_dict()`` would return)."""
    import torch

    state = obj.zoo_state if isinstance(obj, Inert) else None
    if isinstance(state, tuple) and state and isinstance(state[0], dict):
        state = state[0]
    if not isinstance(state, dict) or "_modules" not in state:
        raise CheckpointError(f"expected a pickled torch module at {prefix or 'top level'}, found {obj!r}")
    out: dict[str, Any] = {}
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value
    skip = state.get("_non_persistent_buffers_set") or set()
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(module_state_dict(child, f"{prefix}{name}."))
    bad = [k for k, v in out.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"checkpoint entry {bad[0]!r} is not a tensor")
    return out


def load_ultralytics(path: str | Path) -> dict[str, Any]:
    """Float32 state dict of an Ultralytics checkpoint (``ema`` if present, else ``model``).

    Also accepts a plain state dict, or ``{"model": state_dict}``.
    """
    import torch

    obj = read_checkpoint(path, allow_objects=True)
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        model = obj.get("ema") or obj.get("model")
        if model is None:
            raise CheckpointError(
                f"{path}: no 'model' or 'ema' entry (keys: {', '.join(map(str, list(obj)[:6]))}); "
                "is this an Ultralytics checkpoint?"
            )
        obj = model
    if isinstance(obj, Inert):
        state = module_state_dict(obj)
    elif isinstance(obj, Mapping) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        state = dict(obj)
    else:
        raise CheckpointError(f"{path}: expected an Ultralytics checkpoint or a state dict, got {type(obj).__name__}")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
