"""Short synthetic videos with known tracks, made in numpy (no video encoding).

``moving_shapes``: coloured rectangles and ellipses moving at constant velocity over a plain
background, bouncing off the frame edges, each with its ground-truth track (MOTChallenge rows),
for CLI and end-to-end tests of a detector + tracker. ``textured_patch``: one textured patch
drifting over a plain background, with its box per frame, for single-object trackers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_tracker.mot import MotData, format_mot


@dataclass(frozen=True)
class SyntheticVideo:
    """frames: (T, H, W, 3) RGB uint8; gt: MOTChallenge ground truth (frames 1..T, boxes xywh)."""

    frames: np.ndarray
    gt: MotData
    frame_rate: float = 25.0

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def write_mot(self, root: str | Path, name: str) -> Path:
        """A MOTChallenge sequence folder without its frames: ``root/name/seqinfo.ini`` and
        ``root/name/gt/gt.txt`` (the frames go to ``img1/`` or a video through the core's media module)."""
        seq = Path(root) / name
        (seq / "gt").mkdir(parents=True, exist_ok=True)
        (seq / "seqinfo.ini").write_text(self.seqinfo(name), encoding="utf-8")
        (seq / "gt" / "gt.txt").write_text(format_mot(self.gt), encoding="utf-8")
        return seq

    def seqinfo(self, name: str) -> str:
        """The seqinfo.ini text MOTChallenge tools expect beside gt/gt.txt."""
        h, w = self.image_shape
        return (f"[Sequence]\nname={name}\nimDir=img1\nframeRate={self.frame_rate:g}\nseqLength={self.num_frames}\n"
                f"imWidth={w}\nimHeight={h}\nimExt=.png\n")


_PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40), (128, 0, 0),
], dtype=np.uint8)


def shape_tracks(num_frames: int = 30, size: tuple[int, int] = (240, 320), num_objects: int = 4, seed: int = 0,
                 min_side: int = 18, max_side: int = 48, max_speed: float = 4.0) -> tuple[MotData, np.ndarray]:
    """The tracks of ``moving_shapes`` without drawing them: ground truth (boxes xywh, frames from 1)
    and, per object, whether it is drawn as an ellipse."""
    rng = np.random.default_rng(seed)
    h, w = size
    sides = rng.integers(min_side, max_side + 1, size=(num_objects, 2)).astype(np.float64)  # (w, h)
    lo = sides / 2
    hi = np.array([w, h], np.float64) - sides / 2
    pos = rng.uniform(lo, hi)
    speed = rng.uniform(1.0, max_speed, num_objects)
    angle = rng.uniform(0, 2 * np.pi, num_objects)
    vel = np.stack([np.cos(angle), np.sin(angle)], 1) * speed[:, None]
    ellipse = rng.random(num_objects) < 0.5
    rows = []
    for t in range(num_frames):
        for k in range(num_objects):
            x1, y1 = pos[k] - sides[k] / 2
            rows.append((t + 1, k + 1, round(x1), round(y1), int(sides[k, 0]), int(sides[k, 1])))
        pos = pos + vel
        bounce_lo, bounce_hi = pos < lo, pos > hi
        vel = np.where(bounce_lo | bounce_hi, -vel, vel)
        pos = np.clip(pos, lo, hi)
    arr = np.asarray(rows, np.float64).reshape(-1, 6)
    gt = MotData(frames=arr[:, 0].astype(np.int64), ids=arr[:, 1].astype(np.int64), boxes=arr[:, 2:6],
                 conf=np.ones(len(arr)), classes=np.ones(len(arr)), visibility=np.ones(len(arr)),
                 source="synthetic moving shapes")
    return gt, ellipse


def moving_shapes(num_frames: int = 30, size: tuple[int, int] = (240, 320), num_objects: int = 4, seed: int = 0,
                  background: tuple[int, int, int] = (40, 40, 40), min_side: int = 18, max_side: int = 48,
                  max_speed: float = 4.0) -> SyntheticVideo:
    """Objects of distinct colours (rectangles and ellipses) moving in straight lines and bouncing off
    the edges. They may cross; the one with the higher id is drawn on top. Every object is fully
    inside the frame in every frame, so the ground truth is exact (conf 1, class 1, visibility 1)."""
    gt, ellipse = shape_tracks(num_frames, size, num_objects, seed, min_side, max_side, max_speed)
    h, w = size
    colours = _PALETTE[np.arange(num_objects) % len(_PALETTE)]
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    frames[:] = np.asarray(background, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for t, k, (x1, y1, bw, bh) in zip(gt.frames.tolist(), (gt.ids - 1).tolist(), gt.boxes.astype(int).tolist(),
                                      strict=True):
        frame = frames[t - 1]
        if ellipse[k]:
            cx, cy = x1 + (bw - 1) / 2, y1 + (bh - 1) / 2
            sub_y, sub_x = yy[y1:y1 + bh, x1:x1 + bw], xx[y1:y1 + bh, x1:x1 + bw]
            mask = ((sub_x - cx) / (bw / 2)) ** 2 + ((sub_y - cy) / (bh / 2)) ** 2 <= 1.0
            frame[y1:y1 + bh, x1:x1 + bw][mask] = colours[k]
        else:
            frame[y1:y1 + bh, x1:x1 + bw] = colours[k]
    return SyntheticVideo(frames=frames, gt=gt)


def texture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A high-contrast random texture (blocky noise plus stripes), RGB uint8: easy to match, hard to confuse."""
    rng = np.random.default_rng(seed)
    h, w = shape
    blocks = rng.integers(0, 256, size=(max(1, h // 6) + 1, max(1, w // 6) + 1, 3), dtype=np.uint8)
    tex = np.repeat(np.repeat(blocks, 6, axis=0), 6, axis=1)[:h, :w].astype(np.int32)
    stripes = ((np.arange(w)[None, :] + np.arange(h)[:, None]) // 5 % 2 * 60)[..., None]
    return np.clip(tex // 2 + stripes + 40, 0, 255).astype(np.uint8)


def patch_path(num_frames: int = 60, size: tuple[int, int] = (360, 480), patch: tuple[int, int] = (48, 64),
               seed: int = 0, max_speed: float = 6.0) -> np.ndarray:
    """The boxes (T, 4) x, y, w, h of ``textured_patch``'s patch, without drawing it."""
    rng = np.random.default_rng(seed)
    h, w = size
    ph, pw = patch
    boxes = np.zeros((num_frames, 4), np.float64)
    pos = np.array([rng.uniform(0, w - pw), rng.uniform(0, h - ph)])
    vel = rng.normal(0, max_speed / 2, 2)
    for t in range(num_frames):
        boxes[t] = (int(round(pos[0])), int(round(pos[1])), pw, ph)
        vel = np.clip(vel + rng.normal(0, 0.8, 2), -max_speed, max_speed)
        pos = pos + vel
        for d, limit in enumerate((w - pw, h - ph)):
            if pos[d] < 0 or pos[d] > limit:
                vel[d] = -vel[d]
                pos[d] = float(np.clip(pos[d], 0, limit))
    return boxes


def textured_patch(num_frames: int = 60, size: tuple[int, int] = (360, 480), patch: tuple[int, int] = (48, 64),
                   seed: int = 0, background: tuple[int, int, int] = (110, 120, 130),
                   max_speed: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """A textured patch (h, w) drifting over a plain background: frames (T, H, W, 3) and boxes (T, 4) xywh.

    The patch follows a smooth random path (velocity changes a little each frame), bouncing off
    the borders; it stays fully inside the frame."""
    boxes = patch_path(num_frames, size, patch, seed, max_speed)
    h, w = size
    ph, pw = patch
    tex = texture(patch, seed=seed + 1)
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    frames[:] = np.asarray(background, np.uint8)
    for t, (x, y, _, _) in enumerate(boxes.astype(int).tolist()):
        frames[t, y:y + ph, x:x + pw] = tex
    return frames, boxes
