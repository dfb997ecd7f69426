"""The top-down pose pipeline around a network that maps crops to SimCC vectors, in numpy.

``estimate_poses`` is what a top-down predictor does per frame: person boxes in, one affine crop
per box, the network on the crops (as a batch, or one by one for runtimes without batches such
as ncnn), SimCC decoding, keypoints back into the image. ``preprocess``/``postprocess`` are the
one-network halves with the whole image as the person box (mmpose's ``inference_topdown`` without
boxes), which is what the core's export parity, int8 calibration and model-only bench run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo_pose.keypoints import COCO_FLIP_INDICES, COCO_KEYPOINTS, COCO_SKELETON
from zoo_pose.result import Poses
from zoo_pose.simcc import decode_simcc, flip_simcc
from zoo_pose.topdown import BOX_PADDING, RTMPOSE_MEAN, RTMPOSE_STD, crop_boxes, crop_to_image, normalize

RunNetwork = Callable[[np.ndarray], tuple[np.ndarray, ...]]
"""Normalised crops (B, 3, h, w) float32 → the network's outputs, batch first (SimCC models:
(simcc_x (B, K, w·r), simcc_y (B, K, h·r)))."""

Decode = Callable[..., Poses]
"""(outputs, boxes, box_scores, center, scale, image_shape, config) → Poses."""


@dataclass(frozen=True)
class TopDownConfig:
    """What the pipeline needs to know about a top-down SimCC model."""

    input_size: tuple[int, int] = (192, 256)
    """(w, h) of the network input."""
    split_ratio: float = 2.0
    mean: tuple[float, float, float] = RTMPOSE_MEAN
    std: tuple[float, float, float] = RTMPOSE_STD
    padding: float = BOX_PADDING
    keypoint_names: tuple[str, ...] = COCO_KEYPOINTS
    skeleton: tuple[tuple[int, int], ...] = COCO_SKELETON
    flip_indices: tuple[int, ...] = COCO_FLIP_INDICES


@dataclass(frozen=True)
class PersonBoxes:
    """An image with its person boxes already known (ground truth in ``zoo eval``, or boxes from a
    detector run elsewhere): a top-down predictor crops these instead of asking its detector."""

    image: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray | None = None


def empty_poses(image_shape: tuple[int, ...], config: TopDownConfig) -> Poses:
    k = len(config.keypoint_names)
    return Poses(keypoint_names=config.keypoint_names, skeleton=config.skeleton,
                 keypoints=np.zeros((0, k, 2), np.float32), keypoint_scores=np.zeros((0, k), np.float32),
                 image_shape=(int(image_shape[0]), int(image_shape[1])))


def check_boxes(boxes: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) float32 xyxy boxes and (N,) scores, or one line saying what is wrong."""
    b = np.asarray(boxes, dtype=np.float32)
    if b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise InputError(f"person boxes must be an (N, 4) array of x1, y1, x2, y2; got shape {b.shape}")
    s = np.ones(len(b), np.float32) if scores is None else np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(s) != len(b):
        raise InputError(f"{len(b)} person boxes but {len(s)} box scores")
    if not np.isfinite(b).all():
        raise InputError("person boxes contain NaN or infinite coordinates")
    return b, s


def crops_for(image: np.ndarray, boxes: np.ndarray, config: TopDownConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network input (N, 3, h, w) and the centres and aspect-fixed scales to map keypoints back."""
    crops, center, scale = crop_boxes(image, boxes, config.input_size, config.padding)
    return normalize(crops, config.mean, config.std), center, scale


def poses_from_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray,
                     center: np.ndarray, scale: np.ndarray, image_shape: tuple[int, int],
                     config: TopDownConfig) -> Poses:
    """Decode SimCC vectors of N crops into image-space Poses."""
    kps, scores = decode_simcc(simcc_x, simcc_y, config.split_ratio)
    kps_img = crop_to_image(kps, center, scale, config.input_size).astype(np.float32)
    return Poses(boxes=np.asarray(boxes, np.float32), box_scores=np.asarray(box_scores, np.float32),
                 keypoints=kps_img, keypoint_scores=scores.astype(np.float32),
                 keypoint_names=config.keypoint_names, skeleton=config.skeleton,
                 image_shape=(int(image_shape[0]), int(image_shape[1])))


def run_in_batches(run: RunNetwork, x: np.ndarray, batch: int | None) -> tuple[np.ndarray, ...]:
    """``run`` on all crops at once (batch None) or ``batch`` at a time (ncnn: 1)."""
    if batch is None or len(x) <= batch:
        return tuple(np.asarray(o) for o in run(x))
    parts = [run(x[i:i + batch]) for i in range(0, len(x), batch)]
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(len(parts[0])))


def decode_simcc_outputs(outputs: tuple[np.ndarray, ...], boxes: np.ndarray, box_scores: np.ndarray,
                         center: np.ndarray, scale: np.ndarray, image_shape: tuple[int, int],
                         config: TopDownConfig) -> Poses:
    return poses_from_simcc(outputs[0], outputs[1], boxes, box_scores, center, scale, image_shape, config)


def estimate_poses(image: np.ndarray, boxes: Any, box_scores: Any, run: RunNetwork,
                   config: TopDownConfig = TopDownConfig(), batch: int | None = None,  # noqa: B008 (frozen)
                   flip_test: bool = False, decode: Decode = decode_simcc_outputs) -> Poses:
    """Top-down pose estimation of every person box in ``image`` (RGB uint8 H×W×3).

    No boxes gives an empty Poses (a frame with nobody in it is not an error). ``flip_test``
    also runs each crop mirrored and averages the SimCC vectors (mmpose's test-time flip, used
    for the published AP; twice the network time; SimCC models only). ``decode`` turns the
    network outputs into Poses (SimCC by default; ``zoo_pose.blazepose.decode_outputs`` for
    BlazePose).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InputError(f"expected an RGB uint8 image (H, W, 3), got {img.dtype} {img.shape}")
    b, s = check_boxes(boxes, box_scores)
    if not len(b):
        return empty_poses(img.shape, config)
    x, center, scale = crops_for(img, b, config)
    outputs = run_in_batches(run, x, batch)
    if flip_test:
        if decode is not decode_simcc_outputs:
            raise InputError("flip_test averages SimCC outputs; this model's outputs are not SimCC")
        mirrored = run_in_batches(run, np.ascontiguousarray(x[..., ::-1]), batch)
        fx, fy = flip_simcc(mirrored[0], mirrored[1], config.flip_indices)
        outputs = ((outputs[0] + fx) * 0.5, (outputs[1] + fy) * 0.5)
    return decode(outputs, b, s, center, scale, img.shape[:2], config)


# -- the one-network halves (whole image as the person box) -------------------------------------
def whole_image_box(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return np.array([[0.0, 0.0, float(w), float(h)]], np.float32)


def preprocess(image: np.ndarray, config: TopDownConfig = TopDownConfig()) -> tuple[np.ndarray, dict[str, Any]]:  # noqa: B008
    """The whole image as one person: network input (1, 3, h, w) and the context to decode it."""
    boxes = whole_image_box(image)
    x, center, scale = crops_for(image, boxes, config)
    return x, {"boxes": boxes, "box_scores": np.ones(1, np.float32), "center": center, "scale": scale,
               "image_shape": image.shape[:2], "config": config}


def postprocess(outputs: Mapping[str, np.ndarray], context: Mapping[str, Any]) -> Poses:
    """SimCC outputs ``out0`` (x) and ``out1`` (y) of the crops described by ``context`` → Poses."""
    if "out0" not in outputs or "out1" not in outputs:
        raise InputError(f"a SimCC pose model has outputs out0 (x) and out1 (y); got {sorted(outputs)}")
    c = context
    return poses_from_simcc(outputs["out0"], outputs["out1"], c["boxes"], c["box_scores"], c["center"], c["scale"],
                            c["image_shape"], c["config"])
