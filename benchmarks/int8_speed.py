"""ResNet-18 in ncnn: fp32 vs zoo's int8 writer, latency at 1 and 2 threads and fidelity.

    .venv/bin/python benchmarks/int8_speed.py [--method kl] [--rounds 40] [--json out.json]

What it does, so the numbers can be read:
- Builds ``zoo_classifier.resnet.resnet18`` with random conv/fc weights, BatchNorm statistics
  measured on the calibration photos with random affine terms, and the fc bias set to cancel
  the mean pooled feature (a fresh ResNet gives the same class for every photo, which would
  make top-1 agreement meaningless; see ``build_resnet18``), exports it with pnnx, and quantizes it with
  ``zoo.convert.int8.quantize_ncnn`` on crops of real photos (scikit-image and scikit-learn
  bundled images), preprocessed as ImageNet (shorter side 256, centre crop 224, mean/std).
- Latency: the four configurations (fp32/int8 x 1/2 threads) are timed interleaved, one
  inference each per round, after a warm-up, so a neighbour's load hits them all alike. Median,
  p90 and min in ms, ``time.perf_counter_ns``. ncnn's default Option flags on both sides
  (printed), plus ``use_int8_inference`` for int8.
- Fidelity: int8 vs fp32 on evaluation crops that are not the calibration crops (same photos,
  other crops and mirrors): top-1 agreement and mean cosine of the logits, with fp16 off on
  both sides so the difference is int8's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def photos() -> list[np.ndarray]:
    """Real RGB photos bundled with scikit-image and scikit-learn (no download)."""
    import skimage.data as data
    from sklearn.datasets import load_sample_images

    out = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out.append(data.stereo_motorcycle()[0])
    out += list(load_sample_images().images)
    out += [data.hubble_deep_field(), data.immunohistochemistry()]
    return [np.ascontiguousarray(p[..., :3]) for p in out]


def imagenet_input(
    rgb: np.ndarray,
    shorter: int = 256,
    crop: int = 224,
    dx: float = 0.5,
    dy: float = 0.5,
    mirror: bool = False,
) -> np.ndarray:
    """Resize the shorter side, crop ``crop`` at relative position (dx, dy), normalise, NCHW."""
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = shorter / min(h, w)
    size = (max(crop, round(w * scale)), max(crop, round(h * scale)))
    img = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
    top = round((img.shape[0] - crop) * dy)
    left = round((img.shape[1] - crop) * dx)
    img = img[top : top + crop, left : left + crop]
    if mirror:
        img = img[:, ::-1]
    x = (img.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def calibration_set(images: list[np.ndarray], n: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    out = []
    while len(out) < n:
        for rgb in images:
            shorter = int(rng.integers(232, 320))
            out.append({"in0": imagenet_input(rgb, shorter, 224, rng.random(), rng.random(), bool(rng.integers(2)))})
    return out[:n]


def evaluation_set(images: list[np.ndarray], n: int) -> list[dict[str, np.ndarray]]:
    grid = [(0.5, 0.5, False), (0.5, 0.5, True), (0.0, 0.0, False), (1.0, 1.0, True)]
    out = [{"in0": imagenet_input(rgb, 256, 224, dx, dy, m)} for dx, dy, m in grid for rgb in images]
    return out[:n]


def build_resnet18(tmp: Path, feature_images: list[dict[str, np.ndarray]]) -> tuple[Path, Path]:
    """Random ResNet-18 that behaves like a trained one where int8 cares, exported with pnnx.

    A fresh ResNet-18 gives one class for every photo, so top-1 agreement would be meaningless.
    Two changes, both from ``feature_images`` (the calibration crops, never the evaluation ones):
    - BatchNorm running statistics are measured on the photos (cumulative average, train-mode
      forward), with random affine terms (gamma ~ U(0.5, 1.5), beta ~ N(0, 0.2)): every layer's
      activations are then normalised the way a trained network's BN keeps them.
    - the fc bias is set to ``-W @ mean(pooled features)``, so the part of the logits common to
      all photos cancels and the top-1 follows what differs between photos.
    (With zoo_classifier's ``randomize_batchnorm`` instead of measured statistics, the pooled
    features vary less from photo to photo and int8 agreement is lower: see the report.)
    """
    import pnnx
    import torch
    from torch import nn

    try:
        from zoo_classifier.resnet import resnet18
    except ImportError:
        sys.path.insert(0, str(REPO / "plugins" / "zoo-classifier"))
        from zoo_classifier.resnet import resnet18

    torch.manual_seed(0)
    model = resnet18()
    gen = torch.Generator().manual_seed(0)
    batch = torch.from_numpy(np.concatenate([s["in0"] for s in feature_images]))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the batch
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
        model.train()(batch)
        model.eval()
        feats: list[torch.Tensor] = []
        hook = model.avgpool.register_forward_hook(lambda _m, _i, out: feats.append(out.flatten(1)))
        model(batch)
        hook.remove()
        model.fc.bias.copy_(-(model.fc.weight @ torch.cat(feats).mean(0)))
    pnnx.export(model, str(tmp / "resnet18.pt"), (torch.rand(1, 3, 224, 224),))
    return tmp / "resnet18.ncnn.param", tmp / "resnet18.ncnn.bin"


def option_flags(opt: object) -> dict[str, object]:
    names = (
        "num_threads",
        "use_fp16_storage",
        "use_fp16_arithmetic",
        "use_fp16_packed",
        "use_bf16_storage",
        "use_int8_inference",
        "use_packing_layout",
        "use_winograd_convolution",
        "use_sgemm_convolution",
    )
    return {n: getattr(opt, n) for n in names if hasattr(opt, n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="kl", choices=["minmax", "kl", "aciq"])
    ap.add_argument("--calib", type=int, default=32, help="calibration crops")
    ap.add_argument("--eval", type=int, default=24, help="evaluation crops (>= 20; at most 4 per photo, 36)")
    ap.add_argument("--rounds", type=int, default=40, help="timed rounds per configuration")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--keep-float", nargs="*", default=[], help="ncnn layer names left float")
    ap.add_argument("--save", type=Path, help="copy the fp32 and int8 ncnn files to this folder")
    ap.add_argument("--models", type=Path, help="time the files a --save run left, no rebuild")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    import ncnn

    if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(REPO))
    from zoo.convert.calibrate import fp32_option, load_net, to_ncnn_inputs
    from zoo.convert.int8 import Int8Report, cosine, int8_option, quantize_ncnn, run_outputs

    images = photos()
    calib = calibration_set(images, args.calib)
    evals = [to_ncnn_inputs(s, ["in0"]) for s in evaluation_set(images, args.eval)]
    with tempfile.TemporaryDirectory(prefix="zoo-int8-bench-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        if args.models:  # reuse what --save wrote: time again without rebuilding
            tmp = args.models
            param, bin_ = tmp / "resnet18.ncnn.param", tmp / "resnet18.ncnn.bin"
            t1 = time.perf_counter()
            report = Int8Report.model_validate_json((tmp / "int8.report.json").read_text())
        else:
            param, bin_ = build_resnet18(tmp, calib)
            t1 = time.perf_counter()
            report = quantize_ncnn(
                param, bin_, calib, tmp / "int8.param", tmp / "int8.bin", args.method, args.keep_float
            )
        t2 = time.perf_counter()
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for f in (param, bin_, tmp / "int8.param", tmp / "int8.bin"):
                shutil.copy(f, args.save / f.name)
            (args.save / "int8.report.json").write_text(report.model_dump_json(indent=2))

        # Fidelity, fp16 off on both sides.
        ref = load_net(param, bin_, fp32_option(ncnn))
        q = load_net(tmp / "int8.param", tmp / "int8.bin", int8_option(ncnn))
        pairs = [(run_outputs(ref, x), run_outputs(q, x)) for x in evals]
        agree = float(np.mean([np.argmax(a) == np.argmax(b) for a, b in pairs]))
        cosines = [cosine(a, b) for a, b in pairs]
        distinct_top1 = len({int(np.argmax(a)) for a, _ in pairs})
        # Yardstick: ncnn's default options (fp16 storage where the CPU has it) vs fp32.
        default = load_net(param, bin_, ncnn.Option())
        default_top1 = [int(np.argmax(run_outputs(default, x))) for x in evals]
        fp16_agree = float(np.mean([d == np.argmax(a) for d, (a, _) in zip(default_top1, pairs, strict=True)]))

        # Latency, ncnn defaults, interleaved.
        nets = {}
        for threads in (1, 2):
            opt = ncnn.Option()
            opt.num_threads = threads
            nets[f"fp32 {threads}t"] = load_net(param, bin_, opt)
            opt8 = ncnn.Option()
            opt8.num_threads = threads
            opt8.use_int8_inference = True
            nets[f"int8 {threads}t"] = load_net(tmp / "int8.param", tmp / "int8.bin", opt8)
        flags = {name: option_flags(net.opt) for name, net in nets.items()}
        x = ncnn.Mat(evals[0]["in0"])

        def once(net: object) -> int:
            ex = net.create_extractor()
            ex.input("in0", x)
            start = time.perf_counter_ns()
            ret, _ = ex.extract("out0")
            elapsed = time.perf_counter_ns() - start
            if ret != 0:
                raise RuntimeError(f"ncnn extract failed: {ret}")
            return elapsed

        for net in nets.values():
            for _ in range(args.warmup):
                once(net)
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {name: [] for name in nets}
        for _ in range(args.rounds):
            for name, net in nets.items():
                times[name].append(once(net) / 1e6)
        load_after = os.getloadavg()

    def summary(ts: list[float]) -> dict[str, float]:
        ts = sorted(ts)
        return {
            "median_ms": statistics.median(ts),
            "p90_ms": ts[int(0.9 * (len(ts) - 1))],
            "min_ms": ts[0],
            "stdev_ms": statistics.stdev(ts),
        }

    lat = {name: summary(ts) for name, ts in times.items()}
    result = {
        "model": "resnet18 (random weights, BN stats from photos, centred fc bias), 1x3x224x224",
        "method": report.method,
        "calibration_count": report.calibration_count,
        "quantized_layers": len(report.layers),
        "kept_float": report.kept_float,
        "eval_inputs": len(pairs),
        "top1_agreement": agree,
        "mean_cosine": float(np.mean(cosines)),
        "min_cosine": float(np.min(cosines)),
        "distinct_fp32_top1": distinct_top1,
        "fp32_default_options_top1_agreement": fp16_agree,
        "latency": lat,
        "speedup_1t": lat["fp32 1t"]["median_ms"] / lat["int8 1t"]["median_ms"],
        "speedup_2t": lat["fp32 2t"]["median_ms"] / lat["int8 2t"]["median_ms"],
        "speedup_min_1t": lat["fp32 1t"]["min_ms"] / lat["int8 1t"]["min_ms"],
        "speedup_min_2t": lat["fp32 2t"]["min_ms"] / lat["int8 2t"]["min_ms"],
        "rounds": args.rounds,
        "loadavg_before_after": [load_before[0], load_after[0]],
        "contended": load_before[0] > 1.0 or load_after[0] > 1.0,
        "option_flags": flags,
        "export_s": round(t1 - t0, 1),
        "quantize_s": round(t2 - t1, 1),
        "host": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            **report.tool_versions,
        },
    }
    print(f"model      {result['model']}")
    print(
        f"int8       method={report.method} calibration={report.calibration_count} crops, "
        f"{len(report.layers)} layers int8, kept float: {report.kept_float or 'none'}, "
        f"quantize {result['quantize_s']} s"
    )
    print(
        f"fidelity   top-1 agreement {agree:.1%} over {len(pairs)} real-photo inputs "
        f"({distinct_top1} distinct fp32 classes), cosine mean {result['mean_cosine']:.5f} "
        f"min {result['min_cosine']:.5f}"
    )
    print(f"yardstick  ncnn default options (fp16 storage) vs fp32: top-1 agreement {fp16_agree:.1%}")
    print(f"latency    {args.rounds} interleaved rounds, ms: median / p90 / min")
    for name, s in lat.items():
        print(f"  {name:8} {s['median_ms']:7.1f} {s['p90_ms']:7.1f} {s['min_ms']:7.1f}")
    print(
        f"speedup    int8 vs fp32: {result['speedup_1t']:.2f}x at 1 thread, "
        f"{result['speedup_2t']:.2f}x at 2 threads (goal >= 1.4x); from the minima "
        f"{result['speedup_min_1t']:.2f}x / {result['speedup_min_2t']:.2f}x"
    )
    print(
        f"load avg   before {load_before[0]:.2f} after {load_after[0]:.2f}"
        + (
            "  (CONTENDED: other processes use the cores; ratios more trustworthy than ms)"
            if result["contended"]
            else ""
        )
    )
    print(f"flags      fp32: {flags['fp32 1t']}")
    print(f"           int8: {flags['int8 1t']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
