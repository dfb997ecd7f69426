"""The one place that drives an ``ncnn.Net``: build it with explicit Option flags, feed it, read it.

Imports nothing but numpy and ncnn, and never ``zoo``: the ARM worker (``arm_worker.py``) loads
this file by path inside the emulated aarch64 Python, so x86 and ARM runs build their inputs,
apply Option flags and read outputs through the very same code.

Arrays are batch-first as in PyTorch, (1, C, H, W); ncnn has no batch axis, so the batch of one is
dropped on the way in and added back on the way out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

REPORTED_FLAGS = (
    "use_fp16_storage",
    "use_fp16_packed",
    "use_fp16_arithmetic",
    "use_bf16_storage",
    "use_int8_inference",
    "use_int8_storage",
    "use_int8_arithmetic",
    "use_packing_layout",
    "use_winograd_convolution",
    "use_sgemm_convolution",
    "use_vulkan_compute",
)
"""The Option flags read back after loading, so a result records what the net really ran with."""


class NetError(RuntimeError):
    """ncnn refused a file or a blob (the caller turns it into a one-line error)."""


def to_ncnn_array(array: np.ndarray) -> np.ndarray:
    """Batch-1 NCHW (as fed to PyTorch) → the CHW float32 array an ``ncnn.Mat`` wraps."""
    data = np.asarray(array, dtype=np.float32)
    if data.ndim >= 2 and data.shape[0] == 1:
        data = data[0]
    return np.ascontiguousarray(data)


def new_net(param: str, bin_path: str, options: Mapping[str, bool] | None, threads: int) -> Any:
    """An ``ncnn.Net`` with ``options`` set (None: ncnn's defaults for this CPU), files loaded."""
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = int(threads)
    for name, value in (options or {}).items():
        if not hasattr(net.opt, name):
            raise NetError(f"ncnn.Option has no flag {name!r}")
        setattr(net.opt, name, bool(value))
    if net.load_param(str(param)) != 0:
        raise NetError(f"{param}: ncnn could not parse this .param file")
    if net.load_model(str(bin_path)) != 0:
        raise NetError(f"{bin_path}: ncnn could not load these weights (truncated or mismatched .bin?)")
    return net


def run(
    net: Any, inputs: Mapping[str, np.ndarray], outputs: Sequence[str], keep_all: bool = False
) -> dict[str, np.ndarray]:
    """One forward pass: named batch-first inputs → the named blobs, batch axis restored.

    ``keep_all`` turns light mode off, so several intermediate blobs can be read from one pass."""
    import ncnn

    extractor = net.create_extractor()
    if keep_all:
        extractor.set_light_mode(False)
    mats = []
    for blob, array in inputs.items():
        # ncnn.Mat(array) only wraps the numpy buffer; an in-place first layer (ReLU, BinaryOp)
        # would write into the caller's array, or crash. clone() gives ncnn a Mat it owns.
        mat = ncnn.Mat(to_ncnn_array(array)).clone()
        mats.append(mat)
        if extractor.input(blob, mat) != 0:
            raise NetError(f"the model has no input blob {blob!r}")
    out: dict[str, np.ndarray] = {}
    for blob in outputs:
        status, mat = extractor.extract(blob)
        if status != 0:
            raise NetError(f"ncnn failed to compute blob {blob!r} (error {status})")
        out[blob] = np.array(mat, dtype=np.float32, copy=True)[np.newaxis]
    return out


def effective_options(net: Any) -> dict[str, bool]:
    return {flag: bool(getattr(net.opt, flag)) for flag in REPORTED_FLAGS if hasattr(net.opt, flag)}


def cpu_features() -> dict[str, bool]:
    """What ncnn detected on the CPU it runs on (the emulated one under qemu)."""
    import ncnn

    features = {}
    for name in ("cpu_support_arm_neon", "cpu_support_arm_vfpv4", "cpu_support_arm_asimdhp"):
        probe = getattr(ncnn, name, None)
        if probe is not None:
            features[name.removeprefix("cpu_support_")] = bool(probe())
    return features
