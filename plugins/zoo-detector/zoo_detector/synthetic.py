"""A synthetic detection and instance-segmentation set, made here (numpy + Pillow, seeded).

No labelled detection or mask data is reachable offline, so tests and benchmarks make their own:
backgrounds are random crops of zoo's embedded photos (flipped, colour-jittered); on each, 1–6
non-overlapping filled shapes of three classes (circle, rectangle, triangle; random colour, size
and place). Every shape is drawn as the polygon its label holds (a circle as a 32-gon), and shapes
never overlap, so each instance's mask is exactly its polygon. Written as COCO instances (polygon
``segmentation``, box, area) and as Ultralytics YOLO labels (boxes, or polygons for segmentation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ("circle", "rectangle", "triangle")
CIRCLE_SIDES = 32


@dataclass(frozen=True)
class Shape:
    label: int
    polygon: np.ndarray  # (K, 2) float (x, y) in pixels

    @property
    def box(self) -> tuple[float, float, float, float]:
        (x1, y1), (x2, y2) = self.polygon.min(0), self.polygon.max(0)
        return float(x1), float(y1), float(x2), float(y2)

    @property
    def area(self) -> float:
        """Polygon area (shoelace)."""
        x, y = self.polygon[:, 0], self.polygon[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def photos() -> list[np.ndarray]:
    from zoo.images import load_image, sample_image_paths

    return [load_image(p) for p in sample_image_paths()]


def _polygon(label: int, x1: float, y1: float, w: float, h: float) -> np.ndarray:
    if label == 0:
        t = np.arange(CIRCLE_SIDES) * (2 * np.pi / CIRCLE_SIDES)
        return np.stack((x1 + w / 2 * (1 + np.cos(t)), y1 + h / 2 * (1 + np.sin(t))), 1)
    if label == 1:
        return np.array([(x1, y1), (x1 + w, y1), (x1 + w, y1 + h), (x1, y1 + h)], dtype=np.float64)
    return np.array([(x1, y1 + h), (x1 + w, y1 + h), (x1 + w / 2, y1)], dtype=np.float64)


def scene(rng: np.random.Generator, backgrounds: list[np.ndarray], width: int, height: int) -> tuple[Any, list[Shape]]:
    """One image (PIL) and its shapes: a jittered photo crop with 1–6 non-overlapping shapes."""
    from PIL import Image, ImageDraw

    photo = backgrounds[int(rng.integers(len(backgrounds)))]
    h, w = photo.shape[:2]
    scale = rng.uniform(max(width / w, height / h), max(width / w, height / h) * 2.0)
    img = Image.fromarray(photo).resize((int(w * scale) + 1, int(h * scale) + 1), Image.BILINEAR)
    left = int(rng.integers(0, img.width - width + 1))
    top = int(rng.integers(0, img.height - height + 1))
    arr = np.asarray(img.crop((left, top, left + width, top + height))).astype(np.float32)
    if rng.random() < 0.5:
        arr = arr[:, ::-1]
    arr = np.clip(arr * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30, 3), 0, 255).astype(np.uint8)
    canvas = Image.fromarray(np.ascontiguousarray(arr))
    draw = ImageDraw.Draw(canvas)
    shapes: list[Shape] = []
    short = min(width, height)
    for _ in range(int(rng.integers(1, 7))):
        label = int(rng.integers(len(CLASSES)))
        bw, bh = (float(rng.uniform(0.08, 0.45) * short) for _ in range(2))
        if label == 0:
            bh = bw
        for _attempt in range(20):  # no overlap: each mask is exactly its polygon
            x1, y1 = float(rng.uniform(0, width - bw)), float(rng.uniform(0, height - bh))
            if all(x1 > s.box[2] + 2 or x1 + bw < s.box[0] - 2 or y1 > s.box[3] + 2 or y1 + bh < s.box[1] - 2
                   for s in shapes):  # fmt: skip
                break
        else:
            continue
        shape = Shape(label, _polygon(label, x1, y1, bw, bh))
        draw.polygon([tuple(p) for p in shape.polygon.tolist()], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        shapes.append(shape)
    return canvas, shapes


def write_coco(folder: Path, n: int, width: int, height: int, seed: int, split: str = "val2017") -> Path:
    """A COCO-format instances set: ``folder/split/*.jpg`` and ``folder/annotations/instances_split.json``
    with polygon segmentations. Returns the annotation file."""
    rng = np.random.default_rng(seed)
    backgrounds = photos()
    (folder / split).mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(1, n + 1):
        img, shapes = scene(rng, backgrounds, width, height)
        name = f"{i:05d}.png"  # lossless: pixels are exactly the drawn polygons
        img.save(folder / split / name)
        images.append({"id": i, "file_name": name, "width": width, "height": height})
        for s in shapes:
            x1, y1, x2, y2 = s.box
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": s.label + 1, "iscrowd": 0,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": s.area,
                                "segmentation": [[round(float(v), 2) for v in s.polygon.ravel()]]})  # fmt: skip
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(CLASSES)]
    path = folder / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def write_yolo(folder: Path, split: str, n: int, size: int, seed: int, masks: bool, n_classes: int = 80) -> None:
    """Ultralytics' layout: ``folder/images/split/*.jpg`` and ``folder/labels/split/*.txt`` (normalised
    boxes, or polygons when ``masks``), plus ``folder/data.yaml`` naming ``n_classes`` class slots
    (80 as COCO's, the first three used, so the checkpoint loads into zoo's COCO-shaped models)."""
    rng = np.random.default_rng(seed)
    backgrounds = photos()
    (folder / "images" / split).mkdir(parents=True, exist_ok=True)
    (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, shapes = scene(rng, backgrounds, size, size)
        img.save(folder / "images" / split / f"{i:05d}.jpg", quality=92)
        lines = []
        for s in shapes:
            if masks:
                lines.append(f"{s.label} " + " ".join(f"{v / size:.6f}" for v in s.polygon.ravel()))
            else:
                x1, y1, x2, y2 = s.box
                lines.append(f"{s.label} {(x1 + x2) / 2 / size:.6f} {(y1 + y2) / 2 / size:.6f} "
                             f"{(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}")  # fmt: skip
        (folder / "labels" / split / f"{i:05d}.txt").write_text("\n".join(lines) + "\n")
    names = {k: (CLASSES[k] if k < len(CLASSES) else f"unused{k}") for k in range(n_classes)}
    (folder / "data.yaml").write_text(
        f"path: {folder}\ntrain: images/train\nval: images/val\nnames:\n"
        + "".join(f"  {k}: {v}\n" for k, v in names.items())
    )
