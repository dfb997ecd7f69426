"""The COCO person keypoint definition: names, skeleton, left/right pairs and OKS sigmas."""

from __future__ import annotations

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

COCO_FLIP_INDICES: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
"""Each keypoint's mirror image (left ↔ right), for flip-test averaging."""

COCO_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
"""Per-keypoint OKS falloff (COCOeval ``kpt_oks_sigmas``): how far annotators disagree."""


def sigmas_array() -> np.ndarray:
    return np.asarray(COCO_SIGMAS, dtype=np.float64)


def limb_side(a: int, b: int, names: tuple[str, ...] = COCO_KEYPOINTS) -> str:
    """'left', 'right' or 'centre' for a limb, from its keypoint names (for drawing colours)."""
    sides = {n.split("_", 1)[0] for n in (names[a], names[b]) if "_" in n}
    return sides.pop() if len(sides) == 1 and not ({names[a], names[b]} & {"nose"}) else "centre"
