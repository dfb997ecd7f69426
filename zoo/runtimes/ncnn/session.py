"""An ncnn network behind the TensorSession protocol, every Option flag explicit and recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.runtimes.ncnn import driver
from zoo.runtimes.ncnn.param import read_param

# ncnn's defaults differ per CPU (on ARM fp16 storage and arithmetic are on); zoo sets them
# explicitly so a card says exactly what ran.
FP32_OPTIONS: dict[str, bool] = {
    "use_vulkan_compute": False,
    "use_fp16_packed": False,
    "use_fp16_storage": False,
    "use_fp16_arithmetic": False,
    "use_bf16_storage": False,
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
OPTIONS_BY_PRECISION: dict[str, dict[str, bool]] = {"fp32": FP32_OPTIONS, "fp16": FP16_OPTIONS, "int8": INT8_OPTIONS}


def check_options(options: Mapping[str, Any] | None) -> dict[str, bool] | None:
    """Refuse unknown ncnn.Option flags and non-bool values with one line (None: ncnn's defaults)."""
    if options is None:
        return None
    import ncnn

    probe = ncnn.Option()
    checked = {}
    for name, value in options.items():
        if not name.startswith("use_") or not hasattr(probe, name):
            known = sorted(a for a in dir(probe) if a.startswith("use_"))
            raise InputError(f"unknown ncnn.Option flag {name!r}; known flags: {', '.join(known)}")
        if not isinstance(value, bool | np.bool_):
            raise InputError(f"ncnn.Option flag {name} must be true or false, got {value!r}")
        checked[name] = bool(value)
    return checked


class NcnnSession:
    """One loaded ncnn.Net. Not thread-safe; create one per thread.

    ``output_shapes`` (from the export manifest: what PyTorch returned) reshape ncnn's outputs,
    which drop size-1 axes, back to the shapes the task's post-processing expects."""

    def __init__(
        self,
        param: Path,
        bin: Path,
        threads: int = 1,
        options: Mapping[str, bool] | None = None,
        output_shapes: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        for path in (param, bin):
            if not Path(path).is_file():
                raise InputError(f"{path}: no such file; run `zoo export` first")
        self.param, self.bin = Path(param), Path(bin)
        graph = read_param(self.param)
        graph.check_graph(str(self.param))
        self.input_names, self.output_names = graph.input_names, graph.output_names
        self.options = dict(FP32_OPTIONS) if options is None else (check_options(options) or {})
        self.threads = threads
        self.output_shapes = {k: tuple(v) for k, v in (output_shapes or {}).items()}
        try:
            self.net = driver.new_net(str(self.param), str(self.bin), self.options, threads)
        except driver.NetError as err:
            raise InputError(str(err)) from None

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        unknown = [k for k in inputs if k not in self.input_names]
        if unknown:
            raise InputError(f"{self.param.name} has no input {unknown[0]!r}; its inputs: {self.input_names}")
        try:
            out = driver.run(self.net, inputs, self.output_names)
        except driver.NetError as err:
            raise InputError(f"{self.param}: {err}") from None
        for name, shape in self.output_shapes.items():
            if name in out and out[name].size == int(np.prod(shape)):
                out[name] = out[name].reshape(shape)
        return out

    def extract(self, inputs: Mapping[str, np.ndarray], blobs: Sequence[str]) -> dict[str, np.ndarray]:
        """Intermediate blobs by name, from one pass (batch axis restored)."""
        try:
            return driver.run(self.net, inputs, blobs, keep_all=True)
        except driver.NetError as err:
            raise InputError(f"{self.param}: {err}") from None

    def effective_options(self) -> dict[str, bool]:
        return driver.effective_options(self.net)

    def close(self) -> None:
        self.net.clear()
