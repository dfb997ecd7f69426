"""``zoo eval`` for the tracker task: HOTA, MOTA and IDF1 on MOTChallenge-format data.

A MOTChallenge folder holds one folder per sequence (the folder given, or its subfolders)::

    SEQ/seqinfo.ini          [Sequence] name, seqLength, imWidth, imHeight, frameRate, imDir, imExt
    SEQ/img1/000001.jpg ...  the frames, numbered from 1 (imDir / imExt of seqinfo.ini)
    SEQ/gt/gt.txt            frame, id, left, top, width, height, flag, class, visibility

``load`` checks all of it (every frame file present, every gt line) before any model loads;
``evaluate`` runs the predictor over each sequence's frames in order, reset between sequences,
and scores the tracks with TrackEval's metric classes (``zoo_tracker.mot.evaluate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.card import Metric
from zoo.errors import InputError
from zoo.tasks import EvalOutcome, Predictor
from zoo_tracker.mot import MotData, SeqInfo, read_mot, read_seqinfo

LAYOUT = "a MOTChallenge folder holds SEQ/seqinfo.ini, SEQ/img1/000001.jpg... and SEQ/gt/gt.txt per sequence"


@dataclass(frozen=True)
class Sequence:
    folder: Path
    info: SeqInfo
    gt: MotData
    frames: tuple[Path, ...]

    @property
    def name(self) -> str:
        return self.folder.name


@dataclass(frozen=True)
class MotDataset:
    name: str
    root: Path
    sequences: tuple[Sequence, ...]
    limit: int | None

    @property
    def num_frames(self) -> int:
        return sum(len(s.frames) for s in self.sequences)


def find_sequences(root: Path) -> list[Path]:
    """``root`` itself when it is a sequence folder, else its subfolders that have a seqinfo.ini or gt/gt.txt."""
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; --data takes a MOTChallenge folder ({LAYOUT})")
    if (root / "seqinfo.ini").is_file():
        return [root]
    seqs = sorted(p for p in root.iterdir()
                  if p.is_dir() and ((p / "seqinfo.ini").is_file() or (p / "gt" / "gt.txt").is_file()))  # fmt: skip
    if not seqs:
        raise InputError(f"{root}: no sequence folders found; {LAYOUT}")
    return seqs


def load_sequence(folder: Path, limit: int | None) -> Sequence:
    info = read_seqinfo(folder / "seqinfo.ini")
    gt_file = folder / "gt" / "gt.txt"
    if not gt_file.is_file():
        raise InputError(f"{gt_file}: no ground truth; {LAYOUT}")
    gt = read_mot(gt_file, kind="gt", seq_length=info.seq_length)
    n = min(info.seq_length, limit) if limit else info.seq_length
    image_dir = folder / info.im_dir
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: no such folder; seqinfo.ini's imDir={info.im_dir} names the frames' folder")
    frames = tuple(image_dir / f"{t:06d}{info.im_ext}" for t in range(1, n + 1))
    for t, path in enumerate(frames, start=1):
        if not path.is_file():
            raise InputError(f"{path}: missing frame {t} of {info.seq_length} (seqinfo.ini seqLength); "
                             f"frames are named 000001{info.im_ext}, 000002{info.im_ext}...")  # fmt: skip
    if limit:
        keep = gt.frames <= n
        gt = MotData(frames=gt.frames[keep], ids=gt.ids[keep], boxes=gt.boxes[keep], conf=gt.conf[keep],
                     classes=gt.classes[keep], visibility=gt.visibility[keep], source=gt.source)  # fmt: skip
    return Sequence(folder=folder, info=info, gt=gt, frames=frames)


def tracks_to_mot(results: list[Any]) -> MotData:
    """Per-frame Tracks (frame t of the sequence at index t-1) as MOT rows."""
    frames, ids, boxes, conf = [], [], [], []
    for t, r in enumerate(results, start=1):
        n = len(r)
        frames.append(np.full(n, t, np.int64))
        ids.append(np.asarray(r.ids, np.int64))
        xyxy = np.asarray(r.boxes, np.float64).reshape(-1, 4)
        boxes.append(np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1))
        conf.append(np.asarray(r.scores, np.float64))
    if not frames:
        return MotData.empty("tracker")
    cat = np.concatenate
    k = sum(len(f) for f in frames)
    return MotData(frames=cat(frames), ids=cat(ids), boxes=cat(boxes).reshape(-1, 4), conf=cat(conf),
                   classes=np.full(k, -1.0), visibility=np.full(k, -1.0), source="tracker")  # fmt: skip


def write_results(folder: Path, name: str, data: MotData) -> None:
    """``folder/<sequence>.txt`` in MOTChallenge's result format (what TrackEval reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{f},{i},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},{c:.4f},-1,-1,-1\n"
             for f, i, b, c in zip(data.frames.tolist(), data.ids.tolist(), data.boxes, data.conf.tolist(), strict=True)]  # fmt: skip
    (folder / f"{name}.txt").write_text("".join(lines), encoding="utf-8")


class MotEvaluator:
    """The tracker task's evaluator: HOTA (the card's metric), MOTA and IDF1 over all sequences."""

    metric = "HOTA"

    def load(self, data: Path, *, limit: int | None, name: str | None) -> MotDataset:
        """Every sequence read and checked (``limit``: only the first N frames of each)."""
        from zoo_tracker.mot import _trackeval_metrics

        _trackeval_metrics()  # a missing trackeval is one line before any model loads
        root = Path(data)
        sequences = tuple(load_sequence(folder, limit) for folder in find_sequences(root))
        return MotDataset(name=name or root.resolve().name, root=root, sequences=sequences, limit=limit)

    def evaluate(
        self,
        dataset: MotDataset,
        predictor: Predictor,
        *,
        options: Mapping[str, Any],
        results_file: Path | None,
        progress: Callable[[int, int], None] | None,
    ) -> EvalOutcome:
        from importlib.metadata import version

        from zoo.images import load_image
        from zoo_tracker.mot import evaluate as score

        total, done = dataset.num_frames, 0
        pairs: dict[str, tuple[MotData, MotData]] = {}
        lengths: dict[str, int] = {}
        stage_ms: dict[str, float] = {}
        started = time.perf_counter()
        for seq in dataset.sequences:
            opts = dict(options)
            if opts.get("frame_rate") is None and "frame_rate" in opts:
                opts["frame_rate"] = seq.info.frame_rate
            predictor.reset()
            results = []
            for path in seq.frames:
                results.append(predictor(load_image(path, orientation=False), **opts))
                for stage, ms in predictor.times.items():
                    stage_ms[stage] = stage_ms.get(stage, 0.0) + ms
                done += 1
                if progress is not None:
                    progress(done, total)
            tracked = tracks_to_mot(results)
            if results_file is not None:
                write_results(results_file, seq.name, tracked)
            pairs[seq.name] = (seq.gt, tracked)
            lengths[seq.name] = len(seq.frames)
        scores = score(pairs, lengths)
        combined = scores["COMBINED"]
        metrics = [Metric(name=m, value=float(combined[m]), dataset=dataset.name, n=total)
                   for m in ("HOTA", "MOTA", "IDF1")]  # fmt: skip
        parts = {role: {"model": p.spec.id, "precision": p.export.manifest.precision if p.export else None}
                 for role, p in predictor.parts.items()}  # fmt: skip
        facts: dict[str, Any] = {
            "library": f"trackeval {version('trackeval')} (HOTA, CLEAR, Identity; MOTChallenge preprocessing)",
            "sequences": {name: {"frames": lengths[name], **{k: round(v, 4) for k, v in s.items()}}
                          for name, s in scores.items() if name != "COMBINED"},  # fmt: skip
            "combined": {k: round(v, 4) for k, v in combined.items()},
            "frames": total,
            "ms_per_frame": {k: round(v / max(total, 1), 3) for k, v in stage_ms.items()},
            "wall_s": round(time.perf_counter() - started, 2),
            "options": {k: v for k, v in options.items() if v is not None},
            "parts": parts,
        }
        if dataset.limit:
            facts["limit"] = f"first {dataset.limit} frames of each sequence"
        return EvalOutcome(metrics=metrics, facts=facts)
