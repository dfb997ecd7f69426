"""Classification: the top labels of one image (also zero-shot classification)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.results.base import canvas, label, text_size


@dataclass(frozen=True)
class Classification:
    """Top-k labels, best first. ``names`` may be empty (then indices stand in)."""

    indices: list[int]
    scores: list[float]
    names: list[str] = field(default_factory=list)

    @property
    def top1(self) -> int:
        return self.indices[0]

    def _names(self) -> list[str]:
        return self.names or [str(i) for i in self.indices]

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": [
                {"index": int(i), "label": n, "score": float(s)}
                for i, s, n in zip(self.indices, self.scores, self._names(), strict=True)
            ]
        }

    def summary(self) -> str:
        return "\n".join(
            f"{s:7.2%}  {n} ({i})" for i, s, n in zip(self.indices, self.scores, self._names(), strict=True)
        )

    def draw(self, image: np.ndarray) -> np.ndarray:
        """The top labels with their scores, stacked in the top-left corner."""
        im, pen, _ = canvas(image)
        size = text_size(image.shape)
        y = 0.0
        for s, n in zip(self.scores, self._names(), strict=True):
            y += size * 1.4
            label(pen, (2.0, y), f"{n} {s:.1%}", (40, 40, 40), size)
        return np.asarray(im)
