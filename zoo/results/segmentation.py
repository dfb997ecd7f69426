"""InstanceMasks: detections with one binary mask each (instance segmentation).

Masks are in original-image pixels and are stored cropped to their instance's box: a mask is zero
outside its box by construction (YOLO-style segmenters crop to the box), and a crop costs the box's
area instead of the whole image's per instance (a 12 MP photo with 50 instances would otherwise
hold 600 MB of booleans). ``mask(i)`` and ``dense_masks()`` give full-image arrays when needed;
``to_dict`` writes each mask as COCO run-length encoding through faster-coco-eval's (or
pycocotools') mask utilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.results.base import colour
from zoo.results.detection import Detections

MASK_ALPHA = 0.45
"""Opacity of a drawn mask over the photo."""


@dataclass(frozen=True)
class InstanceMasks(Detections):
    """Detections (boxes xyxy in original-image pixels, highest score first) plus, per instance, a
    boolean mask: ``mask_crops[i]`` (h_i, w_i) whose top-left pixel is ``mask_origins[i]`` = (row, col)."""

    mask_crops: tuple[np.ndarray, ...] = ()
    mask_origins: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    def __post_init__(self) -> None:
        if len(self.mask_crops) != len(self.scores) or len(self.mask_origins) != len(self.scores):
            raise ValueError(
                f"InstanceMasks: {len(self.scores)} detections but {len(self.mask_crops)} masks and "
                f"{len(self.mask_origins)} origins"
            )

    # -- masks -----------------------------------------------------------------------------------
    @property
    def areas(self) -> np.ndarray:
        """Mask area of each instance, in pixels."""
        return np.asarray([int(np.count_nonzero(c)) for c in self.mask_crops], dtype=np.int64)

    def mask(self, i: int) -> np.ndarray:
        """Instance ``i``'s mask as a full-image (H, W) bool array."""
        h, w = self.image_shape
        out = np.zeros((int(h), int(w)), dtype=bool)
        top, left = (int(v) for v in self.mask_origins[i])
        crop = self.mask_crops[i]
        out[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
        return out

    def dense_masks(self) -> np.ndarray:
        """All masks as one (N, H, W) bool array (N × H × W bytes: mind large photos)."""
        h, w = self.image_shape
        if not len(self):
            return np.zeros((0, int(h), int(w)), dtype=bool)
        return np.stack([self.mask(i) for i in range(len(self))])

    def rles(self) -> list[dict[str, Any]]:
        """Each mask as COCO RLE ({'size': [h, w], 'counts': str}), as the COCO tools read it."""
        encode = _rle_encoder()
        out = []
        for i in range(len(self)):
            rle = encode(np.asfortranarray(self.mask(i).astype(np.uint8)))
            counts = rle["counts"]
            out.append({"size": [int(v) for v in rle["size"]],
                        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts)})  # fmt: skip
        return out

    @property
    def detections(self) -> Detections:
        """The boxes alone."""
        return Detections(self.boxes, self.scores, self.class_ids, self.names, self.image_shape)

    def take(self, index: np.ndarray) -> InstanceMasks:
        index = np.asarray(index, dtype=np.intp).reshape(-1)
        base = Detections.take(self, index)
        return InstanceMasks(
            boxes=base.boxes,
            scores=base.scores,
            class_ids=base.class_ids,
            names=base.names,
            image_shape=self.image_shape,
            mask_crops=tuple(self.mask_crops[i] for i in index),
            mask_origins=self.mask_origins[index].reshape(-1, 2),
        )

    # -- the Result protocol -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = Detections.to_dict(self)
        for entry, rle, area in zip(out["detections"], self.rles(), self.areas.tolist(), strict=True):
            entry["mask"] = rle
            entry["mask_area"] = int(area)
        out["mask_format"] = "coco-rle"
        return out

    def summary(self) -> str:
        if not len(self):
            return "no instances"
        return "\n".join(
            f"{s:6.1%}  {n:<16} [{b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}]  mask {a:,} px"
            for b, s, n, a in zip(self.boxes, self.scores, self._names(), self.areas.tolist(), strict=True)
        )

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Translucent masks in each class's colour, then the box and 'label score' tag, on a copy."""
        out = np.array(image, dtype=np.uint8, copy=True)
        # lowest score first, so the most confident instance ends on top where masks overlap
        for i in np.argsort(self.scores, kind="stable"):
            top, left = (int(v) for v in self.mask_origins[i])
            crop = self.mask_crops[i]
            region = out[top : top + crop.shape[0], left : left + crop.shape[1]]
            tint = np.asarray(colour(int(self.class_ids[i])), dtype=np.float32)
            region[crop] = (region[crop] * (1 - MASK_ALPHA) + tint * MASK_ALPHA).astype(np.uint8)
        return super().draw(out)  # the boxes and tags over the masks


def _rle_encoder() -> Any:
    """faster-coco-eval's mask.encode (pycocotools' when only that is installed)."""
    try:
        from faster_coco_eval.core import mask as mask_util
    except ImportError:
        try:
            from pycocotools import mask as mask_util
        except ImportError as err:
            from zoo.errors import MissingDependencyError

            raise MissingDependencyError("faster_coco_eval", "eval", "to write masks as COCO RLE") from err
    return mask_util.encode
