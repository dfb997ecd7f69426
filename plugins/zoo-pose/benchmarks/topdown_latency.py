"""Per-frame latency of the top-down pose pipeline on ncnn, as the number of people grows.

    python plugins/zoo-pose/benchmarks/topdown_latency.py EXPORT_DIR [EXPORT_DIR...] \
        [--people 1,5] [--threads 1,2] [--runs 30]

EXPORT_DIR is a `zoo export rtmpose-s` folder (fp32, fp16 or int8; its export.json names the
files and the ncnn Option flags). For each folder, thread count and number of people it times,
on an embedded photo with that many person boxes: the numpy crops (affine warp + normalise), the
network (one ncnn extract per crop: ncnn has no batch), the SimCC decode and inverse map, and the
whole frame. The person detector is not included (boxes are given); add its own per-frame time.
Prints one JSON object per line and a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from zoo.images import sample_images
from zoo.runtimes.ncnn.session import NcnnSession
from zoo_pose.processing import TopDownConfig, check_boxes, crops_for, poses_from_simcc

BOXES = np.array([[60, 40, 220, 470], [230, 60, 360, 400], [370, 20, 500, 480], [10, 250, 150, 500],
                  [300, 300, 420, 510]], np.float32)


def _session(folder: Path, threads: int) -> NcnnSession:
    manifest = json.loads((folder / "export.json").read_text())
    files = manifest["files"].get("model", manifest["files"])  # the int8 pair for an int8 export
    options = manifest.get("runtime_options", manifest.get("ncnn_options"))
    return NcnnSession(folder / files["param"], folder / files["bin"], threads=threads, options=options)


def time_frame(session: NcnnSession, image: np.ndarray, people: int, runs: int) -> dict[str, float]:
    config = TopDownConfig()
    boxes, scores = check_boxes(BOXES[:people], None)
    pre, net, post, total = [], [], [], []
    for i in range(runs + 3):
        t0 = time.perf_counter_ns()
        x, center, scale = crops_for(image, boxes, config)
        t1 = time.perf_counter_ns()
        outs = [session.run({"in0": x[k:k + 1]}) for k in range(len(x))]
        t2 = time.perf_counter_ns()
        sx = np.concatenate([o["out0"] for o in outs])
        sy = np.concatenate([o["out1"] for o in outs])
        poses = poses_from_simcc(sx, sy, boxes, scores, center, scale, image.shape[:2], config)
        t3 = time.perf_counter_ns()
        if i >= 3:  # warm-up
            pre.append(t1 - t0)
            net.append(t2 - t1)
            post.append(t3 - t2)
            total.append(t3 - t0)
    if len(poses) != people:
        raise RuntimeError(f"expected {people} poses, got {len(poses)}")
    ms = {name: statistics.median(v) / 1e6 for name, v in
          (("pre_ms", pre), ("network_ms", net), ("post_ms", post), ("frame_ms", total))}
    ms["frame_p90_ms"] = float(np.percentile(total, 90)) / 1e6
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exports", nargs="+", type=Path)
    parser.add_argument("--people", default="1,5")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    image = sample_images(1)[0]
    rows = []
    for folder in args.exports:
        dtype = json.loads((folder / "export.json").read_text()).get("dtype", "?")
        for threads in (int(t) for t in args.threads.split(",")):
            session = _session(folder, threads)
            for people in (int(p) for p in args.people.split(",")):
                row = {"export": str(folder), "dtype": dtype, "threads": threads, "people": people,
                       **time_frame(session, image, people, args.runs)}
                print(json.dumps(row), flush=True)
                rows.append(row)
            session.close()
    print(f"\n{'dtype':6} {'thr':>3} {'people':>6} {'pre':>7} {'network':>8} {'post':>6} {'frame':>7} {'p90':>7}")
    for r in rows:
        print(f"{r['dtype']:6} {r['threads']:>3} {r['people']:>6} {r['pre_ms']:7.2f} {r['network_ms']:8.2f} "
              f"{r['post_ms']:6.2f} {r['frame_ms']:7.2f} {r['frame_p90_ms']:7.2f}")


if __name__ == "__main__":
    main()
