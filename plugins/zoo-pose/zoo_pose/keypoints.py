"""The COCO person keypoint definition: names, skeleton (the core's, ``zoo.results.pose``), left/right
pairs and OKS sigmas."""

from __future__ import annotations

import numpy as np

from zoo.results.pose import COCO_KEYPOINTS, COCO_SKELETON, limb_side

__all__ = ["COCO_FLIP_INDICES", "COCO_KEYPOINTS", "COCO_SIGMAS", "COCO_SKELETON", "limb_side", "sigmas_array"]

COCO_FLIP_INDICES: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
"""Each keypoint's mirror image (left ↔ right), for flip-test averaging."""

COCO_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
"""Per-keypoint OKS falloff (COCOeval ``kpt_oks_sigmas``): how far annotators disagree."""


def sigmas_array() -> np.ndarray:
    return np.asarray(COCO_SIGMAS, dtype=np.float64)
