"""OKS, agreement and COCO keypoint AP; the result type."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zoo_pose import metrics
from zoo_pose.keypoints import COCO_KEYPOINTS, COCO_SKELETON, limb_side
from zoo_pose.result import Poses


def _people(rng: np.random.Generator, n: int, shape: tuple[int, int] = (480, 640)) -> Poses:
    h, w = shape
    x1 = rng.uniform(0, w - 150, n)
    y1 = rng.uniform(0, h - 250, n)
    boxes = np.stack([x1, y1, x1 + rng.uniform(60, 150, n), y1 + rng.uniform(120, 250, n)], 1).astype(np.float32)
    kps = boxes[:, None, :2] + rng.uniform(0, 1, (n, 17, 2)) * (boxes[:, None, 2:] - boxes[:, None, :2])
    return Poses(boxes, rng.uniform(0.5, 1, n).astype(np.float32), kps.astype(np.float32),
                 rng.uniform(0.3, 1, (n, 17)).astype(np.float32), image_shape=shape)


def _moved(p: Poses, rng: np.random.Generator, sigma: float) -> Poses:
    kps = p.keypoints + rng.normal(0, sigma, p.keypoints.shape).astype(np.float32)
    return Poses(p.boxes, p.box_scores, kps, p.keypoint_scores, image_shape=p.image_shape)


def test_oks_is_one_for_identical_poses_and_falls_with_distance() -> None:
    rng = np.random.default_rng(0)
    p = _people(rng, 3)
    areas = metrics.box_areas(p.boxes)
    same = metrics.oks(p.keypoints, p.keypoints, areas)
    np.testing.assert_allclose(np.diag(same), 1.0)
    values = [np.diag(metrics.oks(p.keypoints, _moved(p, np.random.default_rng(1), s).keypoints, areas)).mean()
              for s in (1, 4, 16)]
    assert 1.0 > values[0] > values[1] > values[2] > 0.0


def test_oks_matches_faster_coco_eval() -> None:
    """Our OKS matrix is COCOeval's computeOks, visibility and the unlabelled-person rule included."""
    pytest.importorskip("faster_coco_eval")
    from faster_coco_eval import COCO, COCOeval_faster

    rng = np.random.default_rng(2)
    gt, dt = _people(rng, 3), _moved(_people(rng, 4), rng, 3)
    vis = rng.random((3, 17)) > 0.3
    vis[2] = False  # nobody labelled: COCO scores the distance outside the doubled box
    areas = metrics.box_areas(gt.boxes) * 1.7
    ours = metrics.oks(gt.keypoints, dt.keypoints, areas, vis, gt.boxes)
    anns = []
    for i, (b, k, v, a) in enumerate(zip(gt.boxes, gt.keypoints, vis, areas, strict=True)):
        flat = np.concatenate([k, np.where(v, 2, 0)[:, None]], 1).reshape(-1).tolist()
        anns.append({"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": float(a),
                     "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                     "keypoints": flat, "num_keypoints": int(v.sum())})
    coco = COCO({"images": [{"id": 1, "width": 640, "height": 480, "file_name": "x"}], "annotations": anns,
                 "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS)}]})
    scores = np.linspace(0.9, 0.6, len(dt))
    res = coco.loadRes([{"image_id": 1, "category_id": 1, "score": float(s),
                         "keypoints": np.concatenate([k, np.ones((17, 1))], 1).reshape(-1).tolist()}
                        for k, s in zip(dt.keypoints, scores, strict=True)])
    ev = COCOeval_faster(coco, res, iouType="keypoints")
    ev.params.imgIds = [1]
    ev.evaluate()
    theirs = ev.computeOks(1, 1)  # (detections by score, ground truth)
    np.testing.assert_allclose(ours.T, theirs, rtol=1e-9, atol=1e-12)


def test_agreement_identical_and_perturbed() -> None:
    rng = np.random.default_rng(3)
    ref = [_people(rng, 2), _people(rng, 0), _people(rng, 3)]
    same = metrics.agreement(ref, ref)
    assert same["reference_people"] == 5
    assert same["mean_oks"] == 1.0 and same["person_match"] == 1.0 and same["max_keypoint_error_px"] == 0.0
    pytest.importorskip("faster_coco_eval")
    assert same["keypoint_ap_vs_reference"] == 1.0
    moved = metrics.agreement(ref, [_moved(p, rng, 6) for p in ref])
    assert 0.3 < moved["mean_oks"] < 0.95
    assert moved["keypoint_ap_vs_reference"] < 0.95
    assert moved["max_keypoint_error_px"] > 6


def test_agreement_counts_missing_and_extra_people() -> None:
    rng = np.random.default_rng(4)
    ref = [_people(rng, 4)]
    fewer = metrics.agreement(ref, [ref[0].take(np.array([0, 1]))])
    assert fewer["person_match"] == 0.5 and fewer["person_match_reverse"] == 1.0 and fewer["mean_oks"] == 0.5
    nobody = metrics.agreement([_people(rng, 0)], [_people(rng, 0)])
    assert nobody["reference_people"] == 0 and nobody["person_match"] == 1.0


def test_match_is_greedy_one_to_one() -> None:
    sim = np.array([[0.9, 0.8], [0.85, 0.1], [0.0, 0.0]])
    assert metrics.match(sim) == [(0, 0), (1, 1)]
    assert metrics.match(sim, threshold=0.5) == [(0, 0)]


def test_keypoint_ap_of_ground_truth_against_itself_is_one(tmp_path: Path) -> None:
    pytest.importorskip("faster_coco_eval")
    rng = np.random.default_rng(5)
    ref = [_people(rng, 3), _people(rng, 1)]
    gt = metrics.reference_ground_truth(ref)
    results = [r for i, p in enumerate(ref) for r in metrics.poses_to_coco(i + 1, p)]
    scores = metrics.keypoint_scores(gt, results)
    assert scores["AP"] == 1.0 and scores["AR"] == 1.0 and scores["AP50"] == 1.0
    json.dumps(results)  # plain JSON types


def test_person_scores_follow_mmpose_rescoring() -> None:
    p = Poses(np.zeros((1, 4), np.float32), np.array([0.5], np.float32), np.zeros((1, 17, 2), np.float32),
              np.array([[0.1] * 15 + [0.6, 1.0]], np.float32))
    assert p.person_scores()[0] == pytest.approx(0.5 * 0.8)
    low = Poses(p.boxes, p.box_scores, p.keypoints, np.full((1, 17), 0.1, np.float32))
    assert low.person_scores()[0] == 0.0


def test_poses_validates_shapes() -> None:
    with pytest.raises(ValueError, match="keypoints"):
        Poses(np.zeros((2, 4), np.float32), np.zeros(2, np.float32), np.zeros((2, 16, 2), np.float32),
              np.zeros((2, 17), np.float32))


def test_to_dict_summary_and_draw() -> None:
    rng = np.random.default_rng(6)
    p = _people(rng, 2, shape=(300, 400))
    d = p.to_dict()
    json.dumps(d)
    assert d["count"] == 2 and len(d["people"][0]["keypoints"]) == 17 and len(d["keypoint_names"]) == 17
    assert "person 1" in p.summary() and "keypoints above" in p.summary()
    image = np.full((300, 400, 3), 128, np.uint8)
    drawn = p.draw(image)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert (drawn != image).any() and (image == 128).all()  # drawn on a copy
    hidden = Poses(p.boxes, p.box_scores, p.keypoints, np.zeros_like(p.keypoint_scores), image_shape=p.image_shape)
    # below the threshold nothing but the box outlines is drawn
    assert (hidden.draw(image) != image).sum() < (drawn != image).sum()


def test_skeleton_sides() -> None:
    assert len(COCO_SKELETON) == 19
    assert limb_side(5, 7) == "left" and limb_side(6, 8) == "right" and limb_side(5, 6) == "centre"
    assert limb_side(0, 1) == "centre"
