"""Detections: boxes, classes and scores of one image (the detector task, and the input of trackers
and top-down pose)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.results.base import canvas, colour, label, text_size


@dataclass(frozen=True)
class Detections:
    """Boxes in original-image pixels (xyxy), highest score first."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    names: tuple[str, ...] = ()
    image_shape: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return len(self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": {"height": int(self.image_shape[0]), "width": int(self.image_shape[1])},
            "count": len(self),
            "detections": [
                {"label": n, "class_id": int(c), "score": round(float(s), 5), "box": [round(float(v), 2) for v in b]}
                for b, s, c, n in zip(self.boxes, self.scores, self.class_ids, self._names(), strict=True)
            ],
        }

    def _names(self) -> tuple[str, ...]:
        return self.names or tuple(str(int(c)) for c in self.class_ids)

    def take(self, index: np.ndarray) -> Detections:
        """The detections at ``index`` (in that order), same image."""
        names = tuple(self.names[i] for i in index) if self.names else ()
        return Detections(
            boxes=self.boxes[index],
            scores=self.scores[index],
            class_ids=self.class_ids[index],
            names=names,
            image_shape=self.image_shape,
        )

    def of_class(self, class_ids: set[int]) -> Detections:
        """Only the detections whose class is in ``class_ids`` (e.g. persons for top-down pose)."""
        return self.take(np.flatnonzero(np.isin(self.class_ids, list(class_ids))))

    def summary(self) -> str:
        if not len(self):
            return "no detections"
        return "\n".join(
            f"{s:6.1%}  {n:<16} [{b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}]"
            for b, s, n in zip(self.boxes, self.scores, self._names(), strict=True)
        )

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Boxes and 'label score' tags on a copy of ``image`` (RGB uint8)."""
        im, pen, width = canvas(image)
        size = text_size(image.shape)
        for box, score, cid, name in zip(self.boxes, self.scores, self.class_ids, self._names(), strict=True):
            c = colour(int(cid))
            x1, y1, x2, y2 = (float(v) for v in box)
            pen.rectangle((x1, y1, max(x1, x2), max(y1, y2)), outline=c, width=width)
            label(pen, (x1, y1), f"{name} {score:.2f}", c, size)
        return np.asarray(im)
