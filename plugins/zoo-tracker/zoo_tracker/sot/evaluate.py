"""Single-object tracking scores: run a tracker over a sequence, success rate (IoU > threshold)."""

from __future__ import annotations

import numpy as np

from zoo_tracker.sot.siamese import SiameseTracker


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (N, 4) x, y, w, h boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def run_sequence(tracker: SiameseTracker, frames: np.ndarray, init_box: np.ndarray) -> np.ndarray:
    """Boxes (T, 4) x, y, w, h: the given box on frame 0, then the tracker's on each later frame."""
    out = [tracker.init(frames[0], init_box).boxes[0]]
    out += [tracker.track(f).boxes[0] for f in frames[1:]]
    xyxy = np.asarray(out, np.float64)
    return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)


def success_rate(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of frames whose predicted box overlaps the ground truth with IoU > threshold."""
    return float(np.mean(iou_xywh(pred, gt) > threshold))
