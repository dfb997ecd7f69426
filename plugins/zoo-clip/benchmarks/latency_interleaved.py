"""Tower latencies measured round-robin, so every model sees the same background load.

    .venv/bin/python plugins/zoo-clip/benchmarks/latency_interleaved.py DIR [--threads 1] [--rounds 15]

DIR is bench_towers.py's ``--out`` (DIR/<model>/<dtype>/<tower>.ncnn.{param,bin}). On a shared
machine, sequential benchmarks compare a quiet minute against a busy one; here each round runs
every (model, tower, dtype) a few times in turn, and the report gives per-config median and min
and the share of CPU other processes used during the whole run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from zoo.bench.host import LoadMonitor
    from zoo.runtime.ncnn_session import OPTIONS_BY_DTYPE
    from zoo_clip.pipeline import NcnnTower

    rng = np.random.default_rng(0)
    sessions: dict[tuple[str, str, str], tuple[NcnnTower, dict[str, np.ndarray]]] = {}
    for param in sorted(args.dir.glob("*/*/*.ncnn.param")):
        model, dtype, tower = param.parent.parent.name, param.parent.name, param.name.split(".")[0]
        opts = OPTIONS_BY_DTYPE["int8" if dtype.startswith("int8") else dtype]
        sess = NcnnTower(param, param.with_suffix("").with_suffix(".ncnn.bin"), args.threads, opts)
        if tower == "image":
            size = 256 if model.startswith("mobileclip") else 224
            feed = {"in0": rng.normal(size=(1, 3, size, size)).astype(np.float32)}
        else:
            ids = np.zeros((1, 77), np.int64)
            ids[0, :7] = [49406, 320, 1125, 539, 320, 2368, 49407]
            onehot = np.zeros((1, 77), np.float32)
            onehot[0, 6] = 1.0
            feed = {"in0": ids, "in1": onehot}
        sess.run(feed)  # warm-up
        sessions[(model, tower, dtype)] = (sess, feed)
    samples: dict[tuple[str, str, str], list[float]] = {k: [] for k in sessions}
    monitor = LoadMonitor()
    monitor.start()
    for _ in range(args.rounds):
        for key, (sess, feed) in sessions.items():
            for _ in range(args.per_round):
                t0 = time.perf_counter_ns()
                sess.run(feed)
                samples[key].append((time.perf_counter_ns() - t0) / 1e6)
    other = monitor.stop()
    rows = [{"model": m, "tower": t, "dtype": d, "threads": args.threads,
             "median_ms": round(statistics.median(v), 1), "min_ms": round(min(v), 1), "runs": len(v)}
            for (m, t, d), v in samples.items()]
    for row in rows:
        print(json.dumps(row))
    print(json.dumps({"other_load": round(other, 2)}))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "other_load": other}, indent=1))


if __name__ == "__main__":
    main()
