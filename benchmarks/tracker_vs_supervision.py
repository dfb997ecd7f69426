"""zoo's ByteTrack against supervision's, on the same detections, measured in one run.

Detections are made from real MOT15 ground truth (TUD-Campus, TUD-Stadtmitte, shipped inside the
``motmetrics`` package) with seeded detector faults at several rates (``zoo_tracker.faults``), fed
to both trackers with the same parameters, and both outputs are scored against the ground truth
with TrackEval (HOTA, MOTA, IDF1). Time per frame is the tracker's update call alone, median over
frames. A second table times both on synthetic scenes with 10 and 50 objects.

supervision ships ByteTrack up to 0.29.x (``sv.ByteTrack``; removed in 0.30 for the ``trackers``
package). It pulls OpenCV and matplotlib, so it runs in its own venv, as a subprocess:

    python3 -m venv /tmp/sv-venv && /tmp/sv-venv/bin/pip install 'supervision==0.29.1'
    .venv/bin/python benchmarks/tracker_vs_supervision.py --sv-python /tmp/sv-venv/bin/python

(``ZOO_SUPERVISION_PYTHON`` works too; without either, supervision is imported in-process if it is
installed.) Needs ``pip install --no-deps motmetrics==1.4.0`` for the ground truth and
``zoo-tracker[eval]`` (trackeval) for the scores. Run with one thread: OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# --- the supervision side: runs in supervision's own interpreter; needs numpy and supervision only ---

def _run_supervision(jobs_npz: str, out_json: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import supervision as sv

    data = np.load(jobs_npz)
    meta = json.loads(str(data["meta"]))
    results = []
    for j, job in enumerate(meta["jobs"]):
        tracker = sv.ByteTrack(track_activation_threshold=job["track_thresh"], lost_track_buffer=job["track_buffer"],
                               minimum_matching_threshold=job["match_thresh"], frame_rate=job["frame_rate"],
                               minimum_consecutive_frames=1)
        boxes, scores, counts = data[f"boxes{j}"], data[f"scores{j}"], data[f"counts{j}"]
        starts = np.concatenate([[0], np.cumsum(counts)])
        rows: list[str] = []
        times: list[int] = []
        for f in range(len(counts)):
            a, b = starts[f], starts[f + 1]
            dets = sv.Detections(xyxy=boxes[a:b].astype(np.float32), confidence=scores[a:b].astype(np.float32),
                                 class_id=np.zeros(b - a, dtype=int))
            t0 = time.perf_counter_ns()
            out = tracker.update_with_detections(dets)
            times.append(time.perf_counter_ns() - t0)
            for (x1, y1, x2, y2), tid, s in zip(out.xyxy, out.tracker_id, out.confidence, strict=True):
                rows.append(f"{f + 1},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{s:.4f},-1,-1,-1")
        results.append({"rows": rows, "times_ns": times})
    Path(out_json).write_text(json.dumps({"version": sv.__version__, "results": results}))


# --- the zoo side ---

def _pack(jobs: list[dict[str, Any]], dets_per_job: list[list[Any]], path: str) -> None:
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps({"jobs": jobs}))}
    for j, dets in enumerate(dets_per_job):
        arrays[f"boxes{j}"] = np.concatenate([d.boxes for d in dets]).reshape(-1, 4)
        arrays[f"scores{j}"] = np.concatenate([d.scores for d in dets])
        arrays[f"counts{j}"] = np.array([len(d) for d in dets])
    np.savez(path, **arrays)


def _supervision(jobs: list[dict[str, Any]], dets_per_job: list[list[Any]], python: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        jobs_npz, out_json = os.path.join(tmp, "jobs.npz"), os.path.join(tmp, "out.json")
        _pack(jobs, dets_per_job, jobs_npz)
        if python:
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
            subprocess.run([python, os.path.abspath(__file__), "--worker", jobs_npz, out_json], check=True, env=env)
        else:
            _run_supervision(jobs_npz, out_json)
        return json.loads(Path(out_json).read_text())


ZOO_VARIANTS = ("zoo", "zoo-upstream")
"""zoo: ByteTrackConfig's defaults; zoo-upstream: ByteTrackConfig.upstream() (Kalman boxes shown,
duplicates at IoU 0.85: the official code's choices)."""
ABLATION = {"zoo-kalman-boxes": {"output_boxes": "kalman"}, "zoo-dup-0.85": {"duplicate_iou": 0.85}}
"""--ablation: zoo's defaults with one of its two departures from upstream undone."""


def _run_zoo(job: dict[str, Any], dets: list[Any], variant: str) -> tuple[list[str], list[int]]:
    from zoo_tracker.bytetrack import ByteTrackConfig, ByteTracker

    params = {"track_thresh": job["track_thresh"], "track_buffer": job["track_buffer"],
              "match_thresh": job["match_thresh"], "frame_rate": job["frame_rate"]}
    if variant == "zoo-upstream":
        config = ByteTrackConfig.upstream(**params)
    else:
        config = ByteTrackConfig(**params, **ABLATION.get(variant, {}))  # type: ignore[arg-type]
    tracker = ByteTracker(config)
    rows: list[str] = []
    times: list[int] = []
    for d in dets:
        t0 = time.perf_counter_ns()
        out = tracker.update(d)
        times.append(time.perf_counter_ns() - t0)
        rows += out.to_mot_rows()
    return rows, times


def _synthetic_scene(n: int, frames: int, seed: int) -> list[Any]:
    """n objects moving at constant velocity in a 1920x1080 frame, detected with small jitter."""
    from zoo_tracker.bytetrack import FrameDetections

    rng = np.random.default_rng(seed)
    pos = rng.uniform([100, 100], [1800, 980], (n, 2))
    vel = rng.normal(0, 3, (n, 2))
    size = rng.uniform([20, 50], [60, 150], (n, 2))
    out = []
    for t in range(frames):
        p = pos + vel * t
        b = np.concatenate([p - size / 2, p + size / 2], 1) + rng.normal(0, 1.0, (n, 4))
        s = rng.uniform(0.55, 0.95, n)
        out.append(FrameDetections(boxes=b.astype(np.float32), scores=s.astype(np.float32),
                                   class_ids=np.zeros(n, np.int64), image_shape=(1080, 1920)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="0,0.1,0.2,0.3,0.4", help="fault rates (FaultSpec.at_rate)")
    ap.add_argument("--seeds", type=int, default=3, help="fault seeds per rate (scores are averaged)")
    ap.add_argument("--track-thresh", type=float, default=0.5, help="high/low split, both trackers (ByteTrack's 0.5)")
    ap.add_argument("--sv-python", default=os.environ.get("ZOO_SUPERVISION_PYTHON"),
                    help="python of a venv with supervision==0.29.x (default: $ZOO_SUPERVISION_PYTHON, else in-process)")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="first fault seed (100: seeds never used in choosing the defaults, which used the first few)")
    ap.add_argument("--ablation", action="store_true",
                    help="also zoo with each departure from upstream undone (Kalman boxes; duplicates at 0.85)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--worker", nargs=2, metavar=("JOBS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _run_supervision(*args.worker)
        return

    from zoo_tracker.faults import FaultSpec, detections_from_gt, mot15_sequence
    from zoo_tracker.mot import evaluate, parse_mot

    rates = [float(r) for r in args.rates.split(",")]
    jobs: list[dict[str, Any]] = []
    dets_per_job: list[list[Any]] = []
    seqs = {name: mot15_sequence(name) for name in ("TUD-Campus", "TUD-Stadtmitte")}
    for name, seq in seqs.items():
        for rate in rates:
            for seed in range(args.seed_offset, args.seed_offset + args.seeds):
                jobs.append({"kind": "mot15", "seq": name, "rate": rate, "seed": seed, "track_thresh": args.track_thresh,
                             "track_buffer": 30, "match_thresh": 0.8, "frame_rate": seq.frame_rate})
                dets_per_job.append(detections_from_gt(seq.gt, seq.seq_length, seq.image_shape,
                                                       FaultSpec.at_rate(rate), seed=1000 * seed + int(rate * 100)))
    for n in (10, 50):
        jobs.append({"kind": "synthetic", "objects": n, "track_thresh": args.track_thresh, "track_buffer": 30,
                     "match_thresh": 0.8, "frame_rate": 30.0})
        dets_per_job.append(_synthetic_scene(n, 300, seed=n))

    sv_out = _supervision(jobs, dets_per_job, args.sv_python)
    variants = (*ZOO_VARIANTS, *(ABLATION if args.ablation else ()))
    outputs: dict[str, list[tuple[list[str], list[int]]]] = {
        v: [_run_zoo(job, dets, v) for job, dets in zip(jobs, dets_per_job, strict=True)] for v in variants}
    outputs["supervision"] = [(r["rows"], r["times_ns"]) for r in sv_out["results"]]
    who_all = (*variants, "supervision")

    table: list[dict[str, Any]] = []
    groups: dict[tuple[str, float], list[int]] = {}
    for j, job in enumerate(jobs):
        if job["kind"] == "mot15":
            groups.setdefault((job["seq"], job["rate"]), []).append(j)
    for (name, rate), idx in groups.items():
        seq = seqs[name]
        row: dict[str, Any] = {"sequence": name, "fault_rate": rate, "seeds": len(idx)}
        for who in who_all:
            rows_times = [outputs[who][j] for j in idx]
            scores = [evaluate({name: (seq.gt, parse_mot("\n".join(rows)))}, {name: seq.seq_length})[name]
                      for rows, _ in rows_times]
            for k in ("HOTA", "MOTA", "IDF1", "IDSW"):
                row[f"{who}_{k}"] = float(np.mean([s[k] for s in scores]))
            row[f"{who}_ms"] = float(np.median(np.concatenate([t for _, t in rows_times]))) / 1e6
        table.append(row)
    timing = []
    for j, job in enumerate(jobs):
        if job["kind"] == "synthetic":
            timing.append({"objects": job["objects"],
                           **{f"{who}_ms": float(np.median(outputs[who][j][1][10:])) / 1e6 for who in who_all},
                           **{f"{who}_tracks_last_frame": sum(1 for r in outputs[who][j][0] if r.startswith("300,"))
                              for who in who_all}})

    if args.json:
        print(json.dumps({"supervision_version": sv_out["version"], "mot15": table, "synthetic": timing}, indent=1))
        return
    print(f"ByteTrack: zoo (defaults), zoo-upstream (ByteTrackConfig.upstream()), supervision {sv_out['version']}; "
          f"track_thresh {args.track_thresh}; {args.seeds} fault seed(s) per rate; HOTA/MOTA/IDF1 by TrackEval; "
          "ms = median update() per frame")
    head = "".join(f" | {w:^33}" for w in who_all)
    print(f"{'sequence':<15}{'rate':>5}{head}")
    print(f"{'':<20}" + " | ".join(["  HOTA   MOTA   IDF1  IDSW     ms"] * len(who_all)).join([" | ", ""]))
    for r in table:
        cells = " | ".join(f"{r[f'{w}_HOTA']:6.3f}{r[f'{w}_MOTA']:7.3f}{r[f'{w}_IDF1']:7.3f}{r[f'{w}_IDSW']:6.1f}"
                           f"{r[f'{w}_ms']:7.3f}" for w in who_all)
        print(f"{r['sequence']:<15}{r['fault_rate']:>5.2f} | {cells}")
    print("\nsynthetic scene (1920x1080, constant-velocity objects, 300 frames): median ms per update()")
    for t in timing:
        ms = ", ".join(f"{w} {t[f'{w}_ms']:.3f}" for w in who_all)
        print(f"  {t['objects']:>3} objects: {ms}  (supervision / zoo: {t['supervision_ms'] / t['zoo_ms']:.1f}x; "
              f"tracks shown at frame 300: {t['zoo_tracks_last_frame']} / {t['supervision_tracks_last_frame']})")


if __name__ == "__main__":
    sys.exit(main())
