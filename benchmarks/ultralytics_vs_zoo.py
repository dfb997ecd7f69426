"""Ultralytics vs zoo, side by side: same YOLOv8n checkpoint, same photo, same thread count.

    .venv/bin/python benchmarks/ultralytics_vs_zoo.py --ultralytics-python /tmp/ultra-venv/bin/python \
        [--threads 1,2] [--rounds 15] [--per-round 2] [--warmup 3] [--image zoo/data/images/astronaut.jpg] \
        [--workdir /tmp/zoo-vs-ultralytics] [--from-file] [--zoo-dtype fp32|int8] [--json out.json]

The Ultralytics venv (about 7 min and 5.5 GB here; torch comes from this machine's wheel store):

    python3 -m venv /tmp/ultra-venv
    /tmp/ultra-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics
    /tmp/ultra-venv/bin/pip install pnnx==20260526 ncnn   # what ultralytics' exporter pins; else it pip-installs them itself

Two environments, because Ultralytics' predict needs torchvision, which needs torch 2.14.1, and
zoo's .venv pins torch 2.13.0 (docs/FACTS): the Ultralytics half runs under ``--ultralytics-python``
(or ``$ULTRALYTICS_PYTHON``), a separate venv with ultralytics, torch 2.14.1, torchvision 0.29.1,
ncnn and pnnx; the zoo half under this interpreter. Each half is a worker process that loads its
model once and answers "time N calls" requests; the driver (this process) alternates the two, a few
calls at a time and swapping who goes first each round, so a neighbour's load hits both alike. Only
one worker computes at any moment.

What is compared, per image, end to end as a user calls it:
- Ultralytics: ``YOLO(<ncnn dir>).predict(image, conf, iou, max_det, verbose=False)``, on the
  folder its own ``export(format='ncnn')`` wrote from the checkpoint. Its ncnn backend sets no
  thread count (ncnn then uses every core), so the worker reloads the same files with
  ``opt.num_threads = N`` set before loading (ncnn picks convolution kernels at load time), and sets
  torch, OpenCV and OpenMP to N threads too. Its ncnn Option flags are otherwise its own (ncnn's
  defaults) and are printed.
- zoo: ``zoo.api.load('yolov8n', weights=<same checkpoint>, threads=N)(image, conf=, iou=)``: zoo's
  own export (trace → pnnx → ncnn) of the same file, through the detector plugin's checkpoint loader.
- The image is decoded once, outside the timing, into each library's native array (BGR for
  Ultralytics, RGB for zoo); ``--from-file`` passes the path instead, so decoding is timed too.

The checkpoint: ``YOLO('yolov8n.yaml')`` with BatchNorm statistics and affine terms re-randomised
(seeded), so outputs depend on the input as a trained model's do, and the class-logit biases
shifted so the photo yields boxes to post-process (Ultralytics' prior keeps a random model's scores
below 2e-4), saved with Ultralytics' own ``Model.save`` (its checkpoint format: a pickled, fp16
``DetectionModel`` under 'model'). It is made once per workdir; ``--fresh`` remakes it.

Both pipelines' detections on the image are compared (count, and COCO mAP of zoo's boxes against
Ultralytics' as pseudo ground truth), so the timing is of two pipelines that give the same answer.
Timing: ``time.perf_counter_ns`` around each call, after ``--warmup`` untimed calls per worker;
medians, p90 and min; the CPU time other processes took during the run is measured and flagged.
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
DEFAULT_IMAGE = REPO / "zoo" / "data" / "images" / "astronaut.jpg"
DEFAULT_WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "zoo-vs-ultralytics"
SEED = 0
BUSY_WARNING = 0.25


# -- worker plumbing (stdlib only: the Ultralytics venv has no zoo) -----------------------------
def _protocol_stream() -> Any:
    """The real stdout, kept for JSON lines; anything libraries print goes to stderr instead."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto


def _serve(proto: Any, call: Any, stages: Any) -> None:
    """Answer {"cmd": "time", "n"} with n end-to-end times, {"cmd": "stages", "n"} with per-stage
    medians in ms (``stages()`` returns one call's {stage: ms}), until {"cmd": "quit"}."""
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
            break
        if msg["cmd"] == "stages":
            runs = [stages() for _ in range(int(msg["n"]))]
            proto.write(json.dumps({k: statistics.median(r[k] for r in runs) for k in runs[0]}) + "\n")
            continue
        samples = []
        for _ in range(int(msg["n"])):
            t0 = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - t0)
        proto.write(json.dumps({"ns": samples}) + "\n")


def _set_thread_env(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def _randomize_batchnorm(model: Any, seed: int) -> None:
    """Same recipe as zoo_classifier.resnet.randomize_batchnorm: input-dependent outputs."""
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


def _calibrate_class_bias(model: Any, image: str, imgsz: int, top_k: int = 200, score: float = 0.3) -> float:
    """Shift the class-logit biases so about ``top_k`` anchor-class scores on ``image`` reach ``score``.

    Ultralytics initialises those biases to about -11.5 (a prior for 80 rare classes), so a random
    model scores every box below 2e-4 and no pipeline has any box to post-process. A trained model
    finds tens of objects in a photo; this gives the random one a similar load on NMS.
    """
    import math

    import cv2
    import torch
    from ultralytics.data.augment import LetterBox

    net = model.model.float().eval()
    head = net.model[-1]
    rgb = LetterBox((imgsz, imgsz), auto=False)(image=cv2.imread(image))[..., ::-1]
    x = torch.from_numpy(rgb.transpose(2, 0, 1).copy()).float()[None] / 255
    with torch.no_grad():
        y = net(x)
        y = y[0] if isinstance(y, (list, tuple)) else y
        kth = float(y[0, 4:].flatten().topk(top_k).values[-1].clamp(1e-12, 1 - 1e-6))
        delta = math.log(score / (1 - score)) - math.log(kth / (1 - kth))
        for branch in head.cv3:
            branch[-1].bias += delta
    return delta


def worker_make_weights(job: dict[str, Any]) -> dict[str, Any]:
    """(Ultralytics venv) the random checkpoint in Ultralytics' format, and Ultralytics' ncnn export."""
    import torch
    from ultralytics import YOLO, __version__

    workdir = Path(job["workdir"])
    ckpt = workdir / f"yolov8n-random-seed{job['seed']}.pt"
    ncnn_dir = workdir / f"{ckpt.stem}_ncnn_model"
    made = False
    if not ckpt.is_file() or job.get("fresh"):
        torch.manual_seed(job["seed"])
        model = YOLO("yolov8n.yaml")
        _randomize_batchnorm(model.model, job["seed"])
        delta = _calibrate_class_bias(model, job["image"], job["imgsz"])
        (workdir / f"{ckpt.stem}.json").write_text(json.dumps({"class_bias_shift": delta, "image": job["image"]}))
        model.save(str(ckpt))
        made = True
    t0 = time.perf_counter()
    if made or not (ncnn_dir / "model.ncnn.param").is_file():
        YOLO(str(ckpt)).export(format="ncnn", imgsz=job["imgsz"], half=False)
    export_s = time.perf_counter() - t0
    params = sum(p.numel() for p in YOLO(str(ckpt)).model.parameters())
    calib = json.loads((workdir / f"{ckpt.stem}.json").read_text())
    return {
        "checkpoint": str(ckpt),
        "ncnn_dir": str(ncnn_dir),
        "ultralytics": __version__,
        "params": params,
        "export_s": round(export_s, 1),
        "made": made,
        **calib,
    }


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
    model = YOLO(job["ncnn_dir"], task="detect")
    image: Any = job["image"] if job["from_file"] else cv2.imread(job["image"])  # BGR, as Ultralytics expects
    kwargs = {
        "conf": job["conf"],
        "iou": job["iou"],
        "max_det": job["max_det"],
        "imgsz": job["imgsz"],
        "verbose": False,
    }
    model.predict(image, **kwargs)  # builds the predictor and its backend
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
    result = model.predict(image, **kwargs)[0]
    opt = backend.net.opt
    flags = {
        k: bool(getattr(opt, k))
        for k in (
            "use_vulkan_compute",
            "use_fp16_packed",
            "use_fp16_storage",
            "use_fp16_arithmetic",
            "use_int8_inference",
            "use_packing_layout",
        )
    }
    args = model.predictor.args
    info = {
        "versions": {
            "ultralytics": __version__,
            "torch": torch.__version__,
            "ncnn": ncnn.__version__,
            "opencv": cv2.__version__,
            "python": platform.python_version(),
        },
        "threads": {"ncnn": int(opt.num_threads), "torch": torch.get_num_threads(), "opencv": cv2.getNumThreads()},
        "ncnn_options": flags,
        "pre": f"LetterBox to {list(model.predictor.imgsz)} (format {model.predictor.model.format}: fixed "
        f"shape, auto=False; stride {model.predictor.model.stride}, pad 114, centred), cv2 resize, "
        "BGR→RGB, HWC→CHW, /255 in torch",
        "post": f"ncnn graph holds DFL decode + sigmoid; ultralytics non_max_suppression conf={args.conf} "
        f"iou={args.iou} max_det={args.max_det} agnostic={args.agnostic_nms}, scale_boxes to the original",
        "load_ms": round(load_ms, 1),
        "detections": {
            "boxes": result.boxes.xyxy.tolist(),
            "scores": result.boxes.conf.tolist(),
            "class_ids": [int(c) for c in result.boxes.cls.tolist()],
        },
    }
    proto.write(json.dumps(info) + "\n")
    for _ in range(job["warmup"]):
        model.predict(image, **kwargs)

    def stages() -> dict[str, float]:
        speed = model.predict(image, **kwargs)[0].speed  # Ultralytics' own per-stage timing, ms
        return {"pre": speed["preprocess"], "ncnn": speed["inference"], "post": speed["postprocess"]}

    _serve(proto, lambda: model.predict(image, **kwargs), stages)


def worker_zoo(job: dict[str, Any], proto: Any) -> None:
    threads = int(job["threads"])
    _set_thread_env(threads)
    os.environ.setdefault("ZOO_CACHE", str(Path(job["workdir"]) / "zoo-cache"))
    import ncnn
    import numpy as np

    from zoo import api
    from zoo.images import load_image

    t0 = time.perf_counter()
    pipeline = api.load("yolov8n", dtype=job["zoo_dtype"], weights=job["checkpoint"], threads=threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    image: Any = job["image"] if job["from_file"] else load_image(job["image"])  # RGB uint8
    kwargs = {"conf": job["conf"], "iou": job["iou"], "max_det": job["max_det"]}
    accepted = {k: v for k, v in kwargs.items() if k in pipeline.task.run_options or k in ("conf", "iou")}
    result: Any = pipeline(image, **accepted)  # zoo_detector's Detections
    spec, m = pipeline.spec, pipeline.export.manifest if pipeline.export else None
    boxes = np.asarray(result.boxes, dtype=np.float64).reshape(-1, 4)
    info = {
        "versions": {
            "ncnn": ncnn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            **({k: str(v) for k, v in m.tool_versions.items()} if m else {}),
        },
        "threads": {"ncnn": threads},
        "ncnn_options": dict(m.ncnn_options) if m else {},
        "pre": f"{spec.pre.kind} to {list(spec.pre.size)} (pad {spec.pre.pad_value}), {spec.pre.channel_order}, "
        f"scale {spec.pre.scale:.6g}, mean {list(spec.pre.mean)}, std {list(spec.pre.std)}, "
        "ncnn from_pixels_resize + copy_make_border + substract_mean_normalize",
        "post": f"decoder {spec.post.decoder} {json.dumps(spec.post.params)}; call options {json.dumps(accepted)}; "
        f"task defaults {json.dumps(dict(pipeline.task.run_options))}",
        "export": {"dir": str(pipeline.export.folder) if pipeline.export else None, "recipe": m.recipe if m else None},
        "load_ms": round(load_ms, 1),
        "detections": {
            "boxes": boxes.tolist(),
            "scores": np.asarray(result.scores, dtype=np.float64).tolist(),
            "class_ids": [int(c) for c in np.asarray(result.class_ids).tolist()],
        },
    }
    proto.write(json.dumps(info) + "\n")
    for _ in range(job["warmup"]):
        pipeline(image, **accepted)

    def stages() -> dict[str, float]:
        t0 = time.perf_counter_ns()
        rgb = load_image(image) if isinstance(image, str) else image
        tensor, context = pipeline.task.preprocess(rgb, spec.pre)
        t1 = time.perf_counter_ns()
        outputs = pipeline.session.run({spec.input.name: tensor})
        t2 = time.perf_counter_ns()
        pipeline.task.postprocess(outputs, context, spec, {**pipeline.task.run_options, **accepted})
        t3 = time.perf_counter_ns()
        return {"pre": (t1 - t0) / 1e6, "ncnn": (t2 - t1) / 1e6, "post": (t3 - t2) / 1e6}

    _serve(proto, lambda: pipeline(image, **accepted), stages)


def worker_main(kind: str) -> None:
    proto = _protocol_stream()
    job = json.loads(sys.stdin.readline())
    if kind == "make-weights":
        proto.write(json.dumps(worker_make_weights(job)) + "\n")
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
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_fh,
            text=True,
            env=env,
            cwd=REPO,
        )
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

    def stages(self, n: int) -> dict[str, float]:
        self.send({"cmd": "stages", "n": n})
        return self.receive()

    def time(self, n: int) -> list[int]:
        self.send({"cmd": "time", "n": n})
        ns: list[int] = self.receive()["ns"]
        return ns

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
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": p90,
        "min_ms": ms[0],
        "mean_ms": statistics.fmean(ms),
        "stdev_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0,
        "runs": len(ms),
    }


def agreement(ref: dict[str, Any], cand: dict[str, Any]) -> float:
    import numpy as np

    from zoo.eval.coco import detections_agreement_map

    def as_dets(d: dict[str, Any]) -> dict[str, Any]:
        return {
            "boxes": np.asarray(d["boxes"], float).reshape(-1, 4),
            "scores": np.asarray(d["scores"], float),
            "class_ids": np.asarray(d["class_ids"], int),
        }

    return detections_agreement_map([as_dets(ref)], [as_dets(cand)])


def run_threads(args: argparse.Namespace, weights: dict[str, Any], threads: int, env: dict[str, str]) -> dict[str, Any]:
    import psutil

    job = {
        "threads": threads,
        "image": str(args.image),
        "from_file": args.from_file,
        "zoo_dtype": args.zoo_dtype,
        "conf": args.conf,
        "iou": args.iou,
        "max_det": args.max_det,
        "imgsz": args.imgsz,
        "warmup": args.warmup,
        "ncnn_dir": weights["ncnn_dir"],
        "checkpoint": weights["checkpoint"],
        "workdir": str(args.workdir),
    }
    workers = {
        "ultralytics": Worker(
            args.ultralytics_python, "ultralytics", job, args.workdir / f"ultralytics-{threads}t.log", env
        ),
        "zoo": Worker(sys.executable, "zoo", job, args.workdir / f"zoo-{threads}t.log", env),
    }
    try:
        infos = {name: w.receive() for name, w in workers.items()}  # loaded and warmed up
        samples: dict[str, list[int]] = {name: [] for name in workers}
        round_ratios = []
        cpu0 = psutil.cpu_times()
        own0 = sum(w.cpu_seconds() for w in workers.values())
        wall0 = time.perf_counter()
        for r in range(args.rounds):
            order = list(workers) if r % 2 == 0 else list(workers)[::-1]
            got = {name: workers[name].time(args.per_round) for name in order}
            for name, ns in got.items():
                samples[name] += ns
            round_ratios.append(statistics.median(got["ultralytics"]) / statistics.median(got["zoo"]))
        wall = time.perf_counter() - wall0
        cpu1 = psutil.cpu_times()
        own = sum(w.cpu_seconds() for w in workers.values()) - own0
        stages = {name: w.stages(args.stage_runs) for name, w in workers.items()} if args.stage_runs else {}
    finally:
        for w in workers.values():
            w.close()
    busy = (cpu1.user + cpu1.system + cpu1.nice) - (cpu0.user + cpu0.system + cpu0.nice)
    other_load = max(0.0, busy - own) / (wall * (psutil.cpu_count() or 1))
    stats = {name: summarize(ns) for name, ns in samples.items()}
    return {
        "threads": threads,
        "stats": stats,
        "stages_ms": stages,
        "ratio": stats["ultralytics"]["median_ms"] / stats["zoo"]["median_ms"],
        "round_ratio_median": statistics.median(round_ratios),
        "other_cpu_load": other_load,
        "infos": infos,
        "n_detections": {name: len(info["detections"]["scores"]) for name, info in infos.items()},
        "agreement_map": agreement(infos["ultralytics"]["detections"], infos["zoo"]["detections"]),
    }


def make_weights(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    w = Worker(
        args.ultralytics_python,
        "make-weights",
        {
            "workdir": str(args.workdir),
            "seed": SEED,
            "imgsz": args.imgsz,
            "fresh": args.fresh,
            "image": str(args.image),
        },
        args.workdir / "make-weights.log",
        env,
    )
    try:
        return w.receive()
    finally:
        w.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--ultralytics-python",
        default=os.environ.get("ULTRALYTICS_PYTHON"),
        help="python of the venv with ultralytics + torch 2.14.1 + torchvision 0.29.1 (or $ULTRALYTICS_PYTHON)",
    )
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds (default 15)")
    parser.add_argument("--per-round", type=int, default=2, help="timed calls per pipeline per round (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per pipeline before timing (default 3)")
    parser.add_argument(
        "--stage-runs", type=int, default=6, help="calls per pipeline for the pre/ncnn/post breakdown (0: skip)"
    )
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="a real photo (default zoo's astronaut.jpg)")
    parser.add_argument("--from-file", action="store_true", help="pass the image path, so decoding is timed too")
    parser.add_argument(
        "--conf", type=float, default=0.25, help="confidence threshold, both sides (Ultralytics' default)"
    )
    parser.add_argument("--iou", type=float, default=0.7, help="NMS IoU, both sides (Ultralytics' default)")
    parser.add_argument("--max-det", type=int, default=300)
    parser.add_argument(
        "--zoo-dtype",
        default="fp32",
        choices=("fp32", "fp16", "int8"),
        help="zoo's side (default fp32, the like-for-like comparison; int8 shows what zoo adds, Ultralytics "
        "ships no ncnn int8; Ultralytics' side is always its own ncnn export)",
    )
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="checkpoint, exports and worker logs")
    parser.add_argument("--fresh", action="store_true", help="remake the checkpoint and Ultralytics' export")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    if not args.ultralytics_python or not Path(args.ultralytics_python).is_file():
        parser.error(
            "pass --ultralytics-python PATH (or set ULTRALYTICS_PYTHON) to the python of a venv with "
            "ultralytics, torch==2.14.1 and torchvision==0.29.1; see this file's docstring"
        )
    if not args.image.is_file():
        parser.error(f"{args.image}: no such image")
    thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.image = args.image.resolve()
    env = {
        **os.environ,
        "YOLO_CONFIG_DIR": str(args.workdir / "ultralytics-config"),
        "YOLO_OFFLINE": "1",
    }

    print(
        f"host: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} logical CPUs, "
        f"python {platform.python_version()}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"image: {args.image} ({'path: decode timed' if args.from_file else 'decoded once, array passed'})")
    print(
        f"threads: {thread_counts}; {args.rounds} rounds x {args.per_round} calls per pipeline, alternating, "
        f"after {args.warmup} warm-up calls; conf {args.conf}, iou {args.iou}, max_det {args.max_det}, imgsz {args.imgsz}; "
        f"zoo dtype {args.zoo_dtype}"
    )
    weights = make_weights(args, env)
    print(
        f"checkpoint: {weights['checkpoint']} (ultralytics {weights['ultralytics']} format, "
        f"YOLO('yolov8n.yaml'), {weights['params']:,} params, BatchNorm re-randomised, seed {SEED}; "
        f"class-logit biases shifted by {weights['class_bias_shift']:+.2f} so ~200 anchor scores on "
        f"{Path(weights['image']).name} reach 0.3)"
    )
    print(
        f"ultralytics export: {weights['ncnn_dir']}"
        + (f" ({weights['export_s']} s)" if weights["export_s"] > 1 else " (cached)")
    )

    results = []
    for t in thread_counts:
        res = run_threads(args, weights, t, env)
        results.append(res)
        if t == thread_counts[0]:
            for name in ("ultralytics", "zoo"):
                info = res["infos"][name]
                print(f"\n[{name}] versions {json.dumps(info['versions'])}")
                print(f"[{name}] pre:  {info['pre']}")
                print(f"[{name}] post: {info['post']}")
                print(f"[{name}] ncnn options {json.dumps(info['ncnn_options'])}")
                if name == "zoo":
                    print(f"[zoo] export: {json.dumps(info['export'])}")
        print(
            f"\n== {t} thread{'s' if t > 1 else ''} ==  (threads set: ultralytics {json.dumps(res['infos']['ultralytics']['threads'])}, "
            f"zoo {json.dumps(res['infos']['zoo']['threads'])})"
        )
        for name in ("ultralytics", "zoo"):
            s = res["stats"][name]
            print(
                f"  {name:<12} median {s['median_ms']:8.1f} ms   p90 {s['p90_ms']:8.1f}   min {s['min_ms']:8.1f}   "
                f"mean {s['mean_ms']:8.1f}   runs {s['runs']}   load {res['infos'][name]['load_ms']:.0f} ms   "
                f"detections {res['n_detections'][name]}"
            )
        for name, st in res["stages_ms"].items():
            print(
                f"  {name:<12} stages, median of {args.stage_runs} (after the timed runs): pre {st['pre']:.1f} ms, "
                f"ncnn {st['ncnn']:.1f} ms, post {st['post']:.1f} ms"
            )
        print(
            f"  ratio (ultralytics median / zoo median): {res['ratio']:.2f}x   "
            f"(median of per-round ratios {res['round_ratio_median']:.2f}x)   goal >= 1.30x: "
            f"{'met' if res['ratio'] >= 1.3 else 'NOT met'}"
        )
        print(
            f"  same answer: zoo's boxes scored against Ultralytics' as ground truth, mAP@[.5:.95] {res['agreement_map']:.3f}"
        )
        flag = "  UNSTABLE: " if res["other_cpu_load"] > BUSY_WARNING else "  "
        print(f"{flag}other processes used {res['other_cpu_load']:.0%} of the CPUs during timing")
    if args.json:
        args.json.write_text(json.dumps({"weights": weights, "results": results}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
