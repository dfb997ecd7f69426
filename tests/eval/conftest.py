"""A tiny COCO-format dataset made on the fly, and a fake detector that knows its answers.

Each image is a PNG whose first pixel encodes its image id (lossless), so a predict function that
only sees pixels can look up the right boxes, as a real detector would have to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip(os.environ.get("ZOO_COCO_LIB", "faster_coco_eval"))


@dataclass
class Dets:
    """Stand-in for the detector plugin's Detections: xyxy pixels, scores, class ids."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    names: list[str] = field(default_factory=list)


def dets(rows: list[tuple[float, float, float, float, float, int]]) -> Dets:
    """Detections from (x1, y1, x2, y2, score, label) rows."""
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return Dets(a[:, :4], a[:, 4], a[:, 5].astype(np.int64))


def image_id_of(rgb: np.ndarray) -> int:
    return int(rgb[0, 0, 0]) * 256 + int(rgb[0, 0, 1])


@dataclass
class TinyCoco:
    root: Path
    annotation_file: Path
    images_dir: Path
    instances: dict[str, Any]

    def gt_detections(self, image_id: int, label_of: Callable[[int], int]) -> Dets:
        rows = [
            (x, y, x + w, y + h, 0.9, label_of(a["category_id"]))
            for a in self.instances["annotations"]
            if a["image_id"] == image_id
            for x, y, w, h in [a["bbox"]]
        ]
        return dets(rows)

    def rewrite(self, instances: Any) -> Path:
        text = instances if isinstance(instances, str) else json.dumps(instances)
        self.annotation_file.write_text(text)
        return self.annotation_file


COCO_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
]

# image id -> [(x, y, w, h, category_id)], in pixels of a 160x120 image
BOXES: dict[int, list[tuple[int, int, int, int, int]]] = {
    7: [(10, 10, 50, 40, 1), (80, 20, 40, 60, 3)],
    8: [(5, 60, 70, 50, 18), (90, 10, 60, 30, 1), (100, 70, 50, 40, 3)],
    9: [(20, 20, 100, 80, 18)],
}


def make_tiny_coco(
    root: Path,
    boxes: dict[int, list[tuple[int, int, int, int, int]]] = BOXES,
    categories: list[dict[str, Any]] = COCO_CATEGORIES,
    split: str = "val2017",
) -> TinyCoco:
    from PIL import Image

    images_dir = root / split
    images_dir.mkdir(parents=True)
    (root / "annotations").mkdir()
    images, annotations = [], []
    for image_id, rows in boxes.items():
        rgb = np.full((120, 160, 3), 40, dtype=np.uint8)
        rgb[0, 0] = (image_id // 256, image_id % 256, 0)
        Image.fromarray(rgb).save(images_dir / f"{image_id:012d}.png")
        images.append({"id": image_id, "file_name": f"{image_id:012d}.png", "width": 160, "height": 120})
        for x, y, w, h, cid in rows:
            annotations.append(
                {
                    "id": 100 + len(annotations),
                    "image_id": image_id,
                    "category_id": cid,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    instances = {
        "info": {"description": "tiny"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    ann = root / "annotations" / f"instances_{split}.json"
    ann.write_text(json.dumps(instances))
    return TinyCoco(root, ann, images_dir, instances)


class Kit:
    """What the tests need besides the dataset (test modules cannot import conftest)."""

    Dets = Dets
    dets = staticmethod(dets)
    image_id_of = staticmethod(image_id_of)
    BOXES = BOXES
    COCO_CATEGORIES = COCO_CATEGORIES

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.n = 0

    def make(
        self,
        boxes: dict[int, list[tuple[int, int, int, int, int]]] = BOXES,
        categories: list[dict[str, Any]] = COCO_CATEGORIES,
        split: str = "val2017",
    ) -> TinyCoco:
        self.n += 1
        return make_tiny_coco(self.tmp_path / f"coco-{self.n}", boxes, categories, split)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


@pytest.fixture
def tiny_coco(kit: Kit) -> TinyCoco:
    return kit.make()
