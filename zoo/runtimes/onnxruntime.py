"""The onnxruntime runtime: the CPU baseline a user would otherwise pick, side by side with ncnn.

Registered by the core's built-in plugin; its library comes with the ``onnx`` extra. This is a
baseline to compare against, not a conversion route to ncnn (that stays PyTorch → pnnx → ncnn).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ConfigError, InputError
from zoo.specs import TensorSpec

_DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8}


class OnnxRuntime:
    name = "onnxruntime"
    formats = ("onnx",)
    extra = "onnx"

    def unavailable_reason(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "onnxruntime is not installed; pip install 'zoo[onnx]'"
        return None

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("onnxruntime")
        except PackageNotFoundError:
            return "unknown"

    def options_for(self, precision: str) -> dict[str, Any]:
        if precision != "fp32":
            raise ConfigError(f"the onnxruntime baseline runs fp32 only, not {precision!r}")
        return {"providers": ["CPUExecutionProvider"], "graph_optimization_level": "ORT_ENABLE_ALL",
                "execution_mode": "ORT_SEQUENTIAL", "inter_op_num_threads": 1}  # fmt: skip

    def check(self, fmt: str, files: Mapping[str, Path]) -> None:
        if fmt not in self.formats:
            raise ConfigError(f"onnxruntime cannot load {fmt!r} artifacts (it loads: onnx)")
        if "model" not in files or not Path(files["model"]).is_file():
            raise InputError(f"{files.get('model', 'model.onnx')}: no such ONNX file; export it again")

    def load(
        self,
        fmt: str,
        files: Mapping[str, Path],
        *,
        threads: int,
        options: Mapping[str, Any],
        outputs: Sequence[TensorSpec] = (),
    ) -> OrtSession:
        self.check(fmt, files)
        return OrtSession(Path(files["model"]), threads, options)


class OrtSession:
    def __init__(self, path: Path, threads: int, options: Mapping[str, Any]) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = int(options.get("inter_op_num_threads", 1))
        so.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, options.get("graph_optimization_level", "ORT_ENABLE_ALL")
        )
        so.execution_mode = getattr(ort.ExecutionMode, options.get("execution_mode", "ORT_SEQUENTIAL"))
        try:
            self.session = ort.InferenceSession(
                str(path), so, providers=list(options.get("providers", ["CPUExecutionProvider"]))
            )
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise InputError(
                f"{path}: onnxruntime could not load this model ({str(err).splitlines()[0][:200]})"
            ) from None
        self.inputs = {i.name: _DTYPES.get(i.type, np.float32) for i in self.session.get_inputs()}
        self.input_names = list(self.inputs)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {k: np.ascontiguousarray(v, dtype=self.inputs.get(k, np.float32)) for k, v in inputs.items()}
        values = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, values, strict=True))

    def close(self) -> None:
        self.session = None
