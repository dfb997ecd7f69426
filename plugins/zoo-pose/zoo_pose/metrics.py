"""How closely two sets of poses agree: OKS, matching, and COCO keypoint AP against a reference.

OKS (object keypoint similarity) is COCO's: for each labelled keypoint
exp(−d² / (2 · area · (2σ)²)), averaged over the labelled keypoints, with COCO's sigmas. The AP
is faster-coco-eval's (``iouType="keypoints"``), never computed here.

Used for parity and fidelity (ncnn vs PyTorch, int8 vs fp32): the reference pipeline's poses
play the ground truth, every keypoint of a reference person counts as labelled, and a person's
area is COCO's fallback for a box without a mask, 0.53 × box width × box height.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo_pose.keypoints import COCO_SIGMAS
from zoo_pose.result import Poses

AREA_FROM_BOX = 0.53
"""COCOeval's area for a keypoint annotation without one: 0.53 × box area (``use_area=False``)."""


def box_areas(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return AREA_FROM_BOX * np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def oks(gt_keypoints: np.ndarray, dt_keypoints: np.ndarray, gt_areas: np.ndarray,
        gt_visible: np.ndarray | None = None, gt_boxes: np.ndarray | None = None,
        sigmas: Sequence[float] = COCO_SIGMAS) -> np.ndarray:
    """OKS of every ground-truth person (N) with every detected one (M): (N, M), as COCOeval.computeOks.

    gt_keypoints (N, K, 2), dt_keypoints (M, K, 2), gt_areas (N,); gt_visible (N, K) bool, all
    True when None. A ground-truth person with no labelled keypoint is scored COCO's way, by the
    distance of each detected keypoint outside its box doubled about the centre (needs gt_boxes,
    xyxy).
    """
    g = np.asarray(gt_keypoints, np.float64)
    d = np.asarray(dt_keypoints, np.float64)
    n, m = len(g), len(d)
    if not n or not m:
        return np.zeros((n, m))
    var = (2 * np.asarray(sigmas, np.float64)) ** 2  # K
    vis = np.ones(g.shape[:2], bool) if gt_visible is None else np.asarray(gt_visible, bool)
    area = np.asarray(gt_areas, np.float64).reshape(n, 1, 1) + np.spacing(1)
    dx = d[None, :, :, 0] - g[:, None, :, 0]  # N, M, K
    dy = d[None, :, :, 1] - g[:, None, :, 1]
    unlabelled: np.ndarray = np.asarray(~vis.any(1), dtype=bool)
    if unlabelled.any():
        if gt_boxes is None:
            raise ValueError("OKS of a person with no labelled keypoint needs its box (gt_boxes)")
        b = np.asarray(gt_boxes, np.float64).reshape(n, 4)[unlabelled]
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        lo_x, hi_x = (b[:, 0] - w)[:, None, None], (b[:, 0] + 2 * w)[:, None, None]
        lo_y, hi_y = (b[:, 1] - h)[:, None, None], (b[:, 1] + 2 * h)[:, None, None]
        xd, yd = d[None, :, :, 0], d[None, :, :, 1]
        dx[unlabelled] = np.maximum(0, lo_x - xd) + np.maximum(0, xd - hi_x)
        dy[unlabelled] = np.maximum(0, lo_y - yd) + np.maximum(0, yd - hi_y)
    e = (dx**2 + dy**2) / var / area / 2
    counted = np.asarray(unlabelled[:, None] | vis)[:, None, :]  # N, 1, K
    return (np.exp(-e) * counted).sum(-1) / counted.sum(-1)


def match(similarity: np.ndarray, threshold: float = 0.0) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, most similar pair first (COCOeval's own matching is greedy);
    pairs at or below ``threshold`` are left unmatched. Ties break by index, the same everywhere."""
    s = np.asarray(similarity, np.float64)
    if not s.size:
        return []
    order = np.argsort(-s, axis=None, kind="stable")
    rows, cols = np.unravel_index(order, s.shape)
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if s[r, c] <= threshold:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


def agreement(reference: list[Poses], candidate: list[Poses], oks_threshold: float = 0.5) -> dict[str, float]:
    """How well candidate poses reproduce reference ones (ncnn vs PyTorch, int8 vs fp32).

    reference_people: how many reference people there were (0 makes the rest vacuous);
    mean_oks: OKS of each reference person with its matched candidate (0 when unmatched), averaged;
    person_match: fraction of reference people matched at OKS ≥ 0.5 (extra candidates lower
    person_match_reverse); max_keypoint_error_px / mean_keypoint_error_px: keypoint distances in
    the matches; max_score_diff: largest keypoint score difference in the matches;
    keypoint_ap_vs_reference: COCO keypoint AP of the candidate poses scored against the reference
    poses as ground truth (left out when faster-coco-eval is not installed or no reference people
    exist) — the int8 card's "OKS AP of int8 keypoints against fp32 keypoints".
    """
    if not reference:
        return {}
    total = total_rev = matched = 0
    oks_sum = 0.0
    errors: list[np.ndarray] = []
    score_diff = 0.0
    for ref, cand in zip(reference, candidate, strict=True):
        total += len(ref)
        total_rev += len(cand)
        if not len(ref) or not len(cand):
            continue
        sim = oks(ref.keypoints, cand.keypoints, box_areas(ref.boxes))
        for r, c in match(sim):
            oks_sum += sim[r, c]
            if sim[r, c] >= oks_threshold:
                matched += 1
            errors.append(np.linalg.norm(ref.keypoints[r].astype(np.float64) - cand.keypoints[c], axis=-1))
            score_diff = max(score_diff, float(np.abs(ref.keypoint_scores[r] - cand.keypoint_scores[c]).max()))
    err = np.concatenate(errors) if errors else np.zeros(0)
    out = {
        "reference_people": float(total),
        "mean_oks": float(oks_sum / total) if total else float(total_rev == 0),
        "person_match": matched / total if total else float(total_rev == 0),
        "person_match_reverse": matched / total_rev if total_rev else float(total == 0),
        "max_keypoint_error_px": float(err.max()) if err.size else 0.0,
        "mean_keypoint_error_px": float(err.mean()) if err.size else 0.0,
        "max_score_diff": score_diff,
    }
    if total:
        with contextlib.suppress(ImportError):  # faster-coco-eval is the eval extra
            out["keypoint_ap_vs_reference"] = keypoint_ap_vs_reference(reference, candidate)
    return out


def reference_ground_truth(reference: list[Poses]) -> dict[str, Any]:
    """A COCO person-keypoints ground truth made of reference poses (every keypoint labelled)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, ref in enumerate(reference):
        h, w = ref.image_shape
        images.append({"id": i + 1, "width": int(w) or 1, "height": int(h) or 1, "file_name": f"{i + 1}.jpg"})
        areas = box_areas(ref.boxes)
        for box, kps, area in zip(ref.boxes, ref.keypoints, areas, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            flat = np.concatenate([kps.astype(np.float64), np.full((len(kps), 1), 2.0)], 1).reshape(-1)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1,
                                "bbox": [x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)], "area": float(area),
                                "iscrowd": 0, "keypoints": flat.tolist(), "num_keypoints": len(kps)})
    names = list(reference[0].keypoint_names) if reference else []
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": names,
                            "skeleton": [[a + 1, b + 1] for a, b in (reference[0].skeleton if reference else ())]}]}


def poses_to_coco(image_id: int, poses: Poses, category_id: int = 1, rescore: bool = True) -> list[dict[str, Any]]:
    """COCO keypoint results ({image_id, category_id, keypoints [x, y, s]×K, score}) for one image.

    ``rescore``: the person score is mmpose's box score × mean confident keypoint score; otherwise
    the box score.
    """
    scores = poses.person_scores() if rescore else np.asarray(poses.box_scores, np.float64)
    out = []
    for kps, ks, score in zip(poses.keypoints, poses.keypoint_scores, scores, strict=True):
        flat = np.concatenate([kps.astype(np.float64), ks.astype(np.float64)[:, None]], 1).reshape(-1)
        out.append({"image_id": int(image_id), "category_id": int(category_id),
                    "keypoints": [round(float(v), 3) for v in flat], "score": float(score)})
    return out


KEYPOINT_STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "AP_medium", "AP_large",
                                        "AR", "AR50", "AR75", "AR_medium", "AR_large")
"""The ten numbers of COCOeval.summarize() for keypoints, in its order."""


def keypoint_scores(ground_truth: dict[str, Any], results: Sequence[dict[str, Any]],
                    image_ids: Sequence[int] | None = None,
                    sigmas: Sequence[float] = COCO_SIGMAS) -> dict[str, float]:
    """COCO keypoint AP/AR of ``results`` against ``ground_truth`` through faster-coco-eval.

    Raises ImportError when faster-coco-eval is not installed. No results score 0.
    """
    import contextlib
    import io

    from faster_coco_eval import COCO, COCOeval_faster

    gt_dict = {k: [dict(x) for x in v] if isinstance(v, list) else v for k, v in ground_truth.items()}
    ids = sorted({int(i) for i in image_ids}) if image_ids is not None else sorted(im["id"] for im in gt_dict["images"])
    keep = set(ids)
    dets = [dict(r, keypoints=list(r["keypoints"])) for r in results if r["image_id"] in keep]
    if not dets:
        return dict.fromkeys(KEYPOINT_STAT_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_dict)
        dt = gt.loadRes(dets)
        ev = COCOeval_faster(gt, dt, iouType="keypoints", kpt_oks_sigmas=list(sigmas))
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: max(float(v), 0.0) for name, v in zip(KEYPOINT_STAT_NAMES, list(ev.stats)[:10], strict=True)}


def keypoint_ap_vs_reference(reference: list[Poses], candidate: list[Poses]) -> float:
    """COCO keypoint AP@[.5:.95] of the candidate poses, the reference poses taken as ground truth."""
    gt = reference_ground_truth(reference)
    results = [r for i, cand in enumerate(candidate) for r in poses_to_coco(i + 1, cand, rescore=False)]
    return keypoint_scores(gt, results)["AP"]
