"""Raw detector heads → candidate boxes, vectorised numpy (no loop over anchors or boxes).

Every decoder takes the raw head as (channels, anchors) — anchors ordered level by level, row-major
within a level, as the networks in ``zoo_detector.nets`` flatten them — and returns
``Candidates`` in network-input pixels (xyxy), already filtered by the score threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Candidates:
    boxes: np.ndarray  # (N, 4) float32 xyxy, network-input pixels
    scores: np.ndarray  # (N,) float32
    classes: np.ndarray  # (N,) int64
    anchors: np.ndarray | None = None  # (N,) intp: the anchor each came from (yolov8: to read mask coefficients)

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.intp))

    def take(self, index: np.ndarray) -> Candidates:
        anchors = None if self.anchors is None else self.anchors[index]
        return Candidates(self.boxes[index], self.scores[index], self.classes[index], anchors)


@dataclass(frozen=True)
class Grid:
    points: np.ndarray  # (A, 2) float32 anchor points (x, y) in input pixels
    strides: np.ndarray  # (A,) float32
    level_sizes: tuple[int, ...]  # anchors per level


@lru_cache(maxsize=16)
def make_grid(input_hw: tuple[int, int], strides: tuple[int, ...], offset: float) -> Grid:
    """Anchor points of every level: ((col + offset) * s, (row + offset) * s), row-major.

    A level's size is ceil(input / stride), what stride-2 convolutions with 'same' padding give.
    ``offset`` is 0.5 for YOLOv8 (cell centres), 0 for YOLOX and torchvision's FCOS (cell corners).
    """
    points, steps, sizes = [], [], []
    for s in strides:
        h, w = -(-input_hw[0] // s), -(-input_hw[1] // s)
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
        points.append(np.stack(((xs.ravel() + offset) * s, (ys.ravel() + offset) * s), 1))
        steps.append(np.full(h * w, s, np.float32))
        sizes.append(h * w)
    grid = Grid(np.concatenate(points).astype(np.float32), np.concatenate(steps), tuple(sizes))
    grid.points.flags.writeable = False
    grid.strides.flags.writeable = False
    return grid


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * np.asarray(x, dtype=np.float32)) + 1.0)


def logit(p: float) -> float:
    """Inverse sigmoid, so thresholds can be applied to logits before any sigmoid is computed."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    return float(np.log(p / (1.0 - p)))


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _check(raw: np.ndarray, grid: Grid, min_channels: int, name: str) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 2 or raw.shape[1] != len(grid.points) or raw.shape[0] <= min_channels:
        raise ValueError(
            f"{name} decode expects a raw head of shape (channels > {min_channels}, {len(grid.points)} anchors), "
            f"got {raw.shape}; check the model's outputs against its spec"
        )
    return raw


def decode_yolov8(raw: np.ndarray, input_hw: tuple[int, int], params: Mapping[str, Any], conf: float) -> Candidates:
    """Ultralytics v8 head: [4 sides × reg_max DFL logits | class logits (| mask coefficients)] per anchor.

    Best class per anchor (Ultralytics' single-label NMS), score = sigmoid(logit) > conf. Box sides
    are the expectations of a softmax over reg_max bins, in stride units from the cell centre.
    """
    reg_max = int(params.get("reg_max", 16))
    grid = make_grid(tuple(input_hw), tuple(params["strides"]), 0.5)
    raw = _check(raw, grid, 4 * reg_max, "yolov8")
    # a segmentation head appends mask coefficients after the classes (nc says where they stop)
    cls = raw[4 * reg_max : 4 * reg_max + int(params["nc"])] if "nc" in params else raw[4 * reg_max :]
    best = cls.max(0)
    keep = np.flatnonzero(best > logit(conf))
    if keep.size == 0:
        return Candidates.empty()
    keep = _top(best, keep, int(params.get("max_candidates", 1000)))
    dist = softmax(raw[: 4 * reg_max, keep].reshape(4, reg_max, -1), axis=1)
    ltrb = np.einsum("sbn,b->sn", dist, np.arange(reg_max, dtype=np.float32)) * grid.strides[keep]
    p = grid.points[keep]
    boxes = np.stack((p[:, 0] - ltrb[0], p[:, 1] - ltrb[1], p[:, 0] + ltrb[2], p[:, 1] + ltrb[3]), 1)
    return Candidates(boxes.astype(np.float32), sigmoid(best[keep]), cls[:, keep].argmax(0).astype(np.int64), keep)


def decode_yolox(raw: np.ndarray, input_hw: tuple[int, int], params: Mapping[str, Any], conf: float) -> Candidates:
    """Megvii YOLOX head: [dx, dy, log w, log h, objectness | class logits] per anchor.

    Centre (grid + d) * stride, size exp(log wh) * stride; score = sigmoid(obj) * sigmoid(best class)
    ≥ conf (Megvii's postprocess).
    """
    grid = make_grid(tuple(input_hw), tuple(params["strides"]), 0.0)
    raw = _check(raw, grid, 5, "yolox")
    cls = raw[5:]
    best_cls = cls.max(0)
    score = sigmoid(raw[4]) * sigmoid(best_cls)
    keep = np.flatnonzero(score >= conf)
    if keep.size == 0:
        return Candidates.empty()
    keep = _top(score, keep, int(params.get("max_candidates", 1000)))
    s = grid.strides[keep]
    centre = grid.points[keep] + raw[:2, keep].T * s[:, None]
    half = np.exp(np.minimum(raw[2:4, keep].T, 20.0)) * s[:, None] / 2  # clamp: exp overflow → inf boxes
    boxes = np.concatenate((centre - half, centre + half), 1)
    return Candidates(boxes.astype(np.float32), score[keep].astype(np.float32), cls[:, keep].argmax(0).astype(np.int64))


def decode_fcos(raw: np.ndarray, input_hw: tuple[int, int], params: Mapping[str, Any], conf: float) -> Candidates:
    """torchvision FCOS head: [l, t, r, b (ReLU'd, stride units), centerness | class logits].

    As torchvision's postprocess_detections: score = sqrt(sigmoid(cls) * sigmoid(ctr)) for every
    (anchor, class) pair (multi-label), > conf, at most ``topk_candidates`` per level, boxes from the
    anchor point (cell corner) ± distances × stride, clipped to the input. Then at most
    ``max_candidates`` in all (torchvision has no such cap; it bounds the NMS matrix).
    """
    grid = make_grid(tuple(input_hw), tuple(params["strides"]), 0.0)
    raw = _check(raw, grid, 5, "fcos")
    # sqrt(a*b) > conf needs a > conf² and b > conf²: a cheap logit-space pre-filter.
    floor = logit(conf * conf)
    mask = raw[5:] > floor
    mask &= (raw[4] > floor)[None]
    cls_idx, anchor = np.nonzero(mask)
    scores = np.sqrt(sigmoid(raw[5 + cls_idx, anchor]) * sigmoid(raw[4, anchor]))
    ok = scores > conf
    cls_idx, anchor, scores = cls_idx[ok], anchor[ok], scores[ok]
    if scores.size == 0:
        return Candidates.empty()
    topk = int(params.get("topk_candidates", 1000))
    level = np.searchsorted(np.cumsum(grid.level_sizes), anchor, side="right")
    picked = [_top(scores, np.flatnonzero(level == k), topk) for k in range(len(grid.level_sizes))]
    sel = _top(scores, np.concatenate(picked), int(params.get("max_candidates", 1000)))
    cls_idx, anchor, scores = cls_idx[sel], anchor[sel], scores[sel]
    s = grid.strides[anchor][:, None]
    p = grid.points[anchor]
    ltrb = raw[:4, anchor].T * s
    boxes = np.concatenate((p - ltrb[:, :2], p + ltrb[:, 2:]), 1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, input_hw[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, input_hw[0])
    return Candidates(boxes.astype(np.float32), scores.astype(np.float32), cls_idx.astype(np.int64))


def _top(values: np.ndarray, index: np.ndarray, k: int) -> np.ndarray:
    """The (at most) k entries of ``index`` with the largest ``values[index]``, in ``index`` order.

    Keeping the original (anchor) order matters: NMS sorts by score stably, so exact score ties
    (common: letterbox padding gives identical logits at many anchors) are then broken by anchor,
    the same way whatever the threshold, instead of by argpartition's arbitrary order.
    """
    if index.size <= k:
        return index
    return np.sort(index[np.argpartition(-values[index], k - 1)[:k]])


Decoder = Callable[[np.ndarray, tuple[int, int], Mapping[str, Any], float], Candidates]
DECODERS: dict[str, Decoder] = {"yolov8": decode_yolov8, "yolox": decode_yolox, "fcos": decode_fcos}
