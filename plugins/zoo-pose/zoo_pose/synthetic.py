"""A small COCO person-keypoints dataset of stick figures with known joint positions.

Each figure is COCO's 17-keypoint skeleton posed by random limb angles, scaled and placed at
random, drawn with Pillow (limbs as thick lines, the head as a disc) on a smooth random
background. The annotation keypoints are the exact joint positions that were drawn; keypoints
outside the image are unlabelled (0, 0, 0), and a random few are labelled hidden (v = 1). Boxes
are the labelled keypoints' extent padded by 10 %; areas are COCO's box-only fallback
(0.53 × box area). Deterministic in ``seed``. Used by the tests (no COCO images can be fetched
here); also a quick end-to-end check for a user: ``python -m zoo_pose.synthetic OUT_DIR``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from zoo_pose.keypoints import COCO_KEYPOINTS, COCO_SKELETON
from zoo_pose.metrics import AREA_FROM_BOX

# joints of a figure 1 unit tall, facing the camera (its left on the image's right), y down
_HEAD = {"nose": (0.0, 0.08), "left_eye": (0.025, 0.06), "right_eye": (-0.025, 0.06),
         "left_ear": (0.05, 0.07), "right_ear": (-0.05, 0.07)}
_SHOULDER, _HIP = (0.11, 0.20), (0.07, 0.52)
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.17, 0.15, 0.23, 0.23


def figure_keypoints(rng: np.random.Generator, height: float, origin: tuple[float, float]) -> np.ndarray:
    """(17, 2) image coordinates of one randomly posed figure ``height`` pixels tall whose top
    centre is at ``origin``."""
    pts: dict[str, tuple[float, float]] = dict(_HEAD)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        sx, sy = _SHOULDER[0] * sign, _SHOULDER[1]
        pts[f"{side}_shoulder"] = (sx, sy)
        a1 = np.deg2rad(rng.uniform(10, 80)) * sign  # from straight down, outwards
        ex, ey = sx + _UPPER_ARM * np.sin(a1), sy + _UPPER_ARM * np.cos(a1)
        pts[f"{side}_elbow"] = (ex, ey)
        a2 = a1 + np.deg2rad(rng.uniform(-60, 60))
        pts[f"{side}_wrist"] = (ex + _FOREARM * np.sin(a2), ey + _FOREARM * np.cos(a2))
        hx, hy = _HIP[0] * sign, _HIP[1]
        pts[f"{side}_hip"] = (hx, hy)
        b1 = np.deg2rad(rng.uniform(-5, 25)) * sign
        kx, ky = hx + _THIGH * np.sin(b1), hy + _THIGH * np.cos(b1)
        pts[f"{side}_knee"] = (kx, ky)
        b2 = b1 + np.deg2rad(rng.uniform(-20, 20))
        pts[f"{side}_ankle"] = (kx + _SHIN * np.sin(b2), ky + _SHIN * np.cos(b2))
    unit = np.array([pts[name] for name in COCO_KEYPOINTS], dtype=np.float64)
    return unit * height + np.asarray(origin, np.float64)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    coarse = rng.uniform(40, 215, size=(3, 4, 3))
    ys = np.linspace(0, 2, height)[:, None]
    xs = np.linspace(0, 3, width)[None, :]
    y0, x0 = np.minimum(ys.astype(int), 1), np.minimum(xs.astype(int), 2)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    img = (coarse[y0, x0] * (1 - fy) * (1 - fx) + coarse[y0, x0 + 1] * (1 - fy) * fx
           + coarse[y0 + 1, x0] * fy * (1 - fx) + coarse[y0 + 1, x0 + 1] * fy * fx)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_figure(canvas: Any, keypoints: np.ndarray, height: float, colour: tuple[int, int, int]) -> None:
    """Draw one figure on a Pillow ImageDraw."""
    width = max(2, round(height / 22))
    for a, b in COCO_SKELETON:
        if a <= 4 and b <= 4:
            continue  # face edges: the head disc covers them
        canvas.line([tuple(keypoints[a]), tuple(keypoints[b])], fill=colour, width=width)
    nx, ny = keypoints[0]
    r = height * 0.075
    canvas.ellipse((nx - r, ny - 0.9 * r, nx + r, ny + 1.1 * r), fill=colour)
    for x, y in keypoints[5:]:
        canvas.ellipse((x - width, y - width, x + width, y + width), fill=colour)


def make_image(rng: np.random.Generator, size: tuple[int, int], people: int) -> tuple[np.ndarray, list[np.ndarray],
                                                                                    list[float]]:
    """An RGB image (h, w, 3) with ``people`` figures; their (17, 2) keypoints and heights."""
    from PIL import Image, ImageDraw

    w, h = size
    image = Image.fromarray(_background(rng, h, w))
    pen = ImageDraw.Draw(image)
    figures, heights = [], []
    for _ in range(people):
        fh = float(rng.uniform(0.35, 0.85) * h)
        origin = (float(rng.uniform(0.1, 0.9) * w), float(rng.uniform(-0.05, 1.0 - fh / h) * h))
        kps = figure_keypoints(rng, fh, origin)
        colour = tuple(int(c) for c in rng.integers(0, 60, 3)) if rng.random() < 0.5 else \
            tuple(int(c) for c in rng.integers(190, 256, 3))
        draw_figure(pen, kps, fh, colour)  # type: ignore[arg-type]
        figures.append(kps)
        heights.append(fh)
    return np.asarray(image), figures, heights


def make_keypoint_dataset(root: str | Path, n_images: int = 6, size: tuple[int, int] = (320, 256),
                          max_people: int = 3, seed: int = 0, split: str = "val") -> Path:
    """Write ROOT/SPLIT/*.png and ROOT/annotations/person_keypoints_SPLIT.json; return the json path.

    Image 1 always has no people (a frame with nobody in it is a case to handle, not an error).
    """
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    w, h = size
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id in range(1, n_images + 1):
        people = 0 if image_id == 1 else int(rng.integers(1, max_people + 1))
        rgb, figures, _ = make_image(rng, size, people)
        name = f"{image_id:012d}.png"
        Image.fromarray(rgb).save(root / split / name)
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for kps in figures:
            inside = (kps[:, 0] >= 0) & (kps[:, 0] <= w - 1) & (kps[:, 1] >= 0) & (kps[:, 1] <= h - 1)
            vis = np.where(inside, 2, 0)
            vis[inside & (rng.random(len(kps)) < 0.1)] = 1
            if not (vis > 0).any():
                continue
            lab = kps[vis > 0]
            lo, hi = lab.min(0), lab.max(0)
            pad = (hi - lo) * 0.1
            lo, hi = np.maximum(lo - pad, 0), np.minimum(hi + pad, [w - 1, h - 1])
            bw, bh = hi - lo
            flat = np.concatenate([np.where(vis[:, None] > 0, np.round(kps, 2), 0), vis[:, None]], 1).reshape(-1)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "bbox": [round(float(lo[0]), 2), round(float(lo[1]), 2), round(float(bw), 2), round(float(bh), 2)],
                "area": round(float(AREA_FROM_BOX * bw * bh), 2),
                "keypoints": [float(v) if i % 3 < 2 else int(v) for i, v in enumerate(flat)],
                "num_keypoints": int((vis > 0).sum()),
            })
    doc = {
        "info": {"description": "zoo synthetic stick figures", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_KEYPOINTS),
                        "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON]}],
    }
    path = root / "annotations" / f"person_keypoints_{split}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(make_keypoint_dataset(sys.argv[1] if len(sys.argv) > 1 else "synthetic-keypoints"))
