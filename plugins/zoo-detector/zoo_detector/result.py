"""How two sets of detector results agree (the task's parity and int8 fidelity measure)."""

from __future__ import annotations

import numpy as np

from zoo.results import Detections
from zoo_detector.nms import box_iou


def agreement(reference: list[Detections], candidate: list[Detections], iou_threshold: float = 0.5) -> dict[str, float]:
    """How well candidate detections reproduce reference ones (e.g. ncnn vs PyTorch).

    box_match: fraction of reference boxes with a same-class candidate box at IoU ≥ 0.5;
    box_match_reverse: the same from the candidate side (extra boxes lower it);
    mean_iou: mean IoU of those best matches; max_score_diff: largest score difference in a match;
    reference_boxes: how many reference boxes there were (0 makes the rest vacuous; zero-area
    boxes, which match nothing, not counted anywhere);
    map_vs_reference: COCO mAP@[.5:.95] of the candidate's boxes scored against the reference's
    ``MAP_GT_TOP`` best per image as ground truth, per image then averaged (``zoo.eval``; left out
    when no COCO scorer is installed or no reference boxes exist): the int8 card's "mAP of int8
    detections against fp32 detections".
    With no reference boxes at all, box_match is 1.0 (nothing to miss).
    """
    if not reference:
        return {}
    matched = total = matched_rev = total_rev = 0
    ious: list[np.ndarray] = []
    score_diff = 0.0
    for ref, cand in zip(reference, candidate, strict=True):
        ref, cand = _drop_flat(ref), _drop_flat(cand)
        total += len(ref)
        total_rev += len(cand)
        if not len(ref) or not len(cand):
            continue
        iou = box_iou(ref.boxes, cand.boxes)
        iou[ref.class_ids[:, None] != cand.class_ids[None, :]] = 0.0
        best = iou.argmax(1)
        best_iou = iou[np.arange(len(ref)), best]
        hit = best_iou >= iou_threshold
        matched += int(hit.sum())
        matched_rev += int((iou.max(0) >= iou_threshold).sum())
        ious.append(best_iou[hit])
        if hit.any():
            score_diff = max(score_diff, float(np.abs(ref.scores[hit] - cand.scores[best[hit]]).max()))
    all_ious = np.concatenate(ious) if ious else np.zeros(0)
    return {
        "box_match": matched / total if total else float(total_rev == 0),
        "box_match_reverse": matched_rev / total_rev if total_rev else float(total == 0),
        "mean_iou": float(all_ious.mean()) if all_ious.size else float(total == 0 and total_rev == 0),
        "max_score_diff": score_diff,
        "reference_boxes": float(total),
    } | _map_vs_reference(reference, candidate)


MAP_GT_TOP = 20
"""Reference boxes per image taken as ground truth for ``map_vs_reference``: the confident ones a
user sees, not the long tail a low parity threshold lets through (that tail reorders under any
perturbation and would only add noise)."""


def _map_vs_reference(reference: list[Detections], candidate: list[Detections]) -> dict[str, float]:
    from zoo.errors import MissingDependencyError

    try:
        from zoo.eval.coco import detections_agreement_map

        # image by image, then the mean: pooling images would rank one image's long tail against
        # another's confident boxes, and scores are only comparable within an image
        per_image = [
            detections_agreement_map([_top(r, MAP_GT_TOP)], [c])
            for r, c in zip(reference, candidate, strict=True)
            if len(r)
        ]
        return {"map_vs_reference": float(np.mean(per_image))} if per_image else {}
    except (ImportError, MissingDependencyError):
        return {}


def _drop_flat(d: Detections) -> Detections:
    """Without zero-area boxes (clipped flat at the image edge): IoU with them is 0 even against
    an identical box, so they would count as unmatched in any comparison."""
    flat = ((d.boxes[:, 2] - d.boxes[:, 0]) <= 0) | ((d.boxes[:, 3] - d.boxes[:, 1]) <= 0)
    if not flat.any():
        return d
    return d.take(np.flatnonzero(~flat))


def _top(d: Detections, k: int) -> Detections:
    return d.take(np.argsort(-d.scores, kind="stable")[:k])
