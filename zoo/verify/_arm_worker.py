"""Run one ncnn model on many inputs and write the outputs as .npy files.

This file runs inside the emulated aarch64 Python (``zoo.verify.arm`` starts it under
qemu-user), so it imports nothing but the standard library, numpy and ncnn, and never imports
``zoo``. The x86 side imports :func:`run_net` from here too, so both sides build their
``ncnn.Mat`` inputs, apply Option flags and read outputs through the very same code.

Protocol: ``python3.11 _arm_worker.py JOB.json``. The job names the .param/.bin files, the Option
flags (or null for ncnn's defaults), the thread count, the output blob names, and per input a map
blob name -> .npy file. The worker writes one .npy per output next to the job, then ``result.json``
listing them with what it saw (ncnn version, Option flags in effect, CPU features). Any failure
is a traceback on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The Option flags reported back, so a parity result records what the net really ran with.
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


def _cpu_features(ncnn: Any) -> dict[str, bool]:
    """What ncnn detected on the CPU it runs on (the emulated one under qemu)."""
    features = {}
    for name in ("cpu_support_arm_neon", "cpu_support_arm_vfpv4", "cpu_support_arm_asimdhp"):
        probe = getattr(ncnn, name, None)
        if probe is not None:
            features[name.removeprefix("cpu_support_")] = bool(probe())
    return features


def to_ncnn_array(array: np.ndarray) -> np.ndarray:
    """NCHW with batch 1 (as fed to PyTorch) -> the CHW float32 array an ``ncnn.Mat`` wraps."""
    data = np.asarray(array, dtype=np.float32)
    if data.ndim >= 2 and data.shape[0] == 1:
        data = data[0]
    return np.ascontiguousarray(data)


def run_net(
    param: str,
    bin_path: str,
    inputs_list: Sequence[Mapping[str, np.ndarray]],
    output_names: Sequence[str],
    options: Mapping[str, bool] | None,
    threads: int,
) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    """Load the net once and run every input through it; outputs get their batch dim back."""
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = threads
    for name, value in (options or {}).items():
        if not hasattr(net.opt, name):
            raise ValueError(f"ncnn.Option has no flag {name!r}")
        setattr(net.opt, name, bool(value))
    if net.load_param(param) != 0:
        raise RuntimeError(f"ncnn could not load {param}")
    if net.load_model(bin_path) != 0:
        raise RuntimeError(f"ncnn could not load {bin_path}")

    results: list[dict[str, np.ndarray]] = []
    for index, inputs in enumerate(inputs_list):
        extractor = net.create_extractor()
        for blob, array in inputs.items():
            # ncnn.Mat(array) only wraps the numpy buffer; an in-place first layer (ReLU,
            # BinaryOp) then writes into it, or segfaults. clone() gives ncnn a Mat it owns.
            mat = ncnn.Mat(to_ncnn_array(array)).clone()
            if extractor.input(blob, mat) != 0:
                raise RuntimeError(f"input {index}: the model has no input blob {blob!r}")
        outputs = {}
        for blob in output_names:
            status, mat = extractor.extract(blob)
            if status != 0:
                raise RuntimeError(
                    f"input {index}: extracting output blob {blob!r} failed ({status})"
                )
            outputs[blob] = np.array(mat, dtype=np.float32, copy=True)[np.newaxis]
        results.append(outputs)

    info = {
        "ncnn_version": str(ncnn.__version__),
        "numpy_version": str(np.__version__),
        "threads": threads,
        "effective_options": {
            flag: bool(getattr(net.opt, flag)) for flag in REPORTED_FLAGS if hasattr(net.opt, flag)
        },
        "cpu_features": _cpu_features(ncnn),
    }
    return results, info


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: _arm_worker.py JOB.json", file=sys.stderr)
        return 2
    job_path = Path(argv[0])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    work = job_path.parent
    inputs_list = [
        {blob: np.load(work / filename, allow_pickle=False) for blob, filename in files.items()}
        for files in job["inputs"]
    ]
    outputs_list, info = run_net(
        job["param"],
        job["bin"],
        inputs_list,
        job["output_names"],
        job["options"],
        int(job["threads"]),
    )
    written = []
    for index, outputs in enumerate(outputs_list):
        files = {}
        for position, (blob, array) in enumerate(outputs.items()):
            filename = f"out_{index}_{position}.npy"
            np.save(work / filename, array, allow_pickle=False)
            files[blob] = filename
        written.append(files)
    (work / "result.json").write_text(
        json.dumps({"outputs": written, "info": info}), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
