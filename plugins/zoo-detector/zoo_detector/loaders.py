"""Checkpoint readers for the upstream formats, none of which executes code from a pickle.

* Ultralytics ``.pt``: a pickle of the whole ``DetectionModel`` object inside ``{"model": ...,
  "ema": ..., "train_args": ...}``. ``torch.load(weights_only=True)`` refuses it (it names
  ultralytics classes), and ``weights_only=False`` would import ultralytics and run whatever the
  pickle says. ``load_ultralytics`` unpickles with ``RestrictedUnpickler`` instead: only tensor
  rebuilders and plain containers resolve to real objects; every other class becomes an inert
  placeholder that records its constructor arguments and state, and the state dict is read out of
  the placeholders' ``_parameters`` / ``_buffers`` / ``_modules``.
* Megvii YOLOX ``.pth``: ``{"model": state_dict, "optimizer": ..., "start_epoch": ...}`` — plain
  tensors, read by ``zoo.checkpoints.load_state_dict(key="model")``.
* torchvision: a plain state dict (``zoo.checkpoints.load_state_dict``).
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, InputError


class Inert:
    """Stands in for any class a checkpoint names that is not on the allow-list.

    Creating, calling or restoring one runs no code of the named class: it only stores what the
    pickle passes (arguments, state, list and dict items) for the loader to read.
    """

    origin = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        obj = object.__new__(cls)
        obj.__dict__.update(zoo_args=args, zoo_state=None, zoo_items=[], zoo_dict={})
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["zoo_state"] = state

    def append(self, item: Any) -> None:
        self.zoo_items.append(item)

    def extend(self, items: Any) -> None:
        self.zoo_items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.zoo_dict[key] = value

    def __repr__(self) -> str:
        return f"<inert {self.origin}>"


def _safe_globals() -> dict[tuple[str, str], Any]:
    import torch

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("copyreg", "_reconstructor"): _reconstructor,
    }
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                 "_rebuild_parameter_with_state"):
        if hasattr(torch._utils, name):
            allowed[("torch._utils", name)] = getattr(torch._utils, name)
    return allowed


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor (pickle protocol < 2) without calling base.__new__ on unknown classes."""
    obj = cls.__new__(cls) if isinstance(cls, type) and issubclass(cls, Inert) else _inert("copyreg", "_reconstructor")()
    if state is not None:
        obj.__setstate__(state)
    return obj


_INERT_TYPES: dict[tuple[str, str], type[Inert]] = {}


def _inert(module: str, name: str) -> type[Inert]:
    key = (module, name)
    if key not in _INERT_TYPES:
        _INERT_TYPES[key] = type(f"Inert[{module}.{name}]", (Inert,), {"origin": f"{module}.{name}"})
    return _INERT_TYPES[key]


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` never imports: allow-listed globals or inert placeholders."""

    def find_class(self, module: str, name: str) -> Any:
        import _compat_pickle

        import torch

        # Python 2 names (protocol-2 pickles, torch.save's default), as pickle.Unpickler maps them
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        allowed = _safe_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return _inert(module, name)


class _RestrictedPickle:
    """What torch.load's ``pickle_module`` needs: an Unpickler class (and load for completeness)."""

    __name__ = "zoo_detector.restricted_pickle"
    Unpickler = RestrictedUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return RestrictedUnpickler(file, **kwargs).load()


def restricted_load(path: str | Path) -> Any:
    """torch.load of a zip-format checkpoint through RestrictedUnpickler (tensors on the CPU)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file; pass --weights PATH to an existing file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path}: not a zip-format PyTorch checkpoint (torch < 1.6 legacy files are not read); "
            "re-save it with a recent torch"
        )
    try:
        return torch.load(path, map_location="cpu", pickle_module=_RestrictedPickle, weights_only=False)
    except Exception as err:  # corrupt zip, truncated pickle, unknown opcodes...
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({text[:160]})") from err


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

    obj = restricted_load(path)
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
