"""Embeddings: L2-normalised vectors of images or texts (CLIP's towers, any encoder)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class Embeddings:
    """(N, D) float32 vectors, each row of unit length, and where each came from."""

    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    kind: Literal["image", "text"] = "image"
    sources: tuple[str, ...] = ()
    """(N,) file or frame names for images, the texts themselves for text."""
    truncated: tuple[bool, ...] = ()
    """(N,) for text: cut to the model's context length."""

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @classmethod
    def stack(cls, parts: Sequence[Embeddings]) -> Embeddings:
        """One Embeddings of every row of ``parts`` (all of one kind), in order."""
        if not parts:
            return cls()
        kinds = {p.kind for p in parts}
        if len(kinds) > 1:
            raise ValueError(f"cannot stack {sorted(kinds)} embeddings together")
        vectors = np.concatenate([np.asarray(p.vectors, np.float32) for p in parts])
        truncated = tuple(t for p in parts for t in (p.truncated or (False,) * len(p)))
        return cls(vectors=vectors, kind=parts[0].kind, sources=tuple(s for p in parts for s in p.sources),
                   truncated=truncated if any(truncated) else ())  # fmt: skip

    def with_sources(self, sources: Sequence[str]) -> Embeddings:
        return Embeddings(vectors=self.vectors, kind=self.kind, sources=tuple(sources), truncated=self.truncated)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "count": len(self),
            "dim": int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0,
            "items": [{"source": s, "embedding": [round(float(v), 7) for v in row]}
                      for s, row in zip(self.sources, self.vectors, strict=True)],
        }  # fmt: skip
        if any(self.truncated):
            out["truncated"] = [s for s, t in zip(self.sources, self.truncated, strict=True) if t]
        return out

    def summary(self) -> str:
        n = len(self)
        dim = int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0
        text = f"{n} {self.kind} embedding{'s' if n != 1 else ''} of dimension {dim} (L2-normalised)"
        cut = int(sum(self.truncated))
        return text + (f"; {cut} text{'s' if cut > 1 else ''} truncated to the context length" if cut else "")

    def save(self, path: str | Path) -> Path:
        """The (N, D) vectors as ``.npy`` (``np.load`` reads them back)."""
        path = Path(path)
        np.save(path, np.asarray(self.vectors, np.float32), allow_pickle=False)
        return path

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Embeddings have nothing to draw: an unchanged copy."""
        return np.array(image, copy=True)
