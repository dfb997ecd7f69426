"""The core's export steps: trace (PyTorch → TorchScript), pnnx (TorchScript → ncnn), int8 (ncnn
fp32 → ncnn int8), onnx (PyTorch → ONNX, for the onnxruntime baseline). Each works on one
component (``ctx.role``) and writes its files as ``<role>.<suffix>`` in the export folder."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from zoo.convert.chain import ExportContext, StepResult
from zoo.deps import require
from zoo.errors import ExportError, InputError
from zoo.specs import TensorSpec

_TORCH_TO_PNNX = {"float32": "f32", "int64": "i64", "int32": "i32", "uint8": "u8"}


def example_inputs(ctx: ExportContext, seed: int = 0) -> tuple[Any, ...]:
    """The tensors a component is traced (and its MACs counted) with: uniform [0, 1) floats,
    zeros for integer inputs, at the spec's static shapes."""
    torch = require("torch", "export", "to export models")
    gen = torch.Generator().manual_seed(seed)
    tensors = []
    for spec in ctx.component.inputs:
        if spec.dtype == "float32":
            tensors.append(torch.rand(spec.shape, generator=gen))
        else:
            tensors.append(torch.zeros(spec.shape, dtype=getattr(torch, spec.dtype)))
    return tuple(tensors)


def trace_step(ctx: ExportContext, inputs: dict[str, Path]) -> StepResult:
    """torch.jit.trace at the component's static input shapes, saved as TorchScript."""
    torch = require("torch", "export", "to export models")
    model = ctx.model.eval()
    example = example_inputs(ctx)
    out = ctx.path("torchscript.pt")
    with torch.no_grad():
        traced = torch.jit.trace(model, example if len(example) > 1 else example[0], check_trace=False)
    traced.save(str(out))
    return StepResult(
        "trace",
        {"torchscript": out},
        {"torch": torch.__version__, "input_shapes": [list(s.shape) for s in ctx.component.inputs]},
    )


def _pnnx_shapes(specs: Any, shapes: list[tuple[int, ...]]) -> str:
    return ",".join(
        "[" + ",".join(str(d) for d in shape) + "]" + _TORCH_TO_PNNX[s.dtype]
        for s, shape in zip(specs, shapes, strict=True)
    )


def alternative_shape(spec: TensorSpec) -> tuple[int, ...]:
    """A second valid shape for pnnx's ``inputshape2``: every dynamic axis about a quarter (then
    nearly half) smaller, a multiple of ``size_multiple``, and each axis a different size (so pnnx
    can tell height from width). The change is large on purpose: pnnx writes any size that comes
    out the same at both shapes as a constant, and a small change leaves the coarsest feature maps
    alike (640 and 544 both give 5 cells at stride 128, and FCOS's P7 came out fixed)."""
    shape = list(spec.shape)
    step = spec.size_multiple
    for k, axis in enumerate(spec.dynamic_axes):
        ratio = max(0.75 - 0.2 * k, 0.3)
        alt = max(step, int(shape[axis] * ratio) // step * step)
        shape[axis] = alt if alt != shape[axis] else shape[axis] + (k + 1) * step
    return tuple(shape)


def pnnx_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pnnx")
    except PackageNotFoundError:
        return "unknown"


def pnnx_step(ctx: ExportContext, inputs: dict[str, Path]) -> StepResult:
    """Run the pnnx executable on the TorchScript file; keep the ncnn pair, drop pnnx's scratch.

    Every path on pnnx's command line is absolute: pnnx runs in a scratch folder."""
    if "torchscript" not in inputs:
        raise ExportError("the pnnx step needs a 'torchscript' input: put 'trace' before 'pnnx' in the recipe")
    pnnx = require("pnnx", "export", "to convert TorchScript to ncnn")
    opts = ctx.options("pnnx")
    fp16 = bool(opts.get("fp16", False))
    optlevel = int(opts.get("optlevel", 2))
    shapes = _pnnx_shapes(ctx.component.inputs, [s.shape for s in ctx.component.inputs])
    # Dynamic axes: a second set of shapes lets pnnx tell which sizes follow the input and write
    # them as expressions (Reshape 6="*(0h,0w),144") instead of the traced constants; without it a
    # graph traced at 640x640 silently computes garbage at 480x640.
    alternative = [alternative_shape(s) for s in ctx.component.inputs]
    shapes2 = (
        _pnnx_shapes(ctx.component.inputs, alternative) if any(s.dynamic_axes for s in ctx.component.inputs) else ""
    )
    param, binfile = ctx.path("ncnn.param").resolve(), ctx.path("ncnn.bin").resolve()
    with tempfile.TemporaryDirectory(prefix="pnnx-", dir=ctx.work_dir) as scratch:
        s = Path(scratch).resolve()
        cmd = [
            pnnx.EXEC_PATH,
            str(Path(inputs["torchscript"]).resolve()),
            f"inputshape={shapes}",
            *([f"inputshape2={shapes2}"] if shapes2 else []),
            "device=cpu",
            f"optlevel={optlevel}",
            f"fp16={1 if fp16 else 0}",
            f"pnnxparam={s / 'model.pnnx.param'}",
            f"pnnxbin={s / 'model.pnnx.bin'}",
            f"pnnxpy={s / 'model_pnnx.py'}",
            f"pnnxonnx={s / 'model.pnnx.onnx'}",
            f"ncnnparam={param}",
            f"ncnnbin={binfile}",
            f"ncnnpy={s / 'model_ncnn.py'}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=scratch)
    if proc.returncode != 0 or not param.is_file() or not binfile.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ExportError(f"pnnx failed on {ctx.spec.id} ({ctx.role}, exit {proc.returncode}): {' | '.join(tail)}")
    unconverted = unconverted_ops(param)
    if unconverted:
        # pnnx exits 0 and writes ops it could not map to ncnn (torch.argmax, Tensor.index,
        # pnnx.Expression...) as layer types ncnn does not have; ncnn would refuse the whole file
        ops = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in unconverted.items())
        raise ExportError(
            f"pnnx left {ops} unconverted in {ctx.spec.id} ({ctx.role}): ncnn has no such layers; "
            "rewrite that part of the module with ops pnnx maps to ncnn"
        )
    unsupported = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "not supported" in line]
    return StepResult(
        "pnnx",
        {"param": param, "bin": binfile},
        {
            "pnnx": pnnx_version(),
            "fp16": fp16,
            "optlevel": optlevel,
            "inputshape": shapes,
            "inputshape2": shapes2 or None,
            "warnings": unsupported[:20],
        },
    )


def unconverted_ops(param: Path) -> dict[str, int]:
    """Layer types in an ncnn .param that pnnx left as PyTorch ops, with their counts.

    ncnn's layer types are plain identifiers (``Convolution``, ``Gemm``); what pnnx could not
    convert keeps its PyTorch name, which always has a dot (``torch.argmax``, ``Tensor.index``,
    ``F.embedding``, ``pnnx.Expression``)."""
    from zoo.runtimes.ncnn.param import read_param

    counts: dict[str, int] = {}
    for layer in read_param(param).layers:
        if "." in layer.type:
            counts[layer.type] = counts.get(layer.type, 0) + 1
    return dict(sorted(counts.items()))


def int8_step(ctx: ExportContext, inputs: dict[str, Path]) -> StepResult:
    """Post-training int8: calibrate activations on the component's own inputs (recorded from the
    task's predictor on calibration images), write ncnn int8. Options (the model's int8 recipe):
    method, keep_float, keep_float_types, centre_clipped, bias_correction, gemm (``quantize_ncnn``)."""
    if "param" not in inputs or "bin" not in inputs:
        raise ExportError("the int8 step needs fp32 'param' and 'bin' inputs: put 'pnnx' before 'int8' in the recipe")
    if ctx.calibration is None:
        raise InputError("int8 export needs calibration images: pass --calib DIR (a folder of images)")
    from zoo.convert.int8 import quantize_ncnn

    opts = ctx.options("int8")
    out_param, out_bin = ctx.path("int8.ncnn.param"), ctx.path("int8.ncnn.bin")
    report = quantize_ncnn(
        inputs["param"],
        inputs["bin"],
        ctx.calibration(),
        out_param,
        out_bin,
        method=opts.get("method") or "kl",
        keep_float=tuple(opts.get("keep_float", ())),
        gemm=bool(opts.get("gemm", False)),
        keep_float_types=tuple(opts.get("keep_float_types", ())),
        centre_clipped=bool(opts.get("centre_clipped", False)),
        bias_correction=bool(opts.get("bias_correction", False)),
    )
    return StepResult("int8", {"param": out_param, "bin": out_bin}, report.model_dump(mode="json"))


def onnx_step(ctx: ExportContext, inputs: dict[str, Path]) -> StepResult:
    """torch.onnx.export with the TorchScript-based exporter (``dynamo=False``: no onnxscript
    here), static shapes, input and output names as the spec's (in0…, out0…)."""
    torch = require("torch", "export", "to export models")
    require("onnx", "onnx", "to export ONNX models")
    model = ctx.model.eval()
    example = example_inputs(ctx)
    out = ctx.path("onnx").resolve()
    names_in = [t.name for t in ctx.component.inputs]
    with torch.no_grad():
        sample = model(*example)
    n_out = len(sample) if isinstance(sample, (tuple, list)) else 1
    names_out = [t.name for t in ctx.component.outputs] or [f"out{i}" for i in range(n_out)]
    opset = int(ctx.options("onnx").get("opset", 17))
    dynamic = {t.name: {a: f"{t.name}_{a}" for a in t.dynamic_axes} for t in ctx.component.inputs if t.dynamic_axes}
    with torch.no_grad():
        torch.onnx.export(
            model, example, str(out), input_names=names_in, output_names=names_out, opset_version=opset, dynamo=False,
            dynamic_axes=dynamic or None,
        )  # fmt: skip
    return StepResult("onnx", {"model": out}, {"torch": torch.__version__, "opset": opset})
