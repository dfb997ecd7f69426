"""Class-aware non-maximum suppression, vectorised over boxes.

Greedy NMS keeps box i (boxes sorted by score) iff no *kept* higher-scored box of its class
overlaps it by more than the threshold. That recursive definition has exactly one solution. It is
reached by iterating ``keep = ~any(keep[j] & suppresses[j, i])`` from "keep everything" until it
stops changing: each pass is one matrix-vector product, and real detections settle in a few passes
(the number is the length of the longest suppression chain). Pathological inputs with long chains
(e.g. thousands of near-identical boxes from random weights) switch after ``FIXPOINT_PASSES`` to
the textbook greedy scan, whose loop runs once per *kept* box and stops at ``max_det``.
Classes are separated with the coordinate-offset trick (torchvision's batched_nms), so one IoU
matrix serves all classes.
"""

from __future__ import annotations

import numpy as np

FIXPOINT_PASSES = 12


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection areas (len(a), len(b)) and both area vectors, from 2-D ufunc outers (contiguous
    N×N temporaries: several times faster than broadcasting (N, N, 2) corner arrays)."""
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    w = np.minimum.outer(a[:, 2], b[:, 2])
    w -= np.maximum.outer(a[:, 0], b[:, 0])
    np.maximum(w, 0, out=w)
    h = np.minimum.outer(a[:, 3], b[:, 3])
    h -= np.maximum.outer(a[:, 1], b[:, 1])
    np.maximum(h, 0, out=h)
    w *= h
    return w, area_a, area_b


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    inter, area_a, area_b = _overlap(a, b)
    union = np.add.outer(area_a, area_b)
    union -= inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def iou_above(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean (N, N): IoU(i, j) > threshold, without a division:
    inter > t·(area_i + area_j − inter)  ⇔  inter·(1 + t) > t·(area_i + area_j)."""
    inter, area, _ = _overlap(boxes, boxes)
    inter *= np.float32(1.0 + threshold)
    rhs = np.add.outer(area, area)
    rhs *= np.float32(threshold)
    return inter > rhs


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, classes: np.ndarray | None = None,
        max_det: int | None = None) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, highest score first (class-aware when ``classes``)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    order = np.argsort(-scores, kind="stable")
    b = boxes[order]
    if classes is not None:
        b = b - b.min()  # non-negative, so class offsets never overlap
        span = float(b.max()) + 1.0
        b = b + (np.asarray(classes, dtype=np.float32).reshape(-1)[order] * span)[:, None]
    # [j, i] = 1 where higher-scored j would suppress i; float32 so each pass is one BLAS product.
    suppresses = np.triu(iou_above(b, iou_threshold), k=1).astype(np.float32)
    keep = np.ones(len(b), dtype=bool)
    for _ in range(FIXPOINT_PASSES):
        new = (keep.astype(np.float32) @ suppresses) == 0
        if np.array_equal(new, keep):
            kept = order[keep]
            return kept if max_det is None else kept[:max_det]
        keep = new
    return order[_greedy_scan(suppresses > 0, len(b) if max_det is None else max_det)]


def _greedy_scan(suppresses: np.ndarray, max_det: int) -> np.ndarray:
    """Textbook greedy NMS over a precomputed suppression matrix; one iteration per kept box."""
    alive = np.ones(len(suppresses), dtype=bool)
    kept: list[int] = []
    i = 0
    while len(kept) < max_det:
        rest = np.flatnonzero(alive[i:])
        if rest.size == 0:
            break
        i += int(rest[0])
        kept.append(i)
        alive &= ~suppresses[i]
        i += 1
    return np.asarray(kept, dtype=np.intp)
