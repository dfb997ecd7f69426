"""Detector-like detections made from ground truth, with seeded faults, and the real MOT15 ground
truth that ``motmetrics`` ships (TUD-Campus, TUD-Stadtmitte; no frames).

A tracker scored on detections made this way is scored on its association alone: how it copes
with what detectors get wrong. The faults, each drawn from one seeded generator:

* box jitter: centre and size noise, a fraction of the box's own size;
* missed detections: each true box dropped with probability ``miss``;
* occlusion: a box covered by boxes nearer the camera (lower bottom edge, as in street scenes)
  loses score in proportion to the covered fraction, and is missed more often when mostly hidden;
* low scores: a true box's score falls into the low band (0.1 .. 0.5) with probability
  ``low_score`` — what a partly visible person gets from a real detector, and what ByteTrack's
  second association exists for;
* false positives: Poisson(``false_pos``) boxes per frame, sized like the true ones, placed
  anywhere, mostly with low scores (a fifth of them confident).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import InputError
from zoo_tracker.bytetrack import FrameDetections
from zoo_tracker.mot import MotData, read_mot

MOT15_SEQUENCES = {
    # MOT15 seqinfo.ini values for the two sequences motmetrics ships (640x480, 25 fps)
    "TUD-Campus": {"seq_length": 71, "image_shape": (480, 640), "frame_rate": 25.0},
    "TUD-Stadtmitte": {"seq_length": 179, "image_shape": (480, 640), "frame_rate": 25.0},
}


@dataclass(frozen=True)
class Mot15Sequence:
    name: str
    gt: MotData
    seq_length: int
    image_shape: tuple[int, int]
    frame_rate: float


def motmetrics_data_dir() -> Path:
    """The ``data`` folder inside the installed motmetrics package, found without importing it
    (motmetrics itself does not import on NumPy 2; only its data files are read)."""
    spec = importlib.util.find_spec("motmetrics")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the MOT15 ground truth comes from the motmetrics package, which is not installed; "
                         "install its data with: pip install --no-deps motmetrics==1.4.0")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def mot15_sequence(name: str) -> Mot15Sequence:
    """Real MOT15 ground truth shipped inside ``motmetrics==1.4.0``. The package is MIT-licensed; the
    annotations are MOTChallenge's (MOT15, TUD sequences), under MOTChallenge's own terms (to our
    knowledge CC BY-NC-SA 3.0; the package states none for them), so they are read from the
    installed package at run time and never copied into this repository."""
    if name not in MOT15_SEQUENCES:
        raise InputError(f"unknown MOT15 sequence {name!r}; motmetrics ships {', '.join(MOT15_SEQUENCES)}")
    meta = MOT15_SEQUENCES[name]
    path = motmetrics_data_dir() / name / "gt.txt"
    gt = read_mot(path, kind="gt", seq_length=int(meta["seq_length"]))  # type: ignore[call-overload]
    return Mot15Sequence(name=name, gt=gt, seq_length=int(meta["seq_length"]),  # type: ignore[call-overload]
                         image_shape=tuple(meta["image_shape"]), frame_rate=float(meta["frame_rate"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FaultSpec:
    """What goes wrong, and how often. See the module docstring."""

    miss: float = 0.0
    jitter: float = 0.0
    false_pos: float = 0.0
    low_score: float = 0.0
    occlusion: float = 0.6
    """Score lost per unit of covered fraction; 0 turns occlusion effects off (no extra misses either)."""

    @classmethod
    def at_rate(cls, rate: float) -> FaultSpec:
        """One knob for a curve: miss and low-score probabilities equal to ``rate``, jitter
        2% + 10%·rate of the box size, 2·rate false positives per frame."""
        return cls(miss=rate, jitter=0.02 + 0.1 * rate, false_pos=2.0 * rate, low_score=rate)


def occluded_fraction(boxes: np.ndarray) -> np.ndarray:
    """For (N, 4) xyxy boxes, the largest fraction of each box covered by one box in front of it
    (front = lower bottom edge, the ground-plane ordering of a street scene)."""
    n = len(boxes)
    if n < 2:
        return np.zeros(n)
    iw = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    ih = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9, None)
    in_front = boxes[None, :, 3] > boxes[:, None, 3]
    return np.where(in_front, inter / area[:, None], 0.0).max(axis=1)


def detections_from_gt(gt: MotData, num_frames: int, image_shape: tuple[int, int], faults: FaultSpec,
                       seed: int = 0) -> list[FrameDetections]:
    """Per frame 1..num_frames, detections (xyxy, score-sorted) made from the ground truth with ``faults``.
    Ground-truth rows flagged 0 (ignored by MOTChallenge scoring) are not detected."""
    rng = np.random.default_rng(seed)
    h_img, w_img = image_shape
    out: list[FrameDetections] = []
    all_wh = gt.boxes[:, 2:] if len(gt) else np.array([[40.0, 100.0]])
    for t in range(1, num_frames + 1):
        rows = gt.frame(t)
        rows = rows[gt.conf[rows] != 0]
        xywh = gt.boxes[rows]
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        occ = occluded_fraction(xyxy)
        n = len(rows)
        # jitter: centre and size noise relative to the box's own size
        wh = xywh[:, 2:]
        centre = xywh[:, :2] + wh / 2 + rng.normal(0, faults.jitter, (n, 2)) * wh
        size = wh * np.exp(rng.normal(0, faults.jitter, (n, 2)))
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        scores = rng.uniform(0.6, 0.95, n) - faults.occlusion * occ
        low = rng.random(n) < faults.low_score
        scores = np.where(low, rng.uniform(0.1, 0.5, n), scores)
        p_miss = np.clip(faults.miss + (faults.occlusion > 0) * np.clip(occ - 0.7, 0, None), 0, 1)
        keep = rng.random(n) >= p_miss
        boxes, scores = boxes[keep], scores[keep]
        # false positives
        k = rng.poisson(faults.false_pos)
        fp_wh = all_wh[rng.integers(0, len(all_wh), k)] * rng.uniform(0.7, 1.3, (k, 1))
        fp_xy = rng.uniform(0, 1, (k, 2)) * np.clip(np.array([w_img, h_img]) - fp_wh, 1, None)
        fp_scores = np.where(rng.random(k) < 0.2, rng.uniform(0.5, 0.75, k), rng.uniform(0.1, 0.45, k))
        boxes = np.concatenate([boxes, np.concatenate([fp_xy, fp_xy + fp_wh], axis=1)])
        scores = np.clip(np.concatenate([scores, fp_scores]), 0.01, 0.99)
        order = np.argsort(-scores, kind="stable")
        out.append(FrameDetections(boxes=boxes[order].astype(np.float32), scores=scores[order].astype(np.float32),
                                   class_ids=np.zeros(len(order), np.int64), names=("person",) * len(order),
                                   image_shape=(int(h_img), int(w_img))))
    return out
