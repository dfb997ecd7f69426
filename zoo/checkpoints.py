"""Safe, strict checkpoint loading shared by every plugin (torch side only).

Never executes code from a pickle: ``torch.load(..., weights_only=True)`` only rebuilds tensors
and plain containers. A checkpoint that needs arbitrary classes is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.deps import require
from zoo.errors import CheckpointError, InputError


def load_state_dict(path: str | Path, *, key: str | None = None) -> dict[str, Any]:
    """Read a tensor dict from ``path`` without running pickled code.

    ``key`` picks a nested dict (e.g. 'model' or 'state_dict') when upstream wraps the weights.
    """
    torch = require("torch", "export", "to load PyTorch checkpoints")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file; pass --weights PATH to an existing file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, zip errors...
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise CheckpointError(
                f"{path}: refused to unpickle: the file needs code execution to load ({text[:160]}); "
                "zoo only loads plain tensor checkpoints — re-save it as a state_dict"
            ) from err
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({text[:160]})") from err
    if key is not None and isinstance(obj, Mapping) and key in obj:
        obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(f"{path}: expected a dict of tensors (a state_dict), got {type(obj).__name__}")
    return dict(obj)


def load_strict(module: Any, state_dict: Mapping[str, Any], source: str) -> None:
    """``module.load_state_dict(strict=True)`` with one clear line naming what does not match."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {', '.join(unexpected[:3])})")
        raise CheckpointError(
            f"{source}: checkpoint keys do not match {type(module).__name__}: {'; '.join(parts)}; "
            "is this a checkpoint of another model?"
        )
    for name, tensor in expected.items():
        got = state_dict[name]
        if tuple(getattr(got, "shape", ())) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {tuple(got.shape)}, the model expects "
                f"{tuple(tensor.shape)}; is this a checkpoint of another variant?"
            )
    module.load_state_dict(state_dict, strict=True)
