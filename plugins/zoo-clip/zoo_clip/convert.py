"""Trace one CLIP tower and convert it through pnnx to ncnn (torch side; export machines only).

A stop-gap until the core's export chain traces each component of a multi-component spec: the
same two steps as ``zoo.export.steps`` (``torch.jit.trace`` at static shapes, then the pnnx
executable with explicit output paths and its exit status checked), for one module at a time.
pnnx names the inputs in0, in1, ... in forward-argument order and the outputs out0, ...
"""

from __future__ import annotations

import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

from zoo.errors import ExportError

_PNNX_DTYPE = {"torch.float32": "f32", "torch.int64": "i64", "torch.int32": "i32"}


def convert(module: Any, example: tuple[Any, ...], out_dir: Path, name: str, fp16: bool = False) -> dict[str, Path]:
    """TorchScript-trace ``module`` on ``example`` and convert it; returns {"param", "bin", "pnnx_log"}.

    ``pnnx_log`` holds pnnx's stdout/stderr (what it fused, what it could not convert).
    """
    import pnnx
    import torch

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    param, binfile, log = out_dir / f"{name}.ncnn.param", out_dir / f"{name}.ncnn.bin", out_dir / f"{name}.pnnx.log"
    shapes = ",".join("[" + ",".join(str(d) for d in t.shape) + "]" + _PNNX_DTYPE[str(t.dtype)] for t in example)
    with tempfile.TemporaryDirectory(prefix="pnnx-", dir=out_dir) as scratch:
        s = Path(scratch)
        ts = s / "model.torchscript.pt"
        with torch.no_grad(), warnings.catch_warnings():
            # the towers branch on the (static) batch size; a trace is for one shape anyway
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(module.eval(), example, check_trace=False)
        traced.save(str(ts))
        cmd = [
            pnnx.EXEC_PATH, str(ts), f"inputshape={shapes}", "device=cpu", f"fp16={1 if fp16 else 0}",
            f"pnnxparam={s / 'm.pnnx.param'}", f"pnnxbin={s / 'm.pnnx.bin'}", f"pnnxpy={s / 'm_pnnx.py'}",
            f"pnnxonnx={s / 'm.pnnx.onnx'}", f"ncnnparam={param}", f"ncnnbin={binfile}", f"ncnnpy={s / 'm_ncnn.py'}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=scratch)
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0 or not param.is_file() or not binfile.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ExportError(f"pnnx failed on {name} (exit {proc.returncode}): {' | '.join(tail)}")
    left = sorted(t for t in layer_types(param) if "." in t)
    if left:
        # pnnx exits 0 and writes ops it could not map (torch.argmax, Tensor.index, ...) as layer
        # types ncnn does not have; ncnn then refuses the whole .param at load time
        raise ExportError(f"pnnx could not convert {', '.join(left)} in {name} to ncnn layers; "
                          "rewrite that part of the module (see zoo_clip.nets.clip.TextTower)")
    return {"param": param, "bin": binfile, "pnnx_log": log}


def layer_types(param: Path) -> dict[str, int]:
    """Count of each ncnn layer type in a .param (what pnnx turned the module into)."""
    counts: dict[str, int] = {}
    for line in Path(param).read_text().splitlines()[2:]:
        fields = line.split()
        if fields:
            counts[fields[0]] = counts.get(fields[0], 0) + 1
    return counts
