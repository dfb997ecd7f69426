"""CLIP's result types (zero-shot classification, embeddings), how to draw them, and how two
pipelines' results agree (ncnn vs PyTorch, int8 vs fp32).

Frozen dataclasses in the detector's style (``to_dict`` is what ``--json`` prints, ``summary``
the human line, ``draw`` an annotated copy of the image); they move to ``zoo/results/`` when the
core has shared result types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class ZeroShot:
    """Zero-shot classification of one image over a label set, best first.

    The Classification shape (``indices``, ``scores``, ``names``: top-k, best first) plus the full
    distribution over every label in the order given (``probabilities``), so agreement and JSON
    can use either.
    """

    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """(k,) int64 label indices, highest probability first."""
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """(k,) probabilities of those labels."""
    names: tuple[str, ...] = ()
    """(k,) the labels themselves."""
    labels: tuple[str, ...] = ()
    """Every label, in the order given."""
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """(len(labels),) softmax over all labels, in label order (sums to 1)."""
    template: str = "{}"
    truncated: tuple[str, ...] = ()
    """Prompts that did not fit the text context and were cut (the CLI says 'truncated')."""
    source: str = ""
    """Where the image came from (file name), for one line per file."""

    @property
    def top1(self) -> int:
        return int(self.indices[0]) if len(self.indices) else -1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "template": self.template,
            "top": [{"label": n, "index": int(i), "probability": round(float(s), 6)}
                    for i, s, n in zip(self.indices, self.scores, self.names, strict=True)],
            "probabilities": {label: round(float(p), 6) for label, p in zip(self.labels, self.probabilities,
                                                                            strict=True)},
        }
        if self.source:
            out["source"] = self.source
        if self.truncated:
            out["truncated"] = list(self.truncated)
        return out

    def summary(self) -> str:
        if not len(self.indices):
            return "no labels"
        head = f"{self.source}: " if self.source else ""
        text = head + ", ".join(f"{n} {s:.1%}" for n, s in zip(self.names, self.scores, strict=True))
        if self.truncated:
            text += f" (truncated: {len(self.truncated)} prompt{'s' if len(self.truncated) > 1 else ''} "
            text += "longer than the text context)"
        return text

    def draw(self, image: np.ndarray) -> np.ndarray:
        return draw(image, self)


def zero_shot_result(probabilities: np.ndarray, labels: Sequence[str], top_k: int = 5, template: str = "{}",
                     truncated: Sequence[str] = (), source: str = "") -> ZeroShot:
    """Build a :class:`ZeroShot` from one image's probabilities over ``labels``."""
    probs = np.asarray(probabilities, np.float32).reshape(-1)
    if probs.shape[0] != len(labels):
        raise ValueError(f"{probs.shape[0]} probabilities for {len(labels)} labels")
    order = np.argsort(-probs, kind="stable")[: max(1, min(top_k, len(labels)))]
    return ZeroShot(indices=order.astype(np.int64), scores=probs[order], names=tuple(labels[i] for i in order),
                    labels=tuple(labels), probabilities=probs, template=template, truncated=tuple(truncated),
                    source=source)


@dataclass(frozen=True)
class Embeddings:
    """L2-normalised embeddings of images or texts from one tower."""

    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    """(N, D) float32, each row unit length."""
    kind: Literal["image", "text"] = "image"
    sources: tuple[str, ...] = ()
    """(N,) file names for images, the texts themselves for text."""
    truncated: tuple[bool, ...] = ()
    """(N,) for text: the text was cut to the context length."""

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "count": len(self), "dim": int(self.vectors.shape[1]),
                               "items": [{"source": s, "embedding": [round(float(v), 7) for v in row]}
                                         for s, row in zip(self.sources, self.vectors, strict=True)]}
        if any(self.truncated):
            out["truncated"] = [s for s, t in zip(self.sources, self.truncated, strict=True) if t]
        return out

    def summary(self) -> str:
        n, d = self.vectors.shape
        cut = int(sum(self.truncated))
        text = f"{n} {self.kind} embedding{'s' if n != 1 else ''} of dimension {d} (L2-normalised)"
        return text + (f"; {cut} text{'s' if cut > 1 else ''} truncated to the context length" if cut else "")

    def save(self, path: str) -> None:
        """``.npy`` of the (N, D) vectors, which ``np.load`` reads back."""
        np.save(path, self.vectors)

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Embeddings have nothing to draw: an unchanged copy."""
        return np.array(image, copy=True)


def draw(image: np.ndarray, result: ZeroShot, k: int = 3) -> np.ndarray:
    """The top ``k`` labels with their probabilities, top-left on a copy of ``image`` (RGB uint8)."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.fromarray(np.ascontiguousarray(image))
    pen = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=max(10, min(canvas.size) // 24))
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        font = ImageFont.load_default()
    y = 4
    for name, score in list(zip(result.names, result.scores, strict=True))[:k]:
        text = f"{name} {score:.1%}"
        left, top, right, bottom = pen.textbbox((6, y), text, font=font)
        pen.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill=(0, 0, 0))
        pen.text((6, y), text, fill=(255, 255, 255), font=font)
        y = int(bottom) + 6
    return np.asarray(canvas)


# ----------------------------------------------------------------------------- agreement


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows; 1.0 where both rows are zero, 0.0 where one is."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare embeddings of shapes {a.shape} and {b.shape}")
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    dot = (a * b).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    return np.where((na == 0) & (nb == 0), 1.0, np.where((na == 0) | (nb == 0), 0.0, cos))


def embeddings_agreement(reference: list[Embeddings], candidate: list[Embeddings]) -> dict[str, float]:
    """How closely a candidate tower reproduces a reference one, over all their vectors.

    min_cosine / mean_cosine of matching embeddings; max_abs_diff of the normalised vectors;
    centered_min_cosine: the same after subtracting the reference vectors' mean from both (what
    is left is what tells inputs apart: random-weight towers put most of every embedding in one
    shared direction, which makes plain cosines near 1 whatever the error; needs 2+ vectors);
    rank1_agreement: for every vector, is its nearest neighbour among the *other* reference
    vectors the same in both (a retrieval-level check; 1.0 with fewer than 3 vectors).
    """
    if not reference:
        return {}
    ref = np.concatenate([r.vectors for r in reference])
    cand = np.concatenate([c.vectors for c in candidate])
    cos = cosine_rows(ref, cand)
    out = {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
           "max_abs_diff": float(np.abs(ref - cand).max()) if ref.size else 0.0}
    if len(ref) >= 2:
        centre = ref.mean(0, keepdims=True)
        out["centered_min_cosine"] = float(cosine_rows(ref - centre, cand - centre).min())
    if len(ref) >= 3:
        sim_ref, sim_cand = ref @ ref.T, cand @ ref.T
        np.fill_diagonal(sim_ref, -np.inf)
        np.fill_diagonal(sim_cand, -np.inf)
        out["rank1_agreement"] = float((sim_ref.argmax(1) == sim_cand.argmax(1)).mean())
    else:
        out["rank1_agreement"] = 1.0
    return out


def zero_shot_agreement(reference: list[ZeroShot], candidate: list[ZeroShot]) -> dict[str, float]:
    """How closely candidate zero-shot results reproduce reference ones (same images, same labels).

    top1_agreement: share of images with the same best label; max_prob_diff: largest difference
    of any label's probability; mean_kl: mean KL(reference || candidate) in nats;
    min_top1_margin: the smallest gap between the reference's best and second-best probability.
    A top-1 disagreement is only news when that margin is larger than max_prob_diff (random
    weights give near-uniform probabilities, where any rounding swaps near-ties).
    """
    if not reference:
        return {}
    same = []
    diffs = []
    kls = []
    margins = []
    for ref, cand in zip(reference, candidate, strict=True):
        if ref.labels != cand.labels:
            raise ValueError("zero-shot results over different label sets cannot be compared")
        same.append(ref.top1 == cand.top1)
        p, q = ref.probabilities.astype(np.float64), cand.probabilities.astype(np.float64)
        top = np.sort(p)[::-1]
        margins.append(float(top[0] - top[1]) if len(top) > 1 else 1.0)
        diffs.append(float(np.abs(p - q).max()))
        kls.append(float(np.sum(p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(q, 1e-12))))))
    return {"top1_agreement": float(np.mean(same)), "max_prob_diff": max(diffs), "mean_kl": float(np.mean(kls)),
            "min_top1_margin": min(margins)}
