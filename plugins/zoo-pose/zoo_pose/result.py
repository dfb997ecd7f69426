"""The pose task's result type: people, their boxes and keypoints, and how to draw them.

One type serves top-down models (boxes from a detector, keypoints per box) and bottom-up ones
(yolov8-pose: box, person score and keypoints from one network): both fill the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo_pose.keypoints import COCO_KEYPOINTS, COCO_SKELETON, limb_side

DRAW_THRESHOLD = 0.3
"""Keypoints scoring at or below this are not drawn (mmpose's visualiser ``kpt_thr``)."""

RESCORE_THRESHOLD = 0.2
"""Keypoints above this count towards the person score (mmpose ``CocoMetric.keypoint_score_thr``)."""


def _empty(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


@dataclass(frozen=True)
class Poses:
    """People found in one image; every coordinate in original-image pixels.

    boxes (N, 4) xyxy: the person boxes (a detector's for top-down models, the network's own for
    bottom-up ones); box_scores (N,): their confidences; keypoints (N, K, 2) x, y;
    keypoint_scores (N, K): per-keypoint confidence as the model defines it (RTMPose: SimCC logits,
    not probabilities; yolov8-pose: sigmoid visibility).
    """

    boxes: np.ndarray = field(default_factory=lambda: _empty(0, 4))
    box_scores: np.ndarray = field(default_factory=lambda: _empty(0))
    keypoints: np.ndarray = field(default_factory=lambda: _empty(0, len(COCO_KEYPOINTS), 2))
    keypoint_scores: np.ndarray = field(default_factory=lambda: _empty(0, len(COCO_KEYPOINTS)))
    keypoint_names: tuple[str, ...] = COCO_KEYPOINTS
    skeleton: tuple[tuple[int, int], ...] = COCO_SKELETON
    image_shape: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        n, k = len(self.boxes), len(self.keypoint_names)
        shapes = {"boxes": (n, 4), "box_scores": (n,), "keypoints": (n, k, 2), "keypoint_scores": (n, k)}
        for name, shape in shapes.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"Poses.{name} has shape {got}, expected {shape}")

    def __len__(self) -> int:
        return len(self.boxes)

    def person_scores(self, keypoint_threshold: float = RESCORE_THRESHOLD) -> np.ndarray:
        """mmpose's 'bbox_keypoint' rescoring: box score × mean of the keypoint scores above the
        threshold (0 when none is). The score COCO keypoint AP ranks people by."""
        s = np.asarray(self.keypoint_scores, np.float64)
        valid = s > keypoint_threshold
        count = valid.sum(1)
        mean = np.where(count > 0, (s * valid).sum(1) / np.maximum(count, 1), 0.0)
        return np.asarray(self.box_scores, np.float64) * mean

    def take(self, index: np.ndarray) -> Poses:
        """The people at ``index`` (in that order), same image."""
        idx = np.asarray(index, dtype=np.int64)
        return Poses(self.boxes[idx], self.box_scores[idx], self.keypoints[idx], self.keypoint_scores[idx],
                     self.keypoint_names, self.skeleton, self.image_shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": {"height": int(self.image_shape[0]), "width": int(self.image_shape[1])},
            "count": len(self),
            "keypoint_names": list(self.keypoint_names),
            "skeleton": [list(pair) for pair in self.skeleton],
            "people": [
                {
                    "box": [round(float(v), 2) for v in box],
                    "box_score": round(float(bs), 5),
                    "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                                  for (x, y), s in zip(kp, ks, strict=True)],
                }
                for box, bs, kp, ks in zip(self.boxes, self.box_scores, self.keypoints, self.keypoint_scores,
                                           strict=True)
            ],
        }

    def summary(self, keypoint_threshold: float = DRAW_THRESHOLD) -> str:
        if not len(self):
            return "no people"
        lines = []
        for i, (box, score, ks) in enumerate(zip(self.boxes, self.box_scores, self.keypoint_scores, strict=True)):
            seen = int((ks > keypoint_threshold).sum())
            lines.append(f"person {i + 1}: {score:6.1%}  [{box[0]:.0f}, {box[1]:.0f}, {box[2]:.0f}, {box[3]:.0f}]  "
                         f"{seen}/{len(ks)} keypoints above {keypoint_threshold:g}")
        return "\n".join(lines)

    def draw(self, image: np.ndarray, keypoint_threshold: float = DRAW_THRESHOLD) -> np.ndarray:
        """Skeleton lines, joints and box outlines on a copy of ``image`` (RGB uint8)."""
        return draw(image, self, keypoint_threshold)


SIDE_COLOURS = {"left": (0, 255, 0), "right": (255, 128, 0), "centre": (51, 153, 255)}
"""mmpose's COCO palette: left limbs green, right orange, the rest blue."""


def draw(image: np.ndarray, result: Poses, keypoint_threshold: float = DRAW_THRESHOLD) -> np.ndarray:
    """Skeleton lines and joints of every person whose keypoints score above the threshold."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image))
    pen = ImageDraw.Draw(canvas)
    width = max(1, round(min(canvas.size) / 200))
    radius = max(2, width + 1)
    names = result.keypoint_names
    for box, kps, scores in zip(result.boxes, result.keypoints, result.keypoint_scores, strict=True):
        x1, y1, x2, y2 = (float(v) for v in box)
        pen.rectangle((x1, y1, max(x1, x2), max(y1, y2)), outline=(255, 255, 255), width=1)
        shown = scores > keypoint_threshold
        for a, b in result.skeleton:
            if shown[a] and shown[b]:
                pen.line([tuple(map(float, kps[a])), tuple(map(float, kps[b]))],
                         fill=SIDE_COLOURS[limb_side(a, b, names)], width=width)
        for j in np.flatnonzero(shown):
            x, y = (float(v) for v in kps[j])
            side = names[j].split("_", 1)[0] if "_" in names[j] else "centre"
            pen.ellipse((x - radius, y - radius, x + radius, y + radius),
                        fill=SIDE_COLOURS.get(side, SIDE_COLOURS["centre"]), outline=(0, 0, 0))
    return np.asarray(canvas)
