"""Small numeric helpers shared by parity, int8 and ARM checks (one definition each)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays, flattened, in float64.

    Zero vectors: two of them are identical (1.0); one against a non-zero vector shares no
    direction with it (0.0)."""
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = float(np.linalg.norm(a64)), float(np.linalg.norm(b64))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(a64 @ b64 / (na * nb))


def flatten(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Every array raveled and concatenated, float64."""
    return np.concatenate([np.asarray(o, np.float64).reshape(-1) for o in arrays]) if arrays else np.zeros(0)
