"""How two tracking runs over the same frames agree (the tracker tasks' ``agreement``). The result
type itself, ``Tracks``, lives in the core (``zoo.results``): detectors, trackers and whatever
composes them share it."""

from __future__ import annotations

import numpy as np

from zoo.results import Tracks
from zoo_tracker.assignment import box_iou


def agreement(reference: list[Tracks], candidate: list[Tracks], iou_threshold: float = 0.5) -> dict[str, float]:
    """How closely a candidate run reproduces a reference run over the same frames (e.g. the
    tracker fed by an int8 detector against the fp32 one).

    box_match: fraction of reference track boxes with a candidate box at IoU >= 0.5 (greedy by
    IoU, one to one, per frame); box_match_reverse: the same from the candidate side;
    id_consistency: fraction of those matched boxes whose candidate id is the one the reference id
    is most often matched to (1.0 when ids map one to one for the whole run; an id switch lowers it);
    mean_iou: mean IoU of the matched boxes; reference_boxes: how many reference boxes there were.
    """
    if not reference:
        return {}
    pairs: list[tuple[int, int]] = []
    ious: list[float] = []
    total = total_rev = 0
    for ref, cand in zip(reference, candidate, strict=True):
        total += len(ref)
        total_rev += len(cand)
        if not len(ref) or not len(cand):
            continue
        iou = box_iou(ref.boxes, cand.boxes)
        for r, c in _greedy(iou, iou_threshold):
            pairs.append((int(ref.ids[r]), int(cand.ids[c])))
            ious.append(float(iou[r, c]))
    matched = len(pairs)
    consistent = 0
    if pairs:
        p = np.asarray(pairs)
        keys, counts = np.unique(p, axis=0, return_counts=True)
        # for each reference id, the count of its most frequent candidate id
        best: dict[int, int] = {}
        for (rid, _cid), n in zip(keys.tolist(), counts.tolist(), strict=True):
            best[rid] = max(best.get(rid, 0), n)
        consistent = sum(best.values())
    return {
        "box_match": matched / total if total else float(total_rev == 0),
        "box_match_reverse": matched / total_rev if total_rev else float(total == 0),
        "id_consistency": consistent / matched if matched else float(total == 0),
        "mean_iou": float(np.mean(ious)) if ious else float(total == 0 and total_rev == 0),
        "reference_boxes": float(total),
    }


def _greedy(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs by descending IoU, down to ``threshold``."""
    order = np.argsort(-iou, axis=None, kind="stable")
    rows, cols = np.unravel_index(order, iou.shape)
    used_r: set[int] = set()
    used_c: set[int] = set()
    out = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if iou[r, c] < threshold:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        out.append((r, c))
    return out
