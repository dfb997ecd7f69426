"""yolov8n / yolov8n-seg, trained: int8 vs fp32 (per calibration method) and rect vs square.

    .venv/bin/python benchmarks/int8_detector.py --ultralytics-python /tmp/ultra-venv/bin/python \
        [--model yolov8n|yolov8n-seg] [--epochs 64] [--train 480] [--batch 8] [--eval 48] [--methods minmax,kl,aciq] \
        [--threads 1,2] [--workdir /tmp/zoo-int8-detector] [--train-only] [--json out.json]

Why: no trained detector or segmenter weights are reachable offline, and a random-weights model
scores every box near its class prior (about 1e-4, with exact ties), so "mAP of int8 against fp32"
or "what rectangular inference costs in accuracy" measured on one is noise. This script makes a
model whose scores mean something:

1. A synthetic set (``zoo_detector.synthetic``: photo crops with 1-6 non-overlapping circles,
   rectangles and triangles, each mask exactly its polygon), seeded: 320x320 training images in
   Ultralytics' YOLO format (boxes, or polygons for the segmenter), and held-out 640x480 (4:3)
   images in COCO format with polygon masks, another seed.
2. Ultralytics trains ``YOLO('yolov8n.yaml')`` (or ``yolov8n-seg.yaml``) on it, 80 class slots as in
   COCO with the first three used, so the checkpoint loads into zoo's model as an upstream one
   does; in the separate Ultralytics venv (benchmarks/ultralytics_vs_zoo.py says how to make it;
   Ultralytics is AGPL and never a zoo dependency). Made once per workdir and model.
3. zoo exports the checkpoint to ncnn fp32 and to int8 with each calibration method (calibrated on
   training images, half of them cropped to 4:3, through the task's own predictor: at the 640x640
   square and the 480x640 rectangle inference sees), then on the held-out set:
   - COCO mAP against the ground truth (the task's evaluator: box mAP, plus mask mAP for the
     segmenter), fp32 rectangular (the default: 480x640 for these 4:3 images), fp32 square
     (``rect=False``: 640x640) and int8 (rectangular); fp32 rect and square again on a second
     held-out set of 640x360 (16:9) frames (384x640 against 640x640);
   - int8 scored against fp32 (fp32 at the working threshold 0.25 as ground truth, int8 at 0.001):
     box mAP, and mask mAP for the segmenter; the same for square scored against rect;
   - the networks alone (ncnn) fp32 vs int8 at the 480x640 rectangle and the 640x640 square,
     interleaved, at each thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "zoo-int8-detector"
HELD_OUT = (640, 480)  # width, height: a 4:3 photo
WIDE = (640, 360)  # and a 16:9 frame: rect runs it at 384x640, 40% fewer pixels than the square


# -- training (Ultralytics venv; stdlib + ultralytics only) -------------------------------------------
def worker_train(job: dict[str, Any]) -> dict[str, Any]:
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    torch.set_num_threads(int(job.get("threads") or os.cpu_count() or 1))
    t0 = time.perf_counter()
    model = YOLO(job.get("init") or job["yaml"])  # from scratch, or on from an earlier run's weights
    model.train(
        data=job["data"], epochs=job["epochs"], imgsz=320, batch=job.get("batch", 16), workers=0, device="cpu",
        project=job["project"], name="train", exist_ok=True, plots=False, amp=False, seed=0,
        deterministic=False, verbose=False, val=True, mosaic=1.0, close_mosaic=5,
        # Ultralytics' optimizer="auto" picks AdamW at lr 0.002*5/(4+nc) for short runs: 1.2e-4 with the 80
        # COCO class slots, too small to learn anything in a CPU budget (30 epochs reached box mAP 0.017)
        optimizer="AdamW", lr0=job.get("lr0", 0.002), warmup_epochs=1.0, cos_lr=True,
    )  # fmt: skip
    best = Path(job["project"]) / "train" / "weights" / "best.pt"
    metrics = model.val(data=job["data"], imgsz=320, batch=16, device="cpu", plots=False, verbose=False)
    out = {"checkpoint": str(best), "train_s": round(time.perf_counter() - t0, 1),
           "val_box_map50_95_train_style": float(metrics.box.map)}  # fmt: skip
    if hasattr(metrics, "seg"):
        out["val_mask_map50_95_train_style"] = float(metrics.seg.map)
    return out


def train(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    from zoo_detector.synthetic import write_coco, write_yolo

    masks = args.model == "yolov8n-seg"
    if not args.init:
        shutil.rmtree(data, ignore_errors=True)
        write_yolo(data, "train", args.train, 320, seed=0, masks=masks)
        write_yolo(data, "val", 16, 320, seed=500, masks=masks)  # Ultralytics wants one (never the held-out set)
        write_coco(data / "heldout", args.eval, *HELD_OUT, seed=1000)
    project = args.workdir / f"runs-{args.model}" / ("more" if args.init else "")
    job = {"data": str(data / "data.yaml"), "epochs": args.epochs, "project": str(project), "batch": args.batch,
           "yaml": "yolov8n-seg.yaml" if masks else "yolov8n.yaml", "threads": args.train_threads,
           "init": args.init, "lr0": args.lr0}  # fmt: skip
    env = {**os.environ, "YOLO_CONFIG_DIR": str(args.workdir / "ultralytics-config"), "YOLO_OFFLINE": "1"}
    log = args.workdir / f"train-{args.model}.log"
    with log.open("w") as fh:
        proc = subprocess.run([args.ultralytics_python, __file__, "--worker", json.dumps(job)],
                              stdout=subprocess.PIPE, stderr=fh, text=True, env=env, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"training failed (exit {proc.returncode}); see {log}")
    out = json.loads(proc.stdout.strip().splitlines()[-1]) | {"epochs": args.epochs, "train_images": args.train}
    if args.init:  # the epochs of the run it went on from count too
        before = json.loads((args.workdir / f"trained-{args.model}.json").read_text())
        out |= {"epochs": before["epochs"] + args.epochs, "train_s": before["train_s"] + out["train_s"],
                "runs": [*before.get("runs", [before["epochs"]]), args.epochs]}  # fmt: skip
    return out


# -- zoo side -----------------------------------------------------------------------------------------
def _evaluate(name: str, folder: Path, held: Path, rect: bool) -> dict[str, float]:
    from zoo import api

    report = api.evaluate(name, held, artifacts=folder, threads=1, options={"rect": rect}, write_card=False)
    return {m.name: m.value for m in report.metrics}


def _results(pipeline: Any, images: list[Any], **options: Any) -> list[Any]:
    return [pipeline(im, **options) for im in images]


def _fidelity(ref: list[Any], cand: list[Any], masks: bool) -> dict[str, float]:
    from zoo.eval.coco import detections_agreement_map, masks_agreement_map

    out = {"box_map": detections_agreement_map(ref, cand)}
    if masks:
        out["mask_map"] = masks_agreement_map(ref, cand)
    return out


def _latency(sessions: dict[str, Any], inputs: dict[str, Any], rounds: int) -> dict[str, dict[str, float]]:
    """Interleaved: each round runs every (session, shape) once, so load hits all alike."""
    samples: dict[str, list[float]] = {}
    for _ in range(2):
        for session, x in inputs.values():
            session.run(x)
    for _ in range(rounds):
        for key, (session, x) in inputs.items():
            t = time.perf_counter_ns()
            session.run(x)
            samples.setdefault(key, []).append((time.perf_counter_ns() - t) / 1e6)
    return {k: {"median_ms": statistics.median(v), "min_ms": min(v)} for k, v in samples.items()}


def zoo_side(args: argparse.Namespace, checkpoint: str, data: Path) -> dict[str, Any]:
    from zoo import api
    from zoo.flows.artifacts import load_sessions
    from zoo.images import load_image

    name, masks = args.model, args.model == "yolov8n-seg"
    held = data / "heldout"
    calib_dir = args.workdir / f"calib-{name}"
    shutil.rmtree(calib_dir, ignore_errors=True)
    calib_dir.mkdir(parents=True)
    from PIL import Image

    # the shapes inference sees: half the calibration images cropped to 4:3 (the held-out photos' shape)
    for i, p in enumerate(sorted((data / "images" / "train").glob("*.jpg"))[: args.calib]):
        if i % 2:
            with Image.open(p) as im:
                im.crop((0, 40, 320, 280)).save(calib_dir / p.name, quality=95)
        else:
            shutil.copy(p, calib_dir / p.name)
    t0 = time.perf_counter()
    exports = {"fp32": api.export(name, "fp32", weights=checkpoint, out_dir=args.workdir / f"{name}-fp32")}
    for method in args.methods:
        exports[f"int8-{method}"] = api.export(name, "int8", weights=checkpoint, calib=calib_dir, method=method,
                                               out_dir=args.workdir / f"{name}-int8-{method}")  # fmt: skip
    export_s = time.perf_counter() - t0
    accuracy = {"fp32 rect": _evaluate(name, exports["fp32"].folder, held, True),
                "fp32 square": _evaluate(name, exports["fp32"].folder, held, False)}  # fmt: skip
    wide = data / "heldout-16x9"
    if not (wide / "annotations").is_dir():
        from zoo_detector.synthetic import write_coco

        write_coco(wide, args.eval, *WIDE, seed=2000)
    accuracy |= {"fp32 rect 16:9": _evaluate(name, exports["fp32"].folder, wide, True),
                 "fp32 square 16:9": _evaluate(name, exports["fp32"].folder, wide, False)}  # fmt: skip
    for key, exp in exports.items():
        if key != "fp32":
            accuracy[f"{key} rect"] = _evaluate(name, exp.folder, held, True)
    images = [load_image(p) for p in sorted((held / "val2017").glob("*.png"))]
    fp32 = api.load(name, artifacts=exports["fp32"].folder, threads=1)
    ref = _results(fp32, images, conf=0.25)
    fidelity = {"fp32 itself": _fidelity(ref, _results(fp32, images, conf=0.001), masks),
                "square vs rect (fp32)": _fidelity(ref, _results(fp32, images, conf=0.001, rect=False), masks)}  # fmt: skip
    for key, exp in exports.items():
        if key != "fp32":
            with api.load(name, artifacts=exp.folder, threads=1) as pipe:
                fidelity[f"{key} vs fp32"] = _fidelity(ref, _results(pipe, images, conf=0.001), masks)
    x_rect, _ = fp32.task.preprocess(images[0], fp32.spec.pre, rect=True)
    x_square, _ = fp32.task.preprocess(images[0], fp32.spec.pre, rect=False)
    fp32.close()
    best = max((k for k in exports if k != "fp32"), key=lambda k: fidelity[f"{k} vs fp32"]["mask_map" if masks else "box_map"])
    latency: dict[str, Any] = {}
    for threads in args.threads:
        sessions = {k: load_sessions(exports[k], threads)["model"] for k in ("fp32", best)}
        feeds = {f"{k} {tag}": (s, {"in0": x}) for k, s in sessions.items()
                 for tag, x in (("480x640", x_rect), ("640x640", x_square))}  # fmt: skip
        latency[f"{threads}t"] = _latency(sessions, feeds, args.rounds)
        for s in sessions.values():
            s.close()
    return {
        "export_s": round(export_s, 1),
        "accuracy_vs_ground_truth": accuracy,
        "fidelity": fidelity,
        "best_int8_method": best,
        "n_heldout_images": len(images),
        "fp32_instances_at_025": sum(len(r) for r in ref),
        "latency": latency,
        "int8_parity_vs_torch": {k: e.manifest.parity.agreement for k, e in exports.items() if e.manifest.parity},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ultralytics-python", default=os.environ.get("ULTRALYTICS_PYTHON"))
    ap.add_argument("--model", default="yolov8n", choices=("yolov8n", "yolov8n-seg"))
    ap.add_argument("--epochs", type=int, default=64, help="from scratch: about 50 s each (480 images) on 2 cores")
    ap.add_argument("--train", type=int, default=480, help="synthetic training images")
    ap.add_argument("--train-threads", type=int, default=0, help="torch threads for training (0: all cores)")
    ap.add_argument("--batch", type=int, default=8, help="training batch size")
    ap.add_argument("--lr0", type=float, default=0.002, help="AdamW learning rate (Ultralytics' 'auto' is far too small)")
    ap.add_argument("--more-epochs", type=int, default=0,
                    help="train this many more epochs from the last run's best weights (same data)")  # fmt: skip
    ap.add_argument("--eval", type=int, default=48, help="held-out images")
    ap.add_argument("--calib", type=int, default=32, help="int8 calibration images (from the training set)")
    ap.add_argument("--methods", default="minmax,kl,aciq", help="int8 calibration methods to compare")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=20, help="interleaved latency rounds")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--fresh", action="store_true", help="remake the data and retrain")
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker_train(json.loads(args.worker))))
        return 0
    args.threads = [int(t) for t in args.threads.split(",")]
    args.methods = [m for m in args.methods.split(",") if m]
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ZOO_CACHE", str(args.workdir / "zoo-cache"))
    data = args.workdir / f"data-{args.model}"
    state = args.workdir / f"trained-{args.model}.json"
    args.init = None
    if args.fresh or not state.is_file() or args.more_epochs:
        if not args.ultralytics_python or not Path(args.ultralytics_python).is_file():
            ap.error("pass --ultralytics-python (a venv with ultralytics; see benchmarks/ultralytics_vs_zoo.py)")
        if args.more_epochs and state.is_file() and not args.fresh:
            args.init, args.epochs = json.loads(state.read_text())["checkpoint"], args.more_epochs
        state.write_text(json.dumps(train(args, data), indent=2))
    trained = json.loads(state.read_text())
    print(f"host: {platform.machine()} {os.cpu_count()} CPUs, python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{args.model}: trained by Ultralytics on {trained['train_images']} synthetic 320x320 images, "
          f"{trained['epochs']} epochs ({trained['train_s']:.0f} s); its own val " + ", ".join(
              f"{k.removeprefix('val_').removesuffix('_train_style')} {v:.3f}" for k, v in trained.items()
              if k.startswith("val_")))  # fmt: skip
    if args.train_only:
        return 0
    res = zoo_side(args, trained["checkpoint"], data)
    print(f"held-out: {res['n_heldout_images']} images {HELD_OUT[0]}x{HELD_OUT[1]} (4:3), "
          f"{res['fp32_instances_at_025']} fp32 instances at conf 0.25")  # fmt: skip
    for key, metrics in res["accuracy_vs_ground_truth"].items():
        print(f"  {key:<18} " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()) + "   (vs ground truth)")
    for key, figures in res["fidelity"].items():
        print(f"  {key:<22} " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
              + "   (candidate at conf 0.001 scored against fp32 rect at 0.25)")  # fmt: skip
    print(f"  best int8 calibration for this model: {res['best_int8_method']}")
    for t, lat in res["latency"].items():
        print(f"  networks alone, {t}: " + "; ".join(f"{k} {v['median_ms']:.1f} ms" for k, v in lat.items()))
    if args.json:
        args.json.write_text(json.dumps({"trained": trained, **res}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
