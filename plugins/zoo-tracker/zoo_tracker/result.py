"""The tracker's result type (one frame of tracks), how to draw it, and how two runs agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo_tracker.assignment import box_iou


@dataclass(frozen=True)
class Tracks:
    """The tracks shown at one frame, in original-image pixels.

    ids: (N,) int64 track ids, unique within a frame and stable across frames;
    boxes: (N, 4) float32 xyxy; scores: (N,) float32 (the score of the detection the track last
    matched; for a single-object tracker, its confidence); class_ids: (N,) int64;
    names: the class name of each track (empty when the detector has none);
    image_shape: (height, width); frame: the frame index (1-based, as MOTChallenge counts);
    trails: (N, K, 2) float32, per track its box centres over the last K frames it was shown,
    oldest first and ending at this frame; NaN where the track is younger than K frames.
    """

    frame: int = 0
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    names: tuple[str, ...] = ()
    image_shape: tuple[int, int] = (0, 0)
    trails: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def label(self, i: int) -> str:
        return self.names[i] if i < len(self.names) and self.names[i] else str(int(self.class_ids[i]))

    def to_dict(self) -> dict[str, Any]:
        """What ``--json`` prints for a frame (one JSON line per frame)."""
        return {
            "frame": int(self.frame),
            "image_size": {"height": int(self.image_shape[0]), "width": int(self.image_shape[1])},
            "count": len(self),
            "tracks": [
                {"id": int(self.ids[i]), "box": [round(float(v), 2) for v in self.boxes[i]],
                 "score": round(float(self.scores[i]), 5), "class_id": int(self.class_ids[i]),
                 "class": self.label(i)}
                for i in range(len(self))
            ],
        }

    def to_mot_rows(self) -> list[str]:
        """MOTChallenge result lines: frame, id, left, top, width, height, score, -1, -1, -1."""
        rows = []
        for i in range(len(self)):
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            rows.append(f"{self.frame},{int(self.ids[i])},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                        f"{float(self.scores[i]):.4f},-1,-1,-1")
        return rows

    def summary(self) -> str:
        head = f"frame {self.frame}: {len(self)} track{'s' if len(self) != 1 else ''}"
        if not len(self):
            return head
        lines = [
            f"  #{int(self.ids[i]):<5} {self.label(i):<14} {float(self.scores[i]):5.2f}  "
            f"[{self.boxes[i][0]:.0f}, {self.boxes[i][1]:.0f}, {self.boxes[i][2]:.0f}, {self.boxes[i][3]:.0f}]"
            for i in range(len(self))
        ]
        return "\n".join([head, *lines])


def colour(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct colour per track id (golden-ratio hue steps)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618033988749895) % 1.0, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def draw(image: np.ndarray, result: Tracks) -> np.ndarray:
    """Boxes coloured by track id, '#id label' tags and each track's trail, on a copy of ``image`` (RGB uint8)."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.fromarray(np.ascontiguousarray(image))
    pen = ImageDraw.Draw(canvas)
    width = max(1, round(min(canvas.size) / 300))
    try:
        font = ImageFont.load_default(size=max(10, min(canvas.size) // 40))
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        font = ImageFont.load_default()
    for i in range(len(result)):
        c = colour(int(result.ids[i]))
        if i < len(result.trails):
            points = result.trails[i][np.isfinite(result.trails[i]).all(axis=1)]
            if len(points) > 1:
                pen.line([(float(x), float(y)) for x, y in points], fill=c, width=width)
        x1, y1, x2, y2 = (float(v) for v in result.boxes[i])
        pen.rectangle((x1, y1, max(x1, x2), max(y1, y2)), outline=c, width=width)
        text = f"#{int(result.ids[i])} {result.label(i)}"
        left, top, right, bottom = pen.textbbox((x1, y1), text, font=font)
        th = bottom - top
        ty = y1 - th - 2 if y1 - th - 2 >= 0 else y1
        pen.rectangle((x1, ty, x1 + (right - left) + 4, ty + th + 2), fill=c)
        pen.text((x1 + 2, ty), text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)


def agreement(reference: list[Tracks], candidate: list[Tracks], iou_threshold: float = 0.5) -> dict[str, float]:
    """How closely a candidate run reproduces a reference run over the same frames (e.g. the
    tracker fed by an int8 detector against the fp32 one).

    box_match: fraction of reference track boxes with a candidate box at IoU >= 0.5 (greedy by
    IoU, one to one, per frame); box_match_reverse: the same from the candidate side;
    id_consistency: fraction of those matched boxes whose candidate id is the one the reference id
    is most often matched to (1.0 when ids map one to one for the whole run; an id switch lowers it);
    mean_iou: mean IoU of the matched boxes; reference_boxes: how many reference boxes there were.
    """
    if not reference:
        return {}
    pairs: list[tuple[int, int]] = []
    ious: list[float] = []
    total = total_rev = 0
    for ref, cand in zip(reference, candidate, strict=True):
        total += len(ref)
        total_rev += len(cand)
        if not len(ref) or not len(cand):
            continue
        iou = box_iou(ref.boxes, cand.boxes)
        for r, c in _greedy(iou, iou_threshold):
            pairs.append((int(ref.ids[r]), int(cand.ids[c])))
            ious.append(float(iou[r, c]))
    matched = len(pairs)
    consistent = 0
    if pairs:
        p = np.asarray(pairs)
        keys, counts = np.unique(p, axis=0, return_counts=True)
        # for each reference id, the count of its most frequent candidate id
        best: dict[int, int] = {}
        for (rid, _cid), n in zip(keys.tolist(), counts.tolist(), strict=True):
            best[rid] = max(best.get(rid, 0), n)
        consistent = sum(best.values())
    return {
        "box_match": matched / total if total else float(total_rev == 0),
        "box_match_reverse": matched / total_rev if total_rev else float(total == 0),
        "id_consistency": consistent / matched if matched else float(total == 0),
        "mean_iou": float(np.mean(ious)) if ious else float(total == 0 and total_rev == 0),
        "reference_boxes": float(total),
    }


def _greedy(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs by descending IoU, down to ``threshold``."""
    order = np.argsort(-iou, axis=None, kind="stable")
    rows, cols = np.unravel_index(order, iou.shape)
    used_r: set[int] = set()
    used_c: set[int] = set()
    out = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if iou[r, c] < threshold:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        out.append((r, c))
    return out
