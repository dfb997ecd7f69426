"""Ultralytics vs zoo, end to end from the file: same checkpoint, same photo, same thread count.

    .venv/bin/python benchmarks/ultralytics_vs_zoo.py --ultralytics-python /tmp/ultra-venv/bin/python \
        [--tasks detect,segment] [--dtypes fp32,int8] [--threads 1,2] [--rounds 10] [--per-round 2] \
        [--warmup 3] [--workdir /tmp/zoo-vs-ultralytics] [--fresh] [--json out.json]

The Ultralytics venv (about 7 min and 5.5 GB here; torch comes from this machine's wheel store):

    python3 -m venv /tmp/ultra-venv
    /tmp/ultra-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics
    /tmp/ultra-venv/bin/pip install pnnx==20260526 ncnn   # what ultralytics' exporter pins; else it pip-installs them itself

Two environments, because Ultralytics' predict needs torchvision, which needs torch 2.14.1, and
zoo's .venv pins torch 2.13.0 (FACTS.md): the Ultralytics half runs under ``--ultralytics-python``
(or ``$ULTRALYTICS_PYTHON``), the zoo half under this interpreter. Each half is a worker process
that loads its model once and answers "time N calls on photo k" requests; the driver alternates
the workers a few calls at a time, rotating who goes first each round, so a neighbour's load hits
all alike. Only one worker computes at any moment.

What is compared, per photo, end to end as a user calls it (the file path in, results out):
- Ultralytics: ``YOLO(<ncnn dir>, task).predict(path, conf, iou, max_det, verbose=False)`` on the
  folder its own ``export(format='ncnn')`` wrote from the checkpoint: a fixed 640x640 input (its
  ncnn backend letterboxes every photo to the square), masks at that input's resolution (its
  default, ``retina_masks=False``). Its ncnn backend sets no thread count (ncnn then uses every
  core), so the worker reloads the same files with ``opt.num_threads = N`` set before loading (ncnn
  picks kernels at load time), and sets torch, OpenCV and OpenMP to N threads too. Its ncnn Option
  flags are otherwise ncnn's defaults (fp16 storage where the CPU has it) and are printed.
- zoo: ``zoo.api.load(model, dtype, weights=<same checkpoint>, threads=N)(path, conf=, iou=)``,
  zoo's own export (trace -> pnnx -> ncnn, fp32 with fp16 off; int8 calibrated, its default method)
  of the same file, rectangular letterbox by default (480x640 for a 4:3 photo, 384x640 for 16:9),
  masks in the photo's own pixels. Ultralytics ships no ncnn int8: int8 rows compare zoo int8
  with Ultralytics' fp32.

The checkpoints: ``YOLO('yolov8n.yaml')`` / ``YOLO('yolov8n-seg.yaml')`` with BatchNorm statistics
and affine terms re-randomised (seeded), so outputs depend on the input as a trained model's do, and
the class-logit biases shifted so the 4:3 photo yields boxes to post-process (Ultralytics' prior
keeps a random model's scores below 2e-4), saved with Ultralytics' own ``Model.save``. Made once per
workdir; ``--fresh`` remakes them.

The photos: Ultralytics' own sample photos from its package: a 4:3 crop of ``bus.jpg`` (810x608,
re-encoded at JPEG quality 95) and ``zidane.jpg`` (1280x720, 16:9) as shipped.

Both pipelines' results are compared per photo: COCO box mAP of zoo's boxes scored against
Ultralytics' as ground truth, and for segmentation mask mAP against Ultralytics' masks in photo
pixels (one extra untimed ``retina_masks=True`` call), so the timing is of two pipelines that give
the same answer (Ultralytics runs fp16 storage, so not exactly 1.0). Timing: ``time.perf_counter_ns``
around each call after ``--warmup`` untimed calls per worker and photo; medians; the CPU time other
processes took during the run is measured and flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "zoo-vs-ultralytics"
SEED = 0
BUSY_WARNING = 0.25
MODELS = {"detect": ("yolov8n.yaml", "yolov8n"), "segment": ("yolov8n-seg.yaml", "yolov8n-seg")}
PHOTOS = {"4:3": "bus-4x3.jpg", "16:9": "zidane.jpg"}


# -- worker plumbing (stdlib only: the Ultralytics venv has no zoo) -----------------------------
def _protocol_stream() -> Any:
    """The real stdout, kept for JSON lines; anything libraries print goes to stderr instead."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto


def _serve(proto: Any, call: Any, stages: Any) -> None:
    """Answer {"cmd": "time", "n", "photo"} with n end-to-end times of ``call(photo)``, {"cmd":
    "stages", "n", "photo"} with per-stage medians in ms, until {"cmd": "quit"}."""
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
            break
        photo = msg["photo"]
        if msg["cmd"] == "stages":
            runs = [stages(photo) for _ in range(int(msg["n"]))]
            proto.write(json.dumps({k: statistics.median(r[k] for r in runs) for k in runs[0]}) + "\n")
            continue
        samples = []
        for _ in range(int(msg["n"])):
            t0 = time.perf_counter_ns()
            call(photo)
            samples.append(time.perf_counter_ns() - t0)
        proto.write(json.dumps({"ns": samples}) + "\n")


def _set_thread_env(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def _randomize_batchnorm(model: Any, seed: int) -> None:
    """Same recipe as zoo_detector.nets.common.randomize for BatchNorm: input-dependent outputs."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None:
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def _calibrate_class_bias(model: Any, image: str, top_k: int = 200, score: float = 0.3) -> float:
    """Shift the class-logit biases so about ``top_k`` anchor-class scores on ``image`` reach ``score``."""
    import math

    import cv2
    import torch
    from ultralytics.data.augment import LetterBox

    net = model.model.float().eval()
    head = net.model[-1]
    rgb = LetterBox((640, 640), auto=False)(image=cv2.imread(image))[..., ::-1]
    x = torch.from_numpy(rgb.transpose(2, 0, 1).copy()).float()[None] / 255
    with torch.no_grad():
        y = net(x)
        while isinstance(y, (list, tuple)):
            y = y[0]
        kth = float(y[0, 4 : 4 + head.nc].flatten().topk(top_k).values[-1].clamp(1e-12, 1 - 1e-6))
        delta = math.log(score / (1 - score)) - math.log(kth / (1 - kth))
        for branch in head.cv3:
            branch[-1].bias += delta
        if hasattr(head, "cv4"):  # Segment: centre the mask logits of the likely boxes, or every mask is empty
            (y, proto), _ = net(x)
            top = y[0, 4 : 4 + head.nc].amax(0).topk(top_k).indices
            coef, protos = y[0, 4 + head.nc :, top].T, proto[0].flatten(1)
            shift = float(-(coef @ protos).median() / protos.sum(0).median())
            for branch in head.cv4:
                branch[-1].bias += shift
    return delta


def worker_make(job: dict[str, Any]) -> dict[str, Any]:
    """(Ultralytics venv) the photos, the random checkpoints in Ultralytics' format and its ncnn exports."""
    import cv2
    import torch
    import ultralytics
    from ultralytics import YOLO

    workdir = Path(job["workdir"])
    assets = Path(ultralytics.__file__).parent / "assets"
    bus = cv2.imread(str(assets / "bus.jpg"))  # 810x1080 portrait
    cv2.imwrite(str(workdir / PHOTOS["4:3"]), bus[250:858], [cv2.IMWRITE_JPEG_QUALITY, 95])
    (workdir / PHOTOS["16:9"]).write_bytes((assets / "zidane.jpg").read_bytes())
    out: dict[str, Any] = {"ultralytics": ultralytics.__version__, "photos": {}, "models": {}}
    for aspect, name in PHOTOS.items():
        h, w = cv2.imread(str(workdir / name)).shape[:2]
        out["photos"][aspect] = {"path": str(workdir / name), "width": w, "height": h}
    for task in job["tasks"]:
        yaml, zoo_name = MODELS[task]
        ckpt = workdir / f"{zoo_name}-random-seed{job['seed']}.pt"
        ncnn_dir = workdir / f"{ckpt.stem}_ncnn_model"
        meta = workdir / f"{ckpt.stem}.json"
        if not ckpt.is_file() or job.get("fresh"):
            torch.manual_seed(job["seed"])
            model = YOLO(yaml)
            _randomize_batchnorm(model.model, job["seed"])
            delta = _calibrate_class_bias(model, out["photos"]["4:3"]["path"])
            meta.write_text(json.dumps({"class_bias_shift": delta}))
            model.save(str(ckpt))
        t0 = time.perf_counter()
        if job.get("fresh") or not (ncnn_dir / "model.ncnn.param").is_file():
            YOLO(str(ckpt)).export(format="ncnn", imgsz=640, half=False)
        params = sum(p.numel() for p in YOLO(str(ckpt)).model.parameters())
        out["models"][task] = {"checkpoint": str(ckpt), "ncnn_dir": str(ncnn_dir), "params": params,
                               "zoo_model": zoo_name, "export_s": round(time.perf_counter() - t0, 1),
                               **json.loads(meta.read_text())}  # fmt: skip
    return out


def _save_masks(path: Path, masks: Any) -> str:
    import numpy as np

    np.savez_compressed(path, masks=np.asarray(masks, dtype=bool))
    return str(path)


def worker_ultralytics(job: dict[str, Any], proto: Any) -> None:
    threads = int(job["threads"])
    _set_thread_env(threads)
    import cv2
    import ncnn
    import torch
    from ultralytics import YOLO, __version__

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    t0 = time.perf_counter()
    model = YOLO(job["ncnn_dir"], task=job["task"])
    photos = job["photos"]
    kwargs = {"conf": job["conf"], "iou": job["iou"], "max_det": job["max_det"], "imgsz": 640, "verbose": False}
    model.predict(photos[0], **kwargs)  # builds the predictor and its backend
    backend = model.predictor.model.backend
    # Reload the same files with the thread count set before loading (kernels are chosen then).
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    param = next(Path(job["ncnn_dir"]).glob("*.param"))
    net.load_param(str(param))
    net.load_model(str(param.with_suffix(".bin")))
    backend.net = net
    torch.set_num_threads(threads)  # again: building the predictor may have changed it
    load_ms = (time.perf_counter() - t0) * 1e3
    results = []
    for k, photo in enumerate(photos):
        res = model.predict(photo, **kwargs)[0]
        input_hw = list(res.masks.data.shape[1:]) if res.masks is not None else [int(v) for v in model.predictor.imgsz]
        entry = {"boxes": res.boxes.xyxy.tolist(), "scores": res.boxes.conf.tolist(),
                 "class_ids": [int(c) for c in res.boxes.cls.tolist()], "input_hw": input_hw}  # fmt: skip
        if job["task"] == "segment":  # masks in photo pixels for the comparison (untimed)
            native = model.predict(photo, **kwargs, retina_masks=True)[0]
            entry = {"boxes": native.boxes.xyxy.tolist(), "scores": native.boxes.conf.tolist(),
                     "class_ids": [int(c) for c in native.boxes.cls.tolist()], "input_hw": entry["input_hw"],
                     "masks": _save_masks(Path(job["workdir"]) / f"ultra-{job['task']}-{threads}t-{k}.npz",
                                          native.masks.data.numpy() if native.masks is not None else [])}  # fmt: skip
        results.append(entry)
    opt = backend.net.opt
    flags = {k: bool(getattr(opt, k)) for k in ("use_vulkan_compute", "use_fp16_packed", "use_fp16_storage",
                                                "use_fp16_arithmetic", "use_int8_inference", "use_packing_layout")}  # fmt: skip
    args = model.predictor.args
    info = {
        "versions": {"ultralytics": __version__, "torch": torch.__version__, "ncnn": ncnn.__version__,
                     "opencv": cv2.__version__, "python": platform.python_version()},  # fmt: skip
        "threads": {"ncnn": int(opt.num_threads), "torch": torch.get_num_threads(), "opencv": cv2.getNumThreads()},
        "ncnn_options": flags,
        "pre": f"cv2.imread, LetterBox to {list(model.predictor.imgsz)} (format {model.predictor.model.format}: "
        "fixed shape, auto=False), cv2 resize, BGR->RGB, HWC->CHW, /255 in torch",
        "post": f"ncnn graph holds the DFL decode + sigmoid; non_max_suppression conf={args.conf} iou={args.iou} "
        f"max_det={args.max_det}; scale_boxes" + ("; process_mask at the input size" if job["task"] == "segment" else ""),
        "load_ms": round(load_ms, 1),
        "results": results,
    }
    proto.write(json.dumps(info) + "\n")
    for photo in photos:
        for _ in range(job["warmup"]):
            model.predict(photo, **kwargs)

    def stages(k: int) -> dict[str, float]:
        t = time.perf_counter_ns()
        speed = model.predict(photos[k], **kwargs)[0].speed  # Ultralytics' own per-stage timing, ms
        total = (time.perf_counter_ns() - t) / 1e6
        return {"pre": speed["preprocess"], "infer": speed["inference"], "post": speed["postprocess"], "total": total}

    _serve(proto, lambda k: model.predict(photos[k], **kwargs), stages)


def worker_zoo(job: dict[str, Any], proto: Any) -> None:
    threads = int(job["threads"])
    _set_thread_env(threads)
    os.environ.setdefault("ZOO_CACHE", str(Path(job["workdir"]) / "zoo-cache"))
    import ncnn
    import numpy as np

    from zoo import api

    t0 = time.perf_counter()
    pipeline = api.load(job["zoo_model"], dtype=job["dtype"], weights=job["checkpoint"], threads=threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    photos = job["photos"]
    kwargs = {"conf": job["conf"], "iou": job["iou"], "max_det": job["max_det"]}
    results = []
    for k, photo in enumerate(photos):
        res: Any = pipeline(photo, **kwargs)  # the path: decoding is part of the call
        entry = {"boxes": np.asarray(res.boxes, np.float64).reshape(-1, 4).tolist(),
                 "scores": np.asarray(res.scores, np.float64).tolist(),
                 "class_ids": [int(c) for c in np.asarray(res.class_ids)]}  # fmt: skip
        # for the comparison (untimed): all candidates down to conf 0.001, scored against Ultralytics' at
        # its working threshold; at the rectangle zoo runs, and at Ultralytics' 640x640 square
        for tag, rect in (("low", True), ("square", False)):
            low = pipeline(photo, **{**kwargs, "conf": 0.001}, rect=rect)
            entry[tag] = {"boxes": np.asarray(low.boxes, np.float64).reshape(-1, 4).tolist(),
                          "scores": np.asarray(low.scores, np.float64).tolist(),
                          "class_ids": [int(c) for c in np.asarray(low.class_ids)]}  # fmt: skip
            if hasattr(low, "dense_masks"):
                top = low.take(np.arange(min(len(low), 100)))  # the 100 best: masks are photo-sized
                entry[tag]["masks"] = _save_masks(
                    Path(job["workdir"]) / f"zoo-{job['task']}-{job['dtype']}-{threads}t-{k}-{tag}.npz",
                    top.dense_masks())
                entry[tag] = {**{key: v[:100] for key, v in entry[tag].items() if key != "masks"},
                              "masks": entry[tag]["masks"]}  # fmt: skip
        results.append(entry)
    m = pipeline.export.manifest if pipeline.export else None
    spec = pipeline.spec
    info = {
        "versions": {"ncnn": ncnn.__version__, "numpy": np.__version__, "python": platform.python_version(),
                     **({k: str(v) for k, v in m.tool_versions.items()} if m else {})},  # fmt: skip
        "threads": {"ncnn": threads},
        "ncnn_options": dict(m.components["model"].runtime_options) if m else {},
        "pre": f"PIL decode, {spec.pre.kind} to the smallest multiple of 32 holding the photo at 640 (rect), "
        "ncnn from_pixels_resize + substract_mean_normalize, padding in numpy",
        "post": f"numpy: decode {spec.post.decoder}, NMS, boxes to the photo"
        + ("; masks from prototypes in photo pixels, per box" if job["task"] == "segment" else ""),
        "export": {"dir": str(pipeline.export.folder) if pipeline.export else None,
                   "int8_method": m.extra.get("int8_method") if m else None},  # fmt: skip
        "load_ms": round(load_ms, 1),
        "results": results,
    }
    proto.write(json.dumps(info) + "\n")
    for photo in photos:
        for _ in range(job["warmup"]):
            pipeline(photo, **kwargs)

    def stages(k: int) -> dict[str, float]:
        pipeline(photos[k], **kwargs)
        t = dict(pipeline.times)
        return {"pre": t.get("pre", 0.0), "infer": t.get("infer", 0.0), "post": t.get("post", 0.0),
                "total": t.get("total", 0.0)}  # fmt: skip

    _serve(proto, lambda k: pipeline(photos[k], **kwargs), stages)


def worker_main(kind: str) -> None:
    proto = _protocol_stream()
    job = json.loads(sys.stdin.readline())
    if kind == "make":
        proto.write(json.dumps(worker_make(job)) + "\n")
    elif kind == "ultralytics":
        worker_ultralytics(job, proto)
    elif kind == "zoo":
        worker_zoo(job, proto)
    else:
        raise SystemExit(f"unknown worker {kind!r}")


# -- driver (zoo's .venv) -----------------------------------------------------------------------
class Worker:
    """A worker process speaking JSON lines; its stderr goes to a log file in the workdir."""

    def __init__(self, python: str, kind: str, job: dict[str, Any], log: Path, env: dict[str, str]) -> None:
        self.kind, self.log = kind, log
        self.log_fh = open(log, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log_fh, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        if self.proc.stdin is None or self.proc.stdout is None:
            raise SystemExit(f"could not open pipes to the {kind} worker")
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.send(job)

    def send(self, msg: dict[str, Any]) -> None:
        self.stdin.write(json.dumps(msg) + "\n")
        self.stdin.flush()

    def receive(self) -> dict[str, Any]:
        line = self.stdout.readline()
        if not line:
            self.proc.wait()
            tail = self.log.read_text(errors="replace").strip().splitlines()[-15:]
            raise SystemExit(f"{self.kind} worker exited ({self.proc.returncode}); log {self.log}:\n" + "\n".join(tail))
        data: dict[str, Any] = json.loads(line)
        return data

    def time(self, photo: int, n: int) -> list[int]:
        self.send({"cmd": "time", "n": n, "photo": photo})
        ns: list[int] = self.receive()["ns"]
        return ns

    def stages(self, photo: int, n: int) -> dict[str, float]:
        self.send({"cmd": "stages", "n": n, "photo": photo})
        return self.receive()

    def cpu_seconds(self) -> float:
        import psutil

        try:
            t = psutil.Process(self.proc.pid).cpu_times()
            return float(t.user + t.system + t.children_user + t.children_system)
        except psutil.Error:
            return 0.0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send({"cmd": "quit"})
            self.proc.wait(timeout=60)
        self.log_fh.close()


def summarize(ns: list[int]) -> dict[str, float]:
    ms = sorted(v / 1e6 for v in ns)
    return {"median_ms": statistics.median(ms), "p90_ms": ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))],
            "min_ms": ms[0], "runs": len(ms)}  # fmt: skip


def agreement(ref: dict[str, Any], cand: dict[str, Any], hw: tuple[int, int]) -> dict[str, float]:
    """Candidate scored against the reference as ground truth: box mAP, and mask mAP when both have masks."""
    import numpy as np

    from zoo.eval.coco import detections_agreement_map, masks_agreement_map
    from zoo.results import Detections, InstanceMasks

    def as_result(d: dict[str, Any]) -> Any:
        det = Detections(boxes=np.asarray(d["boxes"], np.float32).reshape(-1, 4),
                         scores=np.asarray(d["scores"], np.float32), class_ids=np.asarray(d["class_ids"], np.int64),
                         image_shape=hw)  # fmt: skip
        if "masks" not in d:
            return det
        masks = np.load(d["masks"])["masks"].reshape(-1, *hw)
        return InstanceMasks(boxes=det.boxes, scores=det.scores, class_ids=det.class_ids, image_shape=hw,
                             mask_crops=tuple(masks), mask_origins=np.zeros((len(masks), 2), np.int64))  # fmt: skip

    r, c = as_result(ref), as_result(cand)
    out = {"box_map": detections_agreement_map([r], [c]), "n_ref": len(r), "n_cand": len(c)}
    if isinstance(r, InstanceMasks) and isinstance(c, InstanceMasks):
        out["mask_map"] = masks_agreement_map([r], [c])
    return out


def run_setting(args: argparse.Namespace, made: dict[str, Any], task: str, threads: int,
                env: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    import psutil

    model = made["models"][task]
    photos = [made["photos"][a]["path"] for a in PHOTOS]
    base = {"task": task, "threads": threads, "photos": photos, "conf": args.conf, "iou": args.iou,
            "max_det": args.max_det, "warmup": args.warmup, "workdir": str(args.workdir)}  # fmt: skip
    workers = {"ultralytics": Worker(args.ultralytics_python, "ultralytics", {**base, "ncnn_dir": model["ncnn_dir"]},
                                     args.workdir / f"ultralytics-{task}-{threads}t.log", env)}  # fmt: skip
    for dtype in args.dtypes:
        workers[f"zoo {dtype}"] = Worker(sys.executable, "zoo", {**base, "dtype": dtype, "zoo_model": model["zoo_model"],
                                         "checkpoint": model["checkpoint"]},
                                         args.workdir / f"zoo-{task}-{dtype}-{threads}t.log", env)  # fmt: skip
    try:
        infos = {name: w.receive() for name, w in workers.items()}  # loaded and warmed up
        per_photo = []
        for k, aspect in enumerate(PHOTOS):
            samples: dict[str, list[int]] = {name: [] for name in workers}
            cpu0, own0, wall0 = psutil.cpu_times(), sum(w.cpu_seconds() for w in workers.values()), time.perf_counter()
            names = list(workers)
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[: r % len(names)]:
                    samples[name] += workers[name].time(k, args.per_round)
            wall = time.perf_counter() - wall0
            cpu1, own = psutil.cpu_times(), sum(w.cpu_seconds() for w in workers.values()) - own0
            busy = (cpu1.user + cpu1.system + cpu1.nice) - (cpu0.user + cpu0.system + cpu0.nice)
            stages = {name: w.stages(k, args.stage_runs) for name, w in workers.items()} if args.stage_runs else {}
            stats = {name: summarize(ns) for name, ns in samples.items()}
            hw = (made["photos"][aspect]["height"], made["photos"][aspect]["width"])
            ref = infos["ultralytics"]["results"][k]
            per_photo.append({
                "aspect": aspect, "photo": photos[k], "stats": stats, "stages_ms": stages,
                "other_cpu_load": max(0.0, busy - own) / (wall * (psutil.cpu_count() or 1)),
                "ultralytics_input_hw": ref.get("input_hw"),
                "ratios": {name: stats["ultralytics"]["median_ms"] / stats[name]["median_ms"]
                           for name in workers if name != "ultralytics"},
                "agreement": {name: agreement(ref, infos[name]["results"][k]["low"], hw) for name in workers
                              if name != "ultralytics"},
                "agreement_square": {name: agreement(ref, infos[name]["results"][k]["square"], hw) for name in workers
                                     if name != "ultralytics"},
            })  # fmt: skip
    finally:
        for w in workers.values():
            w.close()
    for info in infos.values():
        info.pop("results")
    return {"task": task, "threads": threads, "infos": infos, "photos": per_photo}


def make(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    w = Worker(args.ultralytics_python, "make", {"workdir": str(args.workdir), "seed": SEED, "fresh": args.fresh,
                                                 "tasks": args.tasks}, args.workdir / "make.log", env)  # fmt: skip
    try:
        return w.receive()
    finally:
        w.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--ultralytics-python", default=os.environ.get("ULTRALYTICS_PYTHON"),
                        help="python of the venv with ultralytics + torch 2.14.1 + torchvision 0.29.1")  # fmt: skip
    parser.add_argument("--tasks", default="detect,segment", help="detect, segment or both (default)")
    parser.add_argument("--dtypes", default="fp32,int8", help="zoo's side: fp32, int8 or both (default)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds per photo (default 10)")
    parser.add_argument("--per-round", type=int, default=2, help="timed calls per worker per round (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per worker and photo (default 3)")
    parser.add_argument("--stage-runs", type=int, default=5, help="calls per worker for the stage breakdown (0: skip)")
    parser.add_argument("--conf", type=float, default=0.25, help="both sides (Ultralytics' default)")
    parser.add_argument("--iou", type=float, default=0.7, help="NMS IoU, both sides (Ultralytics' default)")
    parser.add_argument("--max-det", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="checkpoints, exports, logs")
    parser.add_argument("--fresh", action="store_true", help="remake the checkpoints and Ultralytics' exports")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    if not args.ultralytics_python or not Path(args.ultralytics_python).is_file():
        parser.error("pass --ultralytics-python PATH (or set ULTRALYTICS_PYTHON) to the python of a venv with "
                     "ultralytics, torch==2.14.1 and torchvision==0.29.1; see this file's docstring")  # fmt: skip
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "YOLO_CONFIG_DIR": str(args.workdir / "ultralytics-config"), "YOLO_OFFLINE": "1",
           "ZOO_CACHE": str(args.workdir / "zoo-cache")}  # fmt: skip
    print(f"host: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} logical CPUs, python "
          f"{platform.python_version()}; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
    made = make(args, env)
    for aspect, p in made["photos"].items():
        print(f"photo {aspect}: {p['path']} ({p['width']}x{p['height']})")
    for task, m in made["models"].items():
        print(f"{task}: {m['checkpoint']} (ultralytics {made['ultralytics']}, {m['params']:,} params, BatchNorm "
              f"re-randomised, seed {SEED}; class-logit biases {m['class_bias_shift']:+.2f}); its ncnn export "
              f"{m['ncnn_dir']}")  # fmt: skip
    print(f"{args.rounds} rounds x {args.per_round} calls per worker and photo, alternating, after {args.warmup} "
          f"warm-up calls; conf {args.conf}, iou {args.iou}, max_det {args.max_det}; from the file")  # fmt: skip
    results = []
    for task in args.tasks:
        for t in thread_counts:
            res = run_setting(args, made, task, t, env)
            results.append(res)
            if t == thread_counts[0]:
                for name, info in res["infos"].items():
                    print(f"\n[{task} {name}] versions {json.dumps(info['versions'])}\n  pre: {info['pre']}\n"
                          f"  post: {info['post']}\n  ncnn options {json.dumps(info['ncnn_options'])}")  # fmt: skip
            for ph in res["photos"]:
                u = ph["stats"]["ultralytics"]
                print(f"\n== {task}, {ph['aspect']} photo, {t} thread{'s' if t > 1 else ''} ==  "
                      f"(Ultralytics input {ph['ultralytics_input_hw']}; other load {ph['other_cpu_load']:.0%}"
                      f"{' UNSTABLE' if ph['other_cpu_load'] > BUSY_WARNING else ''})")  # fmt: skip
                print(f"  {'ultralytics':<12} median {u['median_ms']:7.1f} ms  p90 {u['p90_ms']:7.1f}  min {u['min_ms']:7.1f}")
                for name, ratio in ph["ratios"].items():
                    s, a, q = ph["stats"][name], ph["agreement"][name], ph["agreement_square"][name]
                    print(f"  {name:<12} median {s['median_ms']:7.1f} ms  p90 {s['p90_ms']:7.1f}  min {s['min_ms']:7.1f}"
                          f"   ratio {ratio:.2f}x   vs Ultralytics: box mAP {a['box_map']:.3f}"
                          + (f", mask mAP {a['mask_map']:.3f}" if "mask_map" in a else "")
                          + f"; at its square: box {q['box_map']:.3f}"
                          + (f", mask {q['mask_map']:.3f}" if "mask_map" in q else "")
                          + f" ({a['n_ref']} Ultralytics instances)")  # fmt: skip
                for name, st in ph["stages_ms"].items():
                    print(f"  {name:<12} stages: pre {st['pre']:.1f}, network {st['infer']:.1f}, post {st['post']:.1f}, "
                          f"total {st['total']:.1f} ms (decode and the rest: {st['total'] - st['pre'] - st['infer'] - st['post']:.1f})")  # fmt: skip
    print("\nratio table (Ultralytics median / zoo median, end to end; goal >= 1.30x at fp32):")
    print("(box/mask mAP: zoo's results at conf 0.001 scored against Ultralytics' at its threshold, zoo at its "
          "rectangle / at Ultralytics' 640x640 square)")
    print("| task | photo | zoo dtype | threads | Ultralytics ms | zoo ms | ratio | box mAP rect/square | "
          "mask mAP rect/square | other load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for res in results:
        for ph in res["photos"]:
            for name, ratio in ph["ratios"].items():
                a, q = ph["agreement"][name], ph["agreement_square"][name]
                masks = f"{a['mask_map']:.3f} / {q['mask_map']:.3f}" if "mask_map" in a else "-"
                print(f"| {res['task']} | {ph['aspect']} | {name.split()[1]} | {res['threads']} | "
                      f"{ph['stats']['ultralytics']['median_ms']:.1f} | {ph['stats'][name]['median_ms']:.1f} | "
                      f"{ratio:.2f}x | {a['box_map']:.3f} / {q['box_map']:.3f} | {masks} | "
                      f"{ph['other_cpu_load']:.0%} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"made": made, "results": results}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
