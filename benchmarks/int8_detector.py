"""yolov8n int8 vs fp32 on a *trained* detector: speed, and fidelity that means something.

    .venv/bin/python benchmarks/int8_detector.py --ultralytics-python /tmp/ultra-venv/bin/python \
        [--epochs 80] [--train 320] [--eval 48] [--threads 1,2] [--workdir /tmp/zoo-int8-detector] [--json out.json]

Why: no trained detector weights are reachable offline, and a random-weights yolov8n scores every
box near its class prior (about 1e-4, with exact ties), so "mAP of int8 detections against fp32
detections" on it measures noise. This script makes a detector whose scores mean something:

1. A synthetic detection set, made here (numpy + Pillow, seeded): backgrounds are random crops of
   zoo's four embedded photos (flipped, colour-jittered); on them 1-6 objects of three classes
   (filled circle, rectangle, triangle; random colour, size and place, possibly overlapping).
   Training images are 320x320 in YOLO format; held-out evaluation images are 640x480 with their
   COCO-format annotations, a different seed.
2. Ultralytics trains ``YOLO('yolov8n.yaml')`` on it (80 class slots as in COCO, the first three
   used, so the checkpoint loads into zoo's yolov8n as an upstream one does), in the separate
   Ultralytics venv (see benchmarks/ultralytics_vs_zoo.py for how to make it; Ultralytics is AGPL
   and never a zoo dependency). Made once per workdir; ``--fresh`` remakes data and weights.
3. zoo exports that checkpoint to ncnn fp32 and int8 (KL, calibrated on training images through
   the detector's own preprocessing), then on the held-out set:
   - COCO mAP of each against the ground truth (``zoo.eval.coco.evaluate``, conf 0.001),
   - mAP of the int8 detections scored against the fp32 detections as ground truth (fp32 at the
     working threshold 0.25, int8 at 0.001; ``detections_agreement_map``),
   - model-only latency (ncnn extract) of both, interleaved, at each thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("circle", "rectangle", "triangle")
DEFAULT_WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "zoo-int8-detector"


# -- synthetic data (zoo venv) --------------------------------------------------------------------
def _backgrounds() -> list[np.ndarray]:
    from PIL import Image

    folder = REPO / "zoo" / "data" / "images"
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.jpg"))]


def _scene(rng: np.random.Generator, photos: list[np.ndarray], width: int, height: int) -> tuple[Any, list[Any]]:
    """One image: a jittered photo crop with 1-6 shapes; boxes as (class, x1, y1, x2, y2)."""
    from PIL import Image, ImageDraw

    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    scale = rng.uniform(max(width / w, height / h), max(width / w, height / h) * 2.0)
    img = Image.fromarray(photo).resize((int(w * scale) + 1, int(h * scale) + 1), Image.BILINEAR)
    left = int(rng.integers(0, img.width - width + 1))
    top = int(rng.integers(0, img.height - height + 1))
    arr = np.asarray(img.crop((left, top, left + width, top + height))).astype(np.float32)
    if rng.random() < 0.5:
        arr = arr[:, ::-1]
    arr = np.clip(arr * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30, 3), 0, 255).astype(np.uint8)
    canvas = Image.fromarray(np.ascontiguousarray(arr))
    draw = ImageDraw.Draw(canvas)
    boxes = []
    short = min(width, height)
    for _ in range(int(rng.integers(1, 7))):
        cls = int(rng.integers(len(CLASSES)))
        bw, bh = (rng.uniform(0.06, 0.45) * short for _ in range(2))
        if cls == 0:
            bh = bw
        x1, y1 = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
        x2, y2 = x1 + bw, y1 + bh
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if cls == 0:
            draw.ellipse((x1, y1, x2, y2), fill=colour)
        elif cls == 1:
            draw.rectangle((x1, y1, x2, y2), fill=colour)
        else:
            draw.polygon([(x1, y2), (x2, y2), ((x1 + x2) / 2, y1)], fill=colour)
        boxes.append((cls, x1, y1, x2, y2))
    return canvas, boxes


def make_data(root: Path, n_train: int, n_eval: int, seed: int = 0) -> dict[str, Any]:
    photos = _backgrounds()
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(n_train):
        img, boxes = _scene(rng, photos, 320, 320)
        img.save(root / "images" / "train" / f"{i:05d}.jpg", quality=92)
        lines = [f"{c} {(x1 + x2) / 640:.6f} {(y1 + y2) / 640:.6f} {(x2 - x1) / 320:.6f} {(y2 - y1) / 320:.6f}"
                 for c, x1, y1, x2, y2 in boxes]
        (root / "labels" / "train" / f"{i:05d}.txt").write_text("\n".join(lines) + "\n")
    # Ultralytics wants a val split: a few training-style images (never the held-out set)
    for i in range(16):
        img, boxes = _scene(rng, photos, 320, 320)
        img.save(root / "images" / "val" / f"{i:05d}.jpg", quality=92)
        lines = [f"{c} {(x1 + x2) / 640:.6f} {(y1 + y2) / 640:.6f} {(x2 - x1) / 320:.6f} {(y2 - y1) / 320:.6f}"
                 for c, x1, y1, x2, y2 in boxes]
        (root / "labels" / "val" / f"{i:05d}.txt").write_text("\n".join(lines) + "\n")
    names = {i: (CLASSES[i] if i < len(CLASSES) else f"unused{i}") for i in range(80)}
    (root / "data.yaml").write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n"
        + "".join(f"  {k}: {v}\n" for k, v in names.items())
    )
    # held-out COCO set: other seed, 640x480
    held = root / "heldout"
    (held / "val2017").mkdir(parents=True, exist_ok=True)
    (held / "annotations").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed + 1000)
    images, anns = [], []
    for i in range(1, n_eval + 1):
        img, boxes = _scene(rng, photos, 640, 480)
        name = f"{i:05d}.jpg"
        img.save(held / "val2017" / name, quality=92)
        images.append({"id": i, "file_name": name, "width": 640, "height": 480})
        for c, x1, y1, x2, y2 in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c + 1, "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]
    (held / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": categories})
    )
    return {"train": n_train, "heldout": n_eval, "heldout_boxes": len(anns), "root": str(root)}


# -- training (Ultralytics venv) ----------------------------------------------------------------------
def worker_train(job: dict[str, Any]) -> dict[str, Any]:
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.perf_counter()
    model = YOLO("yolov8n.yaml")
    model.train(
        data=job["data"], epochs=job["epochs"], imgsz=320, batch=16, workers=0, device="cpu",
        project=job["project"], name="train", exist_ok=True, plots=False, amp=False, seed=0,
        deterministic=False, verbose=False, val=True, mosaic=1.0, close_mosaic=5,
    )
    best = Path(job["project"]) / "train" / "weights" / "best.pt"
    metrics = model.val(data=job["data"], imgsz=320, batch=16, device="cpu", plots=False, verbose=False)
    return {"checkpoint": str(best), "train_s": round(time.perf_counter() - t0, 1),
            "val_map50_95_train_style": float(metrics.box.map)}


# -- zoo side -----------------------------------------------------------------------------------------
def _latency(session: Any, x: np.ndarray, name: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        session.run({name: x})
        out.append((time.perf_counter_ns() - t) / 1e6)
    return out


def _coco_map(pipeline: Any, held: Path) -> dict[str, float]:
    """COCO mAP of ``pipeline`` (an export folder's, so the int8 method is the one asked for)
    against the held-out ground truth, through zoo.eval's dataset reader and scorer."""
    from zoo.eval.coco import coco_map, detections_to_coco, load_coco
    from zoo.images import load_image

    data = load_coco(held)
    results = [
        entry
        for image in data.images
        for entry in detections_to_coco(image.id, pipeline(load_image(image.path), conf=0.001, iou=0.6),
                                        data.categories)
    ]
    scored = coco_map(data.ground_truth, results)
    return {"mAP@[.5:.95]": scored.map, "mAP@.5": scored.map50}


def zoo_side(args: argparse.Namespace, checkpoint: str, data: Path) -> dict[str, Any]:
    from zoo import api
    from zoo.eval.coco import detections_agreement_map
    from zoo.images import load_image
    from zoo.runtimes.ncnn.session import NcnnSession

    held = data / "heldout"
    calib = sorted((data / "images" / "train").glob("*.jpg"))[: args.calib]
    calib_dir = args.workdir / "calib"
    shutil.rmtree(calib_dir, ignore_errors=True)
    calib_dir.mkdir(parents=True)
    for p in calib:
        shutil.copy(p, calib_dir / p.name)
    t0 = time.perf_counter()
    shutil.rmtree(args.workdir / "ncnn-fp32", ignore_errors=True)
    fp32 = api.export("yolov8n", "fp32", weights=checkpoint, out_dir=args.workdir / "ncnn-fp32")
    int8_dir = args.workdir / f"ncnn-int8-{args.method or 'default'}"
    shutil.rmtree(int8_dir, ignore_errors=True)
    int8 = api.export("yolov8n", "int8", weights=checkpoint, out_dir=int8_dir, calib=calib_dir, method=args.method)
    export_s = time.perf_counter() - t0
    acc = {}
    for dtype in ("fp32", "int8"):
        pipe = api.load("yolov8n", artifacts=(fp32 if dtype == "fp32" else int8).folder)
        scores = _coco_map(pipe, held)
        pipe.close()
        acc[dtype] = scores
    pf = api.load("yolov8n", artifacts=fp32.folder)
    pq = api.load("yolov8n", artifacts=int8.folder)
    images = [load_image(p) for p in sorted((held / "val2017").glob("*.jpg"))]
    ref = [pf(im, conf=0.25) for im in images]
    cand = [pq(im, conf=0.001) for im in images]
    same = [pf(im, conf=0.001) for im in images]
    agreement = detections_agreement_map(ref, cand)
    self_check = detections_agreement_map(ref, same)
    pf.close()
    pq.close()
    spec = pf.spec
    x, _ = pf.task.preprocess(images[0], spec.pre)
    latency: dict[str, dict[str, float]] = {}
    for threads in args.threads:
        sessions = {
            d: NcnnSession(r.file("param"), r.file("bin"), threads=threads, options=r.manifest.ncnn_options)
            for d, r in (("fp32", fp32), ("int8", int8))
        }
        for s in sessions.values():
            _latency(s, x, spec.input.name, 3)
        samples: dict[str, list[float]] = {d: [] for d in sessions}
        for _ in range(args.rounds):
            for d, s in sessions.items():
                samples[d] += _latency(s, x, spec.input.name, 1)
        for d, s in sessions.items():
            s.close()
            latency[f"{d} {threads}t"] = {"median_ms": statistics.median(samples[d]), "min_ms": min(samples[d])}
    return {
        "export_s": round(export_s, 1),
        "accuracy_vs_ground_truth": acc,
        "int8_vs_fp32_map": agreement,
        "fp32_vs_itself_map": self_check,
        "n_heldout_images": len(images),
        "fp32_boxes_at_025": sum(len(r) for r in ref),
        "latency": latency,
        "int8": {k: int8.manifest.extra.get(k) for k in ("int8_method", "calibration", "calibration_count")},
        "parity_int8_vs_torch": int8.manifest.parity.agreement if int8.manifest.parity else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ultralytics-python", default=os.environ.get("ULTRALYTICS_PYTHON"))
    ap.add_argument("--epochs", type=int, default=80, help="from scratch: about 25 s each on 2 cores")
    ap.add_argument("--train", type=int, default=320, help="synthetic training images")
    ap.add_argument("--eval", type=int, default=48, help="held-out images")
    ap.add_argument("--calib", type=int, default=32, help="int8 calibration images (from the training set)")
    ap.add_argument("--method", choices=("minmax", "kl", "aciq"), help="int8 ranges (default: yolov8n's own)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=20, help="interleaved latency rounds")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker_train(json.loads(args.worker))))
        return 0
    args.threads = [int(t) for t in args.threads.split(",")]
    if args.fresh:
        shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ZOO_CACHE", str(args.workdir / "zoo-cache"))
    data = args.workdir / "data"
    state = args.workdir / "trained.json"
    if not state.is_file():
        if not args.ultralytics_python or not Path(args.ultralytics_python).is_file():
            ap.error("pass --ultralytics-python (a venv with ultralytics; see benchmarks/ultralytics_vs_zoo.py)")
        shutil.rmtree(data, ignore_errors=True)
        made = make_data(data, args.train, args.eval)
        job = {"data": str(data / "data.yaml"), "epochs": args.epochs, "project": str(args.workdir / "runs")}
        env = {**os.environ, "YOLO_CONFIG_DIR": str(args.workdir / "ultralytics-config"), "YOLO_OFFLINE": "1"}
        log = args.workdir / "train.log"
        with log.open("w") as fh:
            proc = subprocess.run(
                [args.ultralytics_python, __file__, "--worker", json.dumps(job)],
                stdout=subprocess.PIPE, stderr=fh, text=True, env=env, check=False,
            )
        if proc.returncode != 0:
            print(f"training failed (exit {proc.returncode}); see {log}", file=sys.stderr)
            return 1
        trained = json.loads(proc.stdout.strip().splitlines()[-1]) | {"data": made, "epochs": args.epochs}
        state.write_text(json.dumps(trained, indent=2))
    trained = json.loads(state.read_text())
    print(f"host: {platform.machine()} {os.cpu_count()} CPUs, python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"detector: yolov8n trained by Ultralytics on {trained['data']['train']} synthetic 320x320 images, "
          f"{trained['epochs']} epochs ({trained['train_s']:.0f} s); its own val mAP50-95 "
          f"{trained['val_map50_95_train_style']:.3f}; checkpoint {trained['checkpoint']}")
    res = zoo_side(args, trained["checkpoint"], data)
    print(f"held-out: {res['n_heldout_images']} images 640x480, {trained['data']['heldout_boxes']} boxes; "
          f"int8 {res['int8']}")
    for d, m in res["accuracy_vs_ground_truth"].items():
        print(f"  {d}  " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()) + "  (vs ground truth)")
    print(f"  int8 detections scored against fp32 detections (fp32 at conf 0.25, {res['fp32_boxes_at_025']} boxes; "
          f"int8 at 0.001): mAP@[.5:.95] {res['int8_vs_fp32_map']:.3f}   (fp32 against itself: "
          f"{res['fp32_vs_itself_map']:.3f}; goal >= 0.9)")
    for t in args.threads:
        f, q = res["latency"][f"fp32 {t}t"], res["latency"][f"int8 {t}t"]
        print(f"  {t} thread{'s' if t > 1 else ''}: fp32 {f['median_ms']:.1f} ms, int8 {q['median_ms']:.1f} ms "
              f"(median of {args.rounds}, interleaved) -> {f['median_ms'] / q['median_ms']:.2f}x (goal >= 1.3x)")
    if args.json:
        args.json.write_text(json.dumps({"trained": trained, **res}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
