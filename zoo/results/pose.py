"""Poses: people, their boxes and keypoints (the pose task; top-down and bottom-up models alike).

A top-down model (a person detector, then the pose network on each person's crop) and a
bottom-up one (one network finds people and their keypoints, as yolov8-pose) fill the same fields,
so drawing, ``--json``, agreement and COCO keypoint AP treat them alike. The COCO person keypoint
definition (names, skeleton) lives here too: every pose model and dataset reader refers to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
"""The 17 keypoints in COCO's order (person_keypoints_*.json ``categories[0].keypoints``)."""

COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
"""COCO's 19 limbs as 0-based keypoint index pairs (the json's ``skeleton`` is 1-based)."""

DRAW_THRESHOLD = 0.3
"""Keypoints scoring at or below this are not drawn (mmpose's visualiser ``kpt_thr``)."""

RESCORE_THRESHOLD = 0.2
"""Keypoints above this count towards the person score (mmpose ``CocoMetric.keypoint_score_thr``)."""

SIDE_COLOURS = {"left": (0, 255, 0), "right": (255, 128, 0), "centre": (51, 153, 255)}
"""mmpose's COCO palette: left limbs green, right orange, the rest blue."""


def limb_side(a: int, b: int, names: tuple[str, ...] = COCO_KEYPOINTS) -> str:
    """'left', 'right' or 'centre' for a limb, from its keypoint names (for drawing colours)."""
    sides = {n.split("_", 1)[0] for n in (names[a], names[b]) if "_" in n}
    return sides.pop() if len(sides) == 1 and not ({names[a], names[b]} & {"nose"}) else "centre"


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
        """Box outlines, skeleton lines and joints (those scoring above the threshold) on a copy of
        ``image`` (RGB uint8)."""
        from zoo.results.base import canvas

        im, pen, _ = canvas(image)
        width = max(1, round(min(im.size) / 200))
        radius = max(2, width + 1)
        names = self.keypoint_names
        for box, kps, scores in zip(self.boxes, self.keypoints, self.keypoint_scores, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            pen.rectangle((x1, y1, max(x1, x2), max(y1, y2)), outline=(255, 255, 255), width=1)
            shown = scores > keypoint_threshold
            for a, b in self.skeleton:
                if shown[a] and shown[b]:
                    pen.line([tuple(map(float, kps[a])), tuple(map(float, kps[b]))],
                             fill=SIDE_COLOURS[limb_side(a, b, names)], width=width)
            for j in np.flatnonzero(shown):
                x, y = (float(v) for v in kps[j])
                side = names[j].split("_", 1)[0] if "_" in names[j] else "centre"
                pen.ellipse((x - radius, y - radius, x + radius, y + radius),
                            fill=SIDE_COLOURS.get(side, SIDE_COLOURS["centre"]), outline=(0, 0, 0))
        return np.asarray(im)
