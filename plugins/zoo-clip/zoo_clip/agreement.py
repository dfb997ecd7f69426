"""How two CLIP pipelines' results agree (ncnn vs PyTorch, int8 vs fp32, ARM vs x86): for
zero-shot results and for embeddings. Pure numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.results import Embeddings, ZeroShot


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
    With the image embeddings kept in the results: image_min_cosine and
    image_centered_min_cosine (see ``embeddings_agreement``).
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
        kl = float(np.sum(p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(q, 1e-12)))))
        kls.append(max(kl, 0.0))  # >= 0; float32 probabilities that sum to 1 ± 1e-7 can give -1e-9
    out = {"top1_agreement": float(np.mean(same)), "max_prob_diff": max(diffs), "mean_kl": float(np.mean(kls)),
           "min_top1_margin": min(margins)}
    if all(r.embedding is not None for r in reference) and all(c.embedding is not None for c in candidate):
        ref = Embeddings(vectors=np.stack([np.asarray(r.embedding) for r in reference]))
        cand = Embeddings(vectors=np.stack([np.asarray(c.embedding) for c in candidate]))
        figures = embeddings_agreement([ref], [cand])
        out["image_min_cosine"] = figures["min_cosine"]
        if "centered_min_cosine" in figures:
            out["image_centered_min_cosine"] = figures["centered_min_cosine"]
    return out


def agreement(reference: list[Any], candidate: list[Any]) -> dict[str, float]:
    """The zero-shot task's agreement: zero-shot figures for ZeroShot results, embedding figures
    for Embeddings (what ``embed`` returns)."""
    if reference and isinstance(reference[0], Embeddings):
        return embeddings_agreement(reference, candidate)
    return zero_shot_agreement(reference, candidate)
