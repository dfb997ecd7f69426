"""Tracks: the objects a tracker follows at one frame of a video, each with an id that persists
across frames (multi-object tracking over a detector, or one object followed from its first box)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.results.base import canvas, colour, label, text_size


@dataclass(frozen=True)
class Tracks:
    """The tracks shown at one frame, in original-image pixels.

    ``ids``: (N,) int64 track ids, unique within a frame and stable across frames;
    ``boxes``: (N, 4) float32 xyxy; ``scores``: (N,) float32 (the score of the detection the track
    matched; for a single-object tracker, its confidence); ``class_ids``: (N,) int64;
    ``names``: the class name of each track (empty when the detector has none);
    ``image_shape``: (height, width); ``frame``: frames seen since the tracker's last reset
    (1-based, as MOTChallenge counts); ``trails``: (N, K, 2) float32, per track its box centres
    over the last K frames it was shown, oldest first and ending at this frame, NaN where the
    track is younger than K frames.
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
        """Track ``i``'s class name, or its class id when the detector names none."""
        return self.names[i] if i < len(self.names) and self.names[i] else str(int(self.class_ids[i]))

    def to_dict(self) -> dict[str, Any]:
        """What ``--json`` prints for a frame (one JSON line per frame). ``frame_number`` counts
        frames from the tracker's reset (1-based); ``zoo run`` adds the source's ``frame`` name."""
        return {
            "frame_number": int(self.frame),
            "image_size": {"height": int(self.image_shape[0]), "width": int(self.image_shape[1])},
            "count": len(self),
            "tracks": [
                {
                    "id": int(self.ids[i]),
                    "box": [round(float(v), 2) for v in self.boxes[i]],
                    "score": round(float(self.scores[i]), 5),
                    "class_id": int(self.class_ids[i]),
                    "class": self.label(i),
                }
                for i in range(len(self))
            ],
        }

    def to_mot_rows(self) -> list[str]:
        """MOTChallenge result lines: frame, id, left, top, width, height, score, -1, -1, -1."""
        rows = []
        for i in range(len(self)):
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            rows.append(
                f"{self.frame},{int(self.ids[i])},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                f"{float(self.scores[i]):.4f},-1,-1,-1"
            )
        return rows

    def summary(self) -> str:
        """One line per track: '#id label score [x1, y1, x2, y2]'."""
        if not len(self):
            return "no tracks"
        return "\n".join(
            f"#{int(self.ids[i]):<4} {self.label(i):<14} {float(self.scores[i]):5.2f}  "
            f"[{self.boxes[i][0]:.0f}, {self.boxes[i][1]:.0f}, {self.boxes[i][2]:.0f}, {self.boxes[i][3]:.0f}]"
            for i in range(len(self))
        )

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Boxes coloured by track id, '#id label' tags and each track's trail, on a copy of
        ``image`` (RGB uint8)."""
        im, pen, width = canvas(image)
        size = text_size(image.shape)
        for i in range(len(self)):
            c = colour(int(self.ids[i]))
            if i < len(self.trails):
                points = self.trails[i][np.isfinite(self.trails[i]).all(axis=1)]
                if len(points) > 1:
                    pen.line([(float(x), float(y)) for x, y in points], fill=c, width=2 * width)
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            pen.rectangle((x1, y1, max(x1, x2), max(y1, y2)), outline=c, width=width)
            label(pen, (x1, y1), f"#{int(self.ids[i])} {self.label(i)}", c, size)
        return np.asarray(im)
