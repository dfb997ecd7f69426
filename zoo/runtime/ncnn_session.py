"""An ncnn network behind the Session protocol, with every Option flag explicit and recorded.

Arrays are batch-first as in PyTorch (1, C, H, W); ncnn has no batch axis, so the batch of one is
dropped on the way in and added back on the way out. Benchmarks use batch 1 and static shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError

# ncnn's defaults differ per CPU (on ARM fp16 storage and arithmetic are on); zoo sets them
# explicitly so a card says exactly what ran.
FP32_OPTIONS: dict[str, bool] = {
    "use_vulkan_compute": False,
    "use_fp16_packed": False,
    "use_fp16_storage": False,
    "use_fp16_arithmetic": False,
    "use_int8_inference": False,
    "use_packing_layout": True,
}
FP16_OPTIONS: dict[str, bool] = {
    **FP32_OPTIONS,
    "use_fp16_packed": True,
    "use_fp16_storage": True,
    "use_fp16_arithmetic": True,
}
INT8_OPTIONS: dict[str, bool] = {**FP32_OPTIONS, "use_int8_inference": True}
OPTIONS_BY_DTYPE: dict[str, dict[str, bool]] = {"fp32": FP32_OPTIONS, "fp16": FP16_OPTIONS, "int8": INT8_OPTIONS}


@dataclass(frozen=True)
class Blobs:
    inputs: list[str]
    outputs: list[str]


def read_blob_names(param: Path) -> Blobs:
    """Input blobs (Input layers' tops) and output blobs (tops no layer consumes) of a .param."""
    lines = param.read_text().splitlines()
    if not lines or lines[0].strip() != "7767517":
        raise InputError(f"{param}: not an ncnn .param file (first line must be 7767517)")
    inputs: list[str] = []
    produced: list[str] = []
    consumed: set[str] = set()
    for line in lines[2:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        layer_type, _name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
        bottoms = fields[4 : 4 + n_in]
        tops = fields[4 + n_in : 4 + n_in + n_out]
        consumed.update(bottoms)
        produced.extend(tops)
        if layer_type == "Input":
            inputs.extend(tops)
    outputs = [b for b in produced if b not in consumed and b not in inputs]
    return Blobs(inputs, outputs)


class NcnnSession:
    """One loaded ncnn.Net. Not thread-safe; create one per thread."""

    def __init__(
        self,
        param: Path,
        bin: Path,
        threads: int = 1,
        options: dict[str, bool] | None = None,
    ) -> None:
        import ncnn

        for path in (param, bin):
            if not Path(path).is_file():
                raise InputError(f"{path}: no such file; run `zoo export` first")
        self.param, self.bin = Path(param), Path(bin)
        self.options = dict(FP32_OPTIONS if options is None else options)
        self.threads = threads
        self.net = ncnn.Net()
        opt = self.net.opt
        for key, value in self.options.items():
            if not hasattr(opt, key):
                raise InputError(f"unknown ncnn Option flag {key!r}")
            setattr(opt, key, bool(value))
        opt.num_threads = threads
        if self.net.load_param(str(self.param)) != 0:
            raise InputError(f"{self.param}: ncnn could not parse this .param file")
        if self.net.load_model(str(self.bin)) != 0:
            raise InputError(f"{self.bin}: ncnn could not load these weights (truncated or mismatched .bin?)")
        blobs = read_blob_names(self.param)
        self.input_names, self.output_names = blobs.inputs, blobs.outputs

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ncnn

        ex = self.net.create_extractor()
        for name, array in inputs.items():
            data = np.ascontiguousarray(
                array[0] if array.ndim >= 2 and array.shape[0] == 1 else array, dtype=np.float32
            )
            ex.input(name, ncnn.Mat(data))
        outputs: dict[str, np.ndarray] = {}
        for name in self.output_names:
            ret, mat = ex.extract(name)
            if ret != 0:
                raise InputError(f"{self.param}: ncnn failed to compute blob {name!r} (error {ret})")
            outputs[name] = np.array(mat)[None]
        return outputs

    def extract(self, inputs: dict[str, np.ndarray], blobs: list[str]) -> dict[str, np.ndarray]:
        """Intermediate blobs by name (ncnn computes only what they need)."""
        import ncnn

        ex = self.net.create_extractor()
        for name, array in inputs.items():
            ex.input(name, ncnn.Mat(np.ascontiguousarray(array[0], dtype=np.float32)))
        return {b: np.array(ex.extract(b)[1]) for b in blobs}

    def close(self) -> None:
        self.net.clear()

    def describe(self) -> dict[str, Any]:
        return {"threads": self.threads, "options": dict(self.options)}


def ncnn_version() -> str:
    from importlib.metadata import version

    return version("ncnn")


def ncnn_factory(artifacts: dict[str, Path], threads: int, options: dict[str, Any]) -> NcnnSession:
    return NcnnSession(artifacts["param"], artifacts["bin"], threads=threads, options=options or None)
