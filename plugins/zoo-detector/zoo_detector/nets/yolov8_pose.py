"""YOLOv8-pose in Ultralytics' module layout (``yolov8-pose.yaml``: the YOLOv8 backbone and neck,
then the ``Pose`` head as layer 22).

The Pose head is the v8 Detect head (box branch ``cv2``, class branch ``cv3``, one class: person)
plus a keypoint branch ``cv4`` per level (two 3×3 Conv, then a 1×1 conv to 17 × (x, y, visibility)).
``forward`` stops before any decoding and returns the raw head per anchor, (1, 64 + 1 + 51, anchors):
4 × 16 DFL box logits, the person logit, then per keypoint the raw x, y offsets and visibility
logit in Ultralytics' channel order (k·3 + {0, 1, 2}). ``zoo_detector.pose_decode`` decodes it in numpy.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo_detector.nets.yolov8 import Conv, Detect, YOLOv8

KEYPOINT_SHAPE = (17, 3)
"""COCO's 17 keypoints × (x, y, visibility), Ultralytics' ``kpt_shape``."""


class Pose(Detect):
    """Ultralytics' Pose head (legacy v8 layout): Detect + a keypoint branch per level."""

    def __init__(self, nc: int, ch: tuple[int, ...], kpt_shape: tuple[int, int] = KEYPOINT_SHAPE,
                 reg_max: int = 16) -> None:
        super().__init__(nc, ch, reg_max)
        self.kpt_shape = kpt_shape
        self.nk = kpt_shape[0] * kpt_shape[1]
        c4 = max(ch[0] // 4, self.nk)
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, self.nk, 1)) for x in ch)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        outs = [torch.cat((box(x), cls(x), kpt(x)), 1).flatten(2)
                for x, box, cls, kpt in zip(xs, self.cv2, self.cv3, self.cv4, strict=True)]
        return torch.cat(outs, 2)


class YOLOv8Pose(YOLOv8):
    """Ultralytics PoseModel equivalent: the YOLOv8 layer list with ``Pose`` as layer 22."""

    def __init__(self, scale: tuple[float, float, int] = (0.33, 0.25, 1024), nc: int = 1,
                 kpt_shape: tuple[int, int] = KEYPOINT_SHAPE) -> None:
        super().__init__(scale, nc)
        detect = self.model[-1]
        head = Pose(nc, tuple(branch[0].conv.in_channels for branch in detect.cv2), kpt_shape, detect.reg_max)
        head.bias_init(self.strides)
        self.model[-1] = head


def yolov8n_pose() -> YOLOv8Pose:
    return YOLOv8Pose((0.33, 0.25, 1024), nc=1)
