"""NanoTrack's two components, each traced and converted by pnnx on its own, run in ncnn against PyTorch.

What the core's per-component export will do (trace at static shapes -> pnnx -> ncnn .param/.bin;
inputs in0, in1... in forward-argument order, outputs out0, out1... in return order), done here
by hand with the real pnnx executable and the real ncnn.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pnnx = pytest.importorskip("pnnx")
ncnn = pytest.importorskip("ncnn")

from zoo_tracker.sot import nets  # noqa: E402

FP32 = {"use_fp16_packed": False, "use_fp16_storage": False, "use_fp16_arithmetic": False, "use_packing_layout": True}


def convert(module: torch.nn.Module, example: tuple[torch.Tensor, ...], out: Path) -> tuple[Path, Path, str]:
    """torch.jit.trace -> pnnx (explicit output paths, checked exit status) -> ncnn files and pnnx's log."""
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.jit.trace(module, example).save(str(out / "model.pt"))
    shapes = ",".join("[" + ",".join(str(d) for d in t.shape) + "]f32" for t in example)
    param, binfile = out / "model.ncnn.param", out / "model.ncnn.bin"
    scratch = {k: out / f"scratch.{k}" for k in ("pnnxparam", "pnnxbin", "pnnxpy", "pnnxonnx", "ncnnpy")}
    cmd = [pnnx.EXEC_PATH, str(out / "model.pt"), f"inputshape={shapes}", "device=cpu", "fp16=0",
           *(f"{k}={v}" for k, v in scratch.items()), f"ncnnparam={param}", f"ncnnbin={binfile}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0 and param.is_file(), proc.stderr[-2000:]
    return param, binfile, proc.stdout + proc.stderr


def run_ncnn(param: Path, binfile: Path, feeds: list[np.ndarray], n_out: int) -> list[np.ndarray]:
    net = ncnn.Net()
    for k, v in FP32.items():
        setattr(net.opt, k, v)
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(binfile)) == 0
    # ncnn.Mat wraps the array's memory without copying: the arrays must outlive the extractor
    keep = [np.ascontiguousarray(a[0], dtype=np.float32) for a in feeds]
    mats = [ncnn.Mat(a) for a in keep]
    ex = net.create_extractor()
    for i, m in enumerate(mats):
        assert ex.input(f"in{i}", m) == 0
    outs = []
    for i in range(n_out):
        ret, mat = ex.extract(f"out{i}")
        assert ret == 0
        outs.append(np.array(mat)[None])
    return outs


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.slow
@pytest.mark.parametrize("xcorr", ["conv", "slices"])
def test_components_convert_and_match_pytorch(xcorr: str, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    weights = os.environ.get("ZOO_NANOTRACK_CKPT") or None
    weights = weights if weights and Path(weights).is_file() else None
    comps = nets.components(nets.build(weights, xcorr=xcorr))
    rng = np.random.default_rng(0)
    z = (rng.random((1, 3, 127, 127)) * 255).astype(np.float32)
    x = (rng.random((1, 3, 255, 255)) * 255).astype(np.float32)
    with torch.no_grad():
        zf = comps["template"](torch.from_numpy(z))
        cls, reg = comps["search"](torch.from_numpy(x), zf)

    param, binfile, log = convert(comps["template"], (torch.from_numpy(z),), tmp_path / "template")
    assert "not supported" not in log
    (zf_ncnn,) = run_ncnn(param, binfile, [z], 1)
    assert zf_ncnn.shape == (1, 96, 8, 8)
    assert rel_diff(zf_ncnn, zf.numpy()) < 1e-4  # measured ~1e-6

    param, binfile, log = convert(comps["search"], (torch.from_numpy(x), zf), tmp_path / "search")
    assert "not supported" not in log
    lines = param.read_text().splitlines()
    assert sum(line.startswith("Input ") for line in lines) == 2
    if xcorr == "conv":
        # the run-time-kernel grouped conv became ncnn depth-wise convolutions with a dynamic weight (19=1)
        dynamic = [line for line in lines if line.startswith("ConvolutionDepthWise") and " 19=1" in line]
        assert len(dynamic) == 2 and all(line.split()[2] == "2" for line in dynamic)  # two inputs: data, kernel
    else:
        assert not any(" 19=1" in line for line in lines)
    # the search component fed the template features ncnn computed, as the runtime will
    cls_ncnn, reg_ncnn = run_ncnn(param, binfile, [x, zf_ncnn], 2)
    assert cls_ncnn.shape == (1, 2, 15, 15) and reg_ncnn.shape == (1, 4, 15, 15)
    assert rel_diff(cls_ncnn, cls.numpy()) < 1e-3  # measured ~1e-6
    assert rel_diff(reg_ncnn, reg.numpy()) < 1e-3
