"""Association costs and gated linear assignment: pure numpy (+ scipy's solver)."""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) corner boxes -> (N, M) IoU. Zero-area boxes have IoU 0 with everything.

    Continuous coordinates (area = w * h). ByteTrack's cython_bbox adds 1 pixel to widths and
    heights (the old Pascal VOC convention); for boxes tens of pixels wide the difference is in
    the second decimal of the IoU and never reorders a match in practice.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    area_a = np.maximum(a[:, 2] - a[:, 0], 0) * np.maximum(a[:, 3] - a[:, 1], 0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - IoU."""
    return 1.0 - box_iou(a, b)


def fuse_score(cost: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ByteTrack's score fusion: 1 - IoU * detection score (a confident detection is cheaper to match)."""
    return 1.0 - (1.0 - cost) * np.asarray(scores, dtype=np.float64)[None, :]


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost matching in which no pair may cost ``thresh`` or more.

    Returns (matches (K, 2) as [row, col], unmatched rows, unmatched cols), indices ascending.

    This is the problem ByteTrack solves with ``lap.lapjv(cost, extend_cost=True,
    cost_limit=thresh)``: leaving a row or a column unmatched costs thresh / 2, so the solver
    minimises the sum of (cost - thresh) over the pairs it takes. That is a maximum-weight
    matching with weights thresh - cost, which scipy's ``linear_sum_assignment`` solves on the
    rectangular matrix directly (pairs at or above the limit get weight 0 and are dropped).
    Note it is *not* "solve, then drop pairs above the threshold": with costs A-1 0.1, A-2 0.5,
    B-1 0.5, B-2 1.0 and a limit of 0.8, lapjv (and this) takes A-1 alone (gain 0.7 against 0.6),
    while an unrestricted solve takes A-2 and B-1 (total 1.0 against 1.1) and keeps both.
    """
    from scipy.optimize import linear_sum_assignment

    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), np.int64), np.arange(n), np.arange(m)
    gain = np.maximum(thresh - cost, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)  # rows come back ascending
    keep = cost[rows, cols] < thresh
    rows, cols = rows[keep], cols[keep]
    free_rows = np.ones(n, bool)
    free_rows[rows] = False
    free_cols = np.ones(m, bool)
    free_cols[cols] = False
    return np.stack([rows, cols], axis=1).astype(np.int64), np.nonzero(free_rows)[0], np.nonzero(free_cols)[0]
