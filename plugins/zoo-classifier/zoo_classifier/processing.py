"""Classifier pre- and post-processing: pure functions, numpy in and out, no model needed."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from zoo.results import Classification
from zoo.specs import ModelSpec, PreSpec


def resize_shorter(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the shorter side is ``size``, bilinear with antialiasing (torchvision's PIL path)."""
    from PIL import Image

    h, w = image.shape[:2]
    if h <= w:
        new_h, new_w = size, max(1, int(size * w / h))
    else:
        new_h, new_w = max(1, int(size * h / w)), size
    if (new_h, new_w) == (h, w):
        return image
    return np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))


def center_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop the centre (h, w); pads with zeros first if the image is smaller."""
    th, tw = size
    h, w = image.shape[:2]
    if h < th or w < tw:
        pad_h, pad_w = max(0, th - h), max(0, tw - w)
        image = np.pad(image, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
        h, w = image.shape[:2]
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    return image[top : top + th, left : left + tw]


def normalize_to_nchw(image: np.ndarray, pre: PreSpec) -> np.ndarray:
    """uint8 HWC → float32 1×C×H×W: scale, subtract mean, divide std, in the spec's channel order."""
    if pre.channel_order == "BGR":
        image = image[..., ::-1]
    x = image.astype(np.float32) * np.float32(pre.scale)
    x = (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def preprocess(image: np.ndarray, pre: PreSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """ImageNet-style: resize shorter side to ``pre.resize``, centre crop ``pre.size``, normalise."""
    if pre.kind == "resize_crop":
        resized = resize_shorter(image, pre.resize or min(pre.size))
        cropped = center_crop(resized, pre.size)
    elif pre.kind == "resize":
        from PIL import Image

        cropped = np.asarray(Image.fromarray(image).resize(pre.size[::-1], Image.BILINEAR))
    else:  # the task's pre_kinds refuse such a spec at registration
        raise ValueError(f"classifier preprocessing does not do {pre.kind!r}")
    return normalize_to_nchw(cropped, pre), {"orig_shape": image.shape[:2]}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def topk(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries of a 1-D array, largest first."""
    k = min(k, probs.shape[-1])
    idx = np.argpartition(-probs, k - 1)[:k]
    idx = idx[np.argsort(-probs[idx], kind="stable")]
    return idx, probs[idx]


@lru_cache(maxsize=4)
def labels(name: str | None) -> tuple[str, ...]:
    if name is None:
        return ()
    path = files("zoo_classifier") / "data" / f"{name}_classes.txt"
    return tuple(path.read_text(encoding="utf-8").splitlines())


def postprocess(
    outputs: Mapping[str, np.ndarray], context: dict[str, Any], spec: ModelSpec, options: Mapping[str, Any]
) -> Classification:
    logits = next(iter(outputs.values())).reshape(-1).astype(np.float64)
    post = spec.post.params if spec.post else {}
    k = int(options.get("top_k") or post.get("top_k", 5))
    idx, vals = topk(softmax(logits), k)
    names = labels(spec.post.labels)
    return Classification(
        indices=[int(i) for i in idx],
        scores=[float(v) for v in vals],
        names=[names[i] if i < len(names) else str(i) for i in idx],
    )


def agreement(reference: list[Classification], candidate: list[Classification]) -> dict[str, float]:
    """Top-1 agreement, and top-5 containment of the reference's top-1."""
    if not reference:
        return {}
    n = len(reference)
    top1 = sum(r.top1 == c.top1 for r, c in zip(reference, candidate, strict=True)) / n
    in_top5 = sum(r.top1 in c.indices[:5] for r, c in zip(reference, candidate, strict=True)) / n
    return {"top1_agreement": top1, "top1_in_top5": in_top5}
