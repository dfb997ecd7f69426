"""MediaPipe BlazePose landmark models (Bazarevsky et al., 2020) as zoo top-down pose models.

The landmark network takes a 256×256 RGB crop in [0, 1] and returns 39 points × (x, y, z,
visibility, presence) in crop pixels (33 body landmarks and 6 auxiliary ROI points; visibility and
presence are logits) plus a person-presence probability. zoo crops each person box the way it crops
for RTMPose (centre, size × 1.25, square aspect, the same affine warp) instead of MediaPipe's
rotated ROI from its own detector, and reports the 17 COCO keypoints among the 33 landmarks,
scored by sigmoid(visibility). Pure numpy; the network runs elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo_pose.keypoints import COCO_KEYPOINTS
from zoo_pose.processing import TopDownConfig, crops_for, whole_image_box
from zoo_pose.result import Poses
from zoo_pose.topdown import crop_to_image

LANDMARKS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
"""BlazePose's 33 landmarks in output order."""

COCO_FROM_BLAZEPOSE: tuple[int, ...] = tuple(LANDMARKS.index(name) for name in COCO_KEYPOINTS)
"""Index of each COCO keypoint among the 33 landmarks (0, 2, 5, 7, 8, 11, 12, …, 28)."""

POINTS, VALUES = 39, 5
CONFIG = TopDownConfig(input_size=(256, 256), split_ratio=1.0, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))
"""256×256 square crops, pixels / 255 (MediaPipe's [0, 1] float input)."""

LANDMARK_MEMBER = "package/pose_landmark_lite.tflite"
"""The lite landmark model inside the ``@mediapipe/pose`` npm tarball."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def decode_landmarks(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 195) raw landmark output → COCO keypoints (N, 17, 2) in crop pixels, scores (N, 17)."""
    raw = np.asarray(landmarks, np.float32)
    if raw.ndim != 2 or raw.shape[1] != POINTS * VALUES:
        raise InputError(f"BlazePose landmark output must be (N, {POINTS * VALUES}); got {raw.shape}")
    pts = raw.reshape(len(raw), POINTS, VALUES)[:, list(COCO_FROM_BLAZEPOSE)]
    return pts[..., :2], sigmoid(pts[..., 3]).astype(np.float32)


def poses_from_landmarks(landmarks: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray, center: np.ndarray,
                         scale: np.ndarray, image_shape: tuple[int, int], config: TopDownConfig = CONFIG) -> Poses:
    kps, scores = decode_landmarks(landmarks)
    return Poses(boxes=np.asarray(boxes, np.float32), box_scores=np.asarray(box_scores, np.float32),
                 keypoints=crop_to_image(kps, center, scale, config.input_size).astype(np.float32),
                 keypoint_scores=scores, image_shape=(int(image_shape[0]), int(image_shape[1])))


def decode_outputs(outputs: tuple[np.ndarray, ...], boxes: np.ndarray, box_scores: np.ndarray, center: np.ndarray,
                   scale: np.ndarray, image_shape: tuple[int, int], config: TopDownConfig = CONFIG) -> Poses:
    """``estimate_poses(..., config=CONFIG, decode=decode_outputs)`` for BlazePose."""
    return poses_from_landmarks(outputs[0], boxes, box_scores, center, scale, image_shape, config)


def preprocess(image: np.ndarray, config: TopDownConfig = CONFIG) -> tuple[np.ndarray, dict[str, Any]]:
    """The whole image as one person box: network input (1, 3, 256, 256) and the decode context."""
    boxes = whole_image_box(image)
    x, center, scale = crops_for(image, boxes, config)
    return x, {"boxes": boxes, "box_scores": np.ones(1, np.float32), "center": center, "scale": scale,
               "image_shape": image.shape[:2], "config": config}


def postprocess(outputs: Mapping[str, np.ndarray], context: Mapping[str, Any]) -> Poses:
    """``out0`` landmarks (N, 195) (``out1``, person presence, is not needed for keypoints)."""
    if "out0" not in outputs:
        raise InputError(f"a BlazePose landmark model has output out0 (landmarks); got {sorted(outputs)}")
    c = context
    return poses_from_landmarks(outputs["out0"], c["boxes"], c["box_scores"], c["center"], c["scale"],
                                c["image_shape"], c["config"])
