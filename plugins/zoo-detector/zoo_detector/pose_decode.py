"""YOLOv8-pose: the raw head → people with boxes and 17 keypoints, pure numpy.

The head per anchor is [4 × reg_max DFL box logits | person logit | 17 × (x, y, visibility)]
(``zoo_detector.nets.yolov8_pose``). As Ultralytics decodes it: the box as YOLOv8's (softmax
expectation of each side's bins, in strides from the cell centre), the score sigmoid(person logit),
each keypoint at ((raw · 2) + cell corner) × stride — i.e. ``(raw·2 − 0.5)·stride`` from the cell
centre — with visibility sigmoid(logit). Then class-agnostic NMS on the boxes (one class) and the
letterbox undone for boxes and keypoints alike, keypoints clipped to the image as Ultralytics'
``scale_coords`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.results import Poses
from zoo.specs import ModelSpec
from zoo_detector.decode import _top, logit, make_grid, sigmoid, softmax
from zoo_detector.letterbox import Letterbox, unletterbox_boxes
from zoo_detector.nms import nms


@dataclass(frozen=True)
class PoseCandidates:
    boxes: np.ndarray  # (N, 4) float32 xyxy, network-input pixels
    scores: np.ndarray  # (N,) float32
    keypoints: np.ndarray  # (N, K, 2) float32, network-input pixels
    keypoint_scores: np.ndarray  # (N, K) float32

    @classmethod
    def empty(cls, k: int) -> PoseCandidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, k, 2), np.float32),
                   np.zeros((0, k), np.float32))

    def take(self, index: np.ndarray) -> PoseCandidates:
        return PoseCandidates(self.boxes[index], self.scores[index], self.keypoints[index], self.keypoint_scores[index])


def decode_yolov8_pose(raw: np.ndarray, input_hw: tuple[int, int], params: Mapping[str, Any],
                       conf: float) -> PoseCandidates:
    """(channels, anchors) raw head → candidates scoring above ``conf``, at most
    ``params['max_candidates']`` (the best), in anchor order."""
    reg_max, nc = int(params.get("reg_max", 16)), int(params.get("classes", 1))
    k, dims = (int(v) for v in params.get("keypoints", (17, 3)))
    grid = make_grid(tuple(input_hw), tuple(params["strides"]), 0.5)
    raw = np.asarray(raw, dtype=np.float32)
    channels = 4 * reg_max + nc + k * dims
    if raw.ndim != 2 or raw.shape != (channels, len(grid.points)):
        raise ValueError(f"yolov8-pose decode expects a raw head of shape ({channels}, {len(grid.points)}), got "
                         f"{raw.shape}; check the model's outputs against its spec")
    best = raw[4 * reg_max : 4 * reg_max + nc].max(0)
    keep = np.flatnonzero(best > logit(conf))
    if keep.size == 0:
        return PoseCandidates.empty(k)
    keep = _top(best, keep, int(params.get("max_candidates", 1000)))
    stride, p = grid.strides[keep], grid.points[keep]
    dist = softmax(raw[: 4 * reg_max, keep].reshape(4, reg_max, -1), axis=1)
    ltrb = np.einsum("sbn,b->sn", dist, np.arange(reg_max, dtype=np.float32)) * stride
    boxes = np.stack((p[:, 0] - ltrb[0], p[:, 1] - ltrb[1], p[:, 0] + ltrb[2], p[:, 1] + ltrb[3]), 1)
    kpt = raw[4 * reg_max + nc :, keep].reshape(k, dims, -1)  # K, (x, y[, v]), N
    xy = (kpt[:, :2] * 2.0 - 0.5) * stride + p.T[None]  # K, 2, N
    vis = sigmoid(kpt[:, 2]) if dims == 3 else np.ones((k, len(keep)), np.float32)
    return PoseCandidates(boxes.astype(np.float32), sigmoid(best[keep]),
                          np.ascontiguousarray(xy.transpose(2, 0, 1), dtype=np.float32),
                          np.ascontiguousarray(vis.T, dtype=np.float32))


def unletterbox_points(points: np.ndarray, geo: Letterbox) -> np.ndarray:
    """Points (..., 2) in network-input pixels → original-image pixels, clipped to [0, w] × [0, h]."""
    out = (np.asarray(points, np.float32) - np.array([geo.left, geo.top], np.float32)) / np.float32(geo.ratio)
    h, w = geo.orig_shape
    out[..., 0] = out[..., 0].clip(0, w)
    out[..., 1] = out[..., 1].clip(0, h)
    return out


def option(options: Mapping[str, Any], name: str, default: Any) -> Any:
    value = options.get(name)
    return default if value is None else value


def postprocess_pose(raw: np.ndarray, geo: Letterbox, input_hw: tuple[int, int], spec: ModelSpec,
                     options: Mapping[str, Any]) -> Poses:
    """Decode → NMS → boxes and keypoints in original-image pixels. ``options``: the pose task's
    ``person_conf`` (default: the model's, Ultralytics' 0.25) and ``max_people`` (its max_det)."""
    assert spec.post is not None
    params = spec.post.params
    conf = float(option(options, "person_conf", params["conf"]))
    max_det = int(option(options, "max_people", params["max_det"]))
    cand = decode_yolov8_pose(raw, input_hw, params, conf)
    kept = cand.take(nms(cand.boxes, cand.scores, float(params["iou"]), None, max_det))
    return Poses(boxes=unletterbox_boxes(kept.boxes, geo), box_scores=kept.scores,
                 keypoints=unletterbox_points(kept.keypoints, geo), keypoint_scores=kept.keypoint_scores,
                 image_shape=geo.orig_shape)
