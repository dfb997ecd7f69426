"""Detector pre- and post-processing: pure functions, numpy in and out, no model needed."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from zoo.results import Detections
from zoo.specs import ModelSpec, PreSpec
from zoo_detector.decode import DECODERS
from zoo_detector.letterbox import Letterbox, letterbox_blob, letterbox_geometry, unletterbox_boxes
from zoo_detector.nms import nms

RUN_OPTIONS = ("conf", "iou", "max_det")


def network_size(image_hw: tuple[int, int], pre: PreSpec, rect: bool = False) -> tuple[int, int]:
    """The network input (height, width) for an image: the model's square ``pre.size``, or with
    ``rect`` the smallest multiple of ``pre.params['stride']`` that holds it at the same scale."""
    return letterbox_geometry(image_hw, _square(pre), _stride(pre, rect)).canvas


def _square(pre: PreSpec) -> tuple[int, int]:
    return int(pre.size[0]), int(pre.size[1])


def _stride(pre: PreSpec, rect: bool) -> int:
    return int(pre.params.get("stride", 32)) if rect else 0


def preprocess(image: np.ndarray, pre: PreSpec, rect: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """Letterbox (square, or the rectangle ``network_size`` gives), then channel order, scale,
    mean/std → float32 1×3×H×W."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}")
    x, geo = letterbox_blob(image, _square(pre), pre.pad_value, bgr=pre.channel_order == "BGR", scale=pre.scale,
                            mean=pre.mean, std=pre.std, stride=_stride(pre, rect))  # fmt: skip
    return x[None], {"letterbox": geo, "input_hw": geo.canvas}


@lru_cache(maxsize=4)
def labels(name: str | None) -> tuple[str, ...]:
    """Class names of a label set shipped in zoo_detector/data ('coco': 80, 'coco91': torchvision's)."""
    if name is None:
        return ()
    path = files("zoo_detector") / "data" / f"{name}_classes.txt"
    return tuple(path.read_text(encoding="utf-8").splitlines())


def threshold(name: str, spec: ModelSpec, options: Mapping[str, Any]) -> Any:
    """The user's option if given (not None), else the model's own default from spec.post.params."""
    value = options.get(name)
    return spec.post.params[name] if value is None else value


def output(outputs: Mapping[str, np.ndarray], spec: ModelSpec, index: int = 0) -> np.ndarray:
    """The spec's ``index``-th output without its batch axis (float32). Shapes follow the input
    (rectangular inference), so only the batch axis is dropped, never reshaped to the traced shape."""
    declared = spec.component.outputs
    name = declared[index].name if index < len(declared) else None
    if name is not None and name in outputs:
        array = outputs[name]
    elif index == 0 and len(outputs) == 1:
        array = next(iter(outputs.values()))
    else:
        raise ValueError(f"{spec.id}: no output {name or index!r} among {sorted(outputs)}; check the model's outputs")
    array = np.asarray(array, dtype=np.float32)
    rank = len(declared[index].shape) - 1 if name is not None else array.ndim - 1
    return array.reshape(array.shape[-rank:]) if array.ndim > rank else array


def _raw_head(outputs: Mapping[str, np.ndarray], spec: ModelSpec) -> np.ndarray:
    """The raw head as (channels, anchors)."""
    array = output(outputs, spec, 0)
    return array.reshape(array.shape[-2], array.shape[-1])


def postprocess(
    outputs: Mapping[str, np.ndarray], context: dict[str, Any], spec: ModelSpec, options: Mapping[str, Any]
) -> Detections:
    """Decode (spec.post.decoder) → class-aware NMS → boxes back into original-image pixels."""
    decoder = DECODERS.get(spec.post.decoder)
    if decoder is None:
        raise ValueError(f"{spec.id}: unknown detector decoder {spec.post.decoder!r}; known: {sorted(DECODERS)}")
    conf, iou, max_det = (threshold(k, spec, options) for k in RUN_OPTIONS)
    geo: Letterbox = context["letterbox"]
    cand = decoder(_raw_head(outputs, spec), context["input_hw"], spec.post.params, float(conf))
    top_k = options.get("top_k")
    kept = cand.take(nms(cand.boxes, cand.scores, float(iou), cand.classes, int(top_k or max_det)))
    names = labels(spec.post.labels)
    return Detections(
        boxes=unletterbox_boxes(kept.boxes, geo),
        scores=kept.scores,
        class_ids=kept.classes,
        names=tuple(names[c] if c < len(names) else str(c) for c in kept.classes),
        image_shape=geo.orig_shape,
    )
