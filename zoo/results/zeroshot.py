"""Zero-shot classification: one image scored against labels given at run time (CLIP)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.results.base import canvas, label, text_size


@dataclass(frozen=True)
class ZeroShot:
    """The labels given, best first (``indices``/``scores``/``names``: the top k, like
    ``Classification``), and the whole distribution in the order given (``probabilities``)."""

    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """(k,) int64 indices into ``labels``, highest probability first."""
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """(k,) their probabilities."""
    names: tuple[str, ...] = ()
    """(k,) the labels themselves."""
    labels: tuple[str, ...] = ()
    """Every label, in the order given."""
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """(len(labels),) softmax over every label, in label order (sums to 1)."""
    template: str = "{}"
    """The prompt each label was put into ("a photo of a {}")."""
    truncated: tuple[str, ...] = ()
    """Prompts longer than the text context, cut to fit (the summary says so)."""
    embedding: np.ndarray | None = None
    """(D,) the image's L2-normalised embedding, when the predictor keeps it: agreement compares
    it (int8 vs fp32); not in ``to_dict`` (``zoo embed`` prints embeddings)."""

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray, labels: Sequence[str], top_k: int = 5,
                           template: str = "{}", truncated: Sequence[str] = (),
                           embedding: np.ndarray | None = None) -> ZeroShot:  # fmt: skip
        """The result for one image's probabilities over ``labels`` (top ``top_k`` first)."""
        probs = np.asarray(probabilities, np.float32).reshape(-1)
        if probs.shape[0] != len(labels):
            raise ValueError(f"{probs.shape[0]} probabilities for {len(labels)} labels")
        order = np.argsort(-probs, kind="stable")[: max(1, min(int(top_k), len(labels)))]
        return cls(indices=order.astype(np.int64), scores=probs[order], names=tuple(labels[i] for i in order),
                   labels=tuple(labels), probabilities=probs, template=template, truncated=tuple(truncated),
                   embedding=embedding)  # fmt: skip

    @property
    def top1(self) -> int:
        return int(self.indices[0]) if len(self.indices) else -1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "template": self.template,
            "top": [{"index": int(i), "label": n, "score": round(float(s), 6)}
                    for i, s, n in zip(self.indices, self.scores, self.names, strict=True)],
            "probabilities": {lb: round(float(p), 6) for lb, p in zip(self.labels, self.probabilities, strict=True)},
        }  # fmt: skip
        if self.truncated:
            out["truncated"] = list(self.truncated)
        return out

    def summary(self) -> str:
        """One line: the top labels with their probabilities (and what was truncated)."""
        if not len(self.indices):
            return "no labels"
        text = ", ".join(f"{n} {s:.1%}" for n, s in zip(self.names, self.scores, strict=True))
        if self.truncated:
            n = len(self.truncated)
            first = self.truncated[0] if len(self.truncated[0]) <= 40 else self.truncated[0][:39] + "…"
            text += f" (truncated to the text context: {n} prompt{'s' if n > 1 else ''}, e.g. {first!r})"
        return text

    def draw(self, image: np.ndarray, k: int = 3) -> np.ndarray:
        """The top ``k`` labels with their probabilities, stacked in the top-left corner."""
        im, pen, _ = canvas(image)
        size = text_size(image.shape)
        y = 0.0
        for s, n in list(zip(self.scores, self.names, strict=True))[:k]:
            y += size * 1.4
            label(pen, (2.0, y), f"{n} {s:.1%}", (40, 40, 40), size)
        return np.asarray(im)
