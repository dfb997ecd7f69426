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
    shapes = ",".join(
        "[" + ",".join(str(d) for d in s.shape) + "]" + _TORCH_TO_PNNX[s.dtype] for s in ctx.component.inputs
    )
    param, binfile = ctx.path("ncnn.param").resolve(), ctx.path("ncnn.bin").resolve()
    with tempfile.TemporaryDirectory(prefix="pnnx-", dir=ctx.work_dir) as scratch:
        s = Path(scratch).resolve()
        cmd = [
            pnnx.EXEC_PATH,
            str(Path(inputs["torchscript"]).resolve()),
            f"inputshape={shapes}",
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
    unsupported = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "not supported" in line]
    return StepResult(
        "pnnx",
        {"param": param, "bin": binfile},
        {
            "pnnx": pnnx_version(),
            "fp16": fp16,
            "optlevel": optlevel,
            "inputshape": shapes,
            "warnings": unsupported[:20],
        },
    )


def int8_step(ctx: ExportContext, inputs: dict[str, Path]) -> StepResult:
    """Post-training int8: calibrate activations on the component's own inputs (recorded from the
    task's predictor on calibration images), write ncnn int8."""
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
    with torch.no_grad():
        torch.onnx.export(
            model, example, str(out), input_names=names_in, output_names=names_out, opset_version=opset, dynamo=False
        )
    return StepResult("onnx", {"model": out}, {"torch": torch.__version__, "opset": opset})
