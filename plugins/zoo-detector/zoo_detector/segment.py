"""Instance segmentation (the segmenter task): post-processing and agreement, pure numpy.

A YOLOv8-seg network returns two outputs: the raw head (1, 4·reg_max + nc + nm, anchors) — the
detector's DFL and class logits with ``nm`` mask coefficients appended — and the prototypes
(1, nm, H/4, W/4). Post-processing is Ultralytics' (8.4) ``SegmentationPredictor`` with
``retina_masks``: decode, class-aware NMS on the boxes, boxes back to the original image, masks from
coefficients · prototypes resampled to the original image (``zoo_detector.masks``), thresholded at
0.5 after the sigmoid, cropped to the box; instances whose mask comes out empty are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.results import Detections, InstanceMasks
from zoo.specs import ModelSpec
from zoo_detector.decode import decode_yolov8
from zoo_detector.letterbox import Letterbox, unletterbox_boxes
from zoo_detector.masks import instance_masks
from zoo_detector.nms import box_iou, nms
from zoo_detector.processing import RUN_OPTIONS, labels, output, threshold
from zoo_detector.result import agreement as box_agreement


def check_spec(spec: ModelSpec) -> str | None:
    """What a segmenter spec must declare (refused at registration otherwise)."""
    if spec.post is None or spec.post.decoder != "yolov8":
        return "the segmenter decodes YOLOv8-seg heads: post.decoder must be 'yolov8'"
    if not {"nc", "nm"} <= set(spec.post.params):
        return "post.params needs 'nc' (classes) and 'nm' (mask coefficients) to split the head"
    if len(spec.component.outputs) != 2:
        return "a segmenter has two outputs: the raw head (with mask coefficients) and the prototypes"
    return None


def postprocess(
    outputs: Mapping[str, np.ndarray], context: dict[str, Any], spec: ModelSpec, options: Mapping[str, Any]
) -> InstanceMasks:
    params = spec.post.params if spec.post else {}
    nc, nm, reg_max = int(params["nc"]), int(params["nm"]), int(params.get("reg_max", 16))
    conf, iou, max_det = (threshold(k, spec, options) for k in RUN_OPTIONS)
    geo: Letterbox = context["letterbox"]
    head = output(outputs, spec, 0)
    head = head.reshape(head.shape[-2], head.shape[-1])
    protos = output(outputs, spec, 1)
    if head.shape[0] != 4 * reg_max + nc + nm or protos.shape[0] != nm:
        raise ValueError(
            f"{spec.id}: expected a head of {4 * reg_max + nc + nm} channels and {nm} prototypes, "
            f"got {head.shape} and {protos.shape}; check the model's outputs against its spec"
        )
    cand = decode_yolov8(head, context["input_hw"], params, float(conf))
    top_k = options.get("top_k")
    kept = cand.take(nms(cand.boxes, cand.scores, float(iou), cand.classes, int(top_k or max_det)))
    boxes = unletterbox_boxes(kept.boxes, geo)
    anchors = kept.anchors if kept.anchors is not None else np.zeros(0, np.intp)
    coefficients = head[4 * reg_max + nc :, anchors].T
    crops, origins = instance_masks(coefficients, protos, boxes, geo.orig_shape)
    names = labels(spec.post.labels if spec.post else None)
    result = InstanceMasks(
        boxes=boxes,
        scores=kept.scores,
        class_ids=kept.classes,
        names=tuple(names[c] if c < len(names) else str(c) for c in kept.classes),
        image_shape=geo.orig_shape,
        mask_crops=crops,
        mask_origins=origins,
    )
    # as Ultralytics: only instances with a mask
    return result.take(np.flatnonzero([c.any() for c in crops])) if len(crops) else result


# -- agreement -------------------------------------------------------------------------------------
def mask_iou(a: InstanceMasks, i: int, b: InstanceMasks, j: int) -> float:
    """IoU of instance i of ``a`` and instance j of ``b`` (same image), from their crops."""
    (ta, la), ca = a.mask_origins[i], a.mask_crops[i]
    (tb, lb), cb = b.mask_origins[j], b.mask_crops[j]
    top, left = max(ta, tb), max(la, lb)
    bottom, right = min(ta + ca.shape[0], tb + cb.shape[0]), min(la + ca.shape[1], lb + cb.shape[1])
    inter = 0
    if bottom > top and right > left:
        inter = int(np.count_nonzero(ca[top - ta : bottom - ta, left - la : right - la]
                                     & cb[top - tb : bottom - tb, left - lb : right - lb]))  # fmt: skip
    union = int(np.count_nonzero(ca)) + int(np.count_nonzero(cb)) - inter
    return inter / union if union else 0.0


def mask_iou_matrix(a: InstanceMasks, b: InstanceMasks) -> np.ndarray:
    """(len(a), len(b)) mask IoUs; pairs whose boxes do not overlap are 0 without a look."""
    out = np.zeros((len(a), len(b)), dtype=np.float32)
    if not len(a) or not len(b):
        return out
    overlap = box_iou(a.boxes, b.boxes) > 0
    for i, j in zip(*np.nonzero(overlap), strict=True):
        out[i, j] = mask_iou(a, int(i), b, int(j))
    return out


def agreement(reference: list[Any], candidate: list[Any], iou_threshold: float = 0.5) -> dict[str, float]:
    """How well candidate instances reproduce reference ones (ncnn vs PyTorch, int8 vs fp32).

    The detector's box figures (box_match, mean_iou, max_score_diff, map_vs_reference...), plus:
    mask_match: fraction of reference instances with a same-class candidate whose mask IoU is
    ≥ 0.5; mean_mask_iou: mean mask IoU of those matches; mask_map_vs_reference: COCO mask mAP
    @[.5:.95] of the candidate's instances scored against the reference's ``MAP_GT_TOP`` best as
    ground truth, per image then averaged (left out without a COCO scorer or reference masks).
    """
    if not reference:
        return {}
    out = box_agreement([_as_detections(r) for r in reference], [_as_detections(c) for c in candidate])
    matched = total = 0
    ious: list[float] = []
    for ref, cand in zip(reference, candidate, strict=True):
        ref, cand = _with_masks(ref), _with_masks(cand)
        total += len(ref)
        if not len(ref) or not len(cand):
            continue
        iou = mask_iou_matrix(ref, cand)
        iou[ref.class_ids[:, None] != cand.class_ids[None, :]] = 0.0
        best = iou.max(1)
        hit = best >= iou_threshold
        matched += int(hit.sum())
        ious += best[hit].tolist()
    out["mask_match"] = matched / total if total else 1.0
    out["mean_mask_iou"] = float(np.mean(ious)) if ious else float(total == 0)
    return out | _mask_map_vs_reference(reference, candidate)


def _as_detections(result: Any) -> Detections:
    return result.detections if isinstance(result, InstanceMasks) else result


def _with_masks(result: InstanceMasks) -> InstanceMasks:
    """Without instances whose mask is empty (they match nothing, even themselves)."""
    empty = [i for i, c in enumerate(result.mask_crops) if not c.any()]
    return result if not empty else result.take(np.setdiff1d(np.arange(len(result)), empty))


def _mask_map_vs_reference(reference: list[Any], candidate: list[Any]) -> dict[str, float]:
    from zoo.errors import MissingDependencyError
    from zoo_detector.result import MAP_GT_TOP

    try:
        from zoo.eval.coco import masks_agreement_map

        per_image = [
            masks_agreement_map([_top(_with_masks(r), MAP_GT_TOP)], [_with_masks(c)])
            for r, c in zip(reference, candidate, strict=True)
            if len(_with_masks(r))
        ]
        return {"mask_map_vs_reference": float(np.mean(per_image))} if per_image else {}
    except (ImportError, MissingDependencyError):
        return {}


def _top(result: InstanceMasks, k: int) -> InstanceMasks:
    return result.take(np.argsort(-result.scores, kind="stable")[:k])
