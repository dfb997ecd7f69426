"""The stick-figure keypoint set, COCO keypoint loading with one-line errors, and the evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.images import load_image
from zoo_pose import topdown
from zoo_pose.coco_keypoints import evaluate_keypoints, load_keypoint_dataset, oks_nms
from zoo_pose.processing import estimate_poses
from zoo_pose.result import Poses
from zoo_pose.simcc import encode_simcc_targets
from zoo_pose.synthetic import make_keypoint_dataset

pytest.importorskip("faster_coco_eval")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("keypoints")
    make_keypoint_dataset(root, n_images=6, seed=0)
    return root


def _gt_keypoints(ds: Any, image_id: int) -> list[np.ndarray]:
    return [np.asarray(a["keypoints"], np.float64).reshape(-1, 3) for a in ds.ground_truth["annotations"]
            if a["image_id"] == image_id]


def test_generator_writes_coco_layout_with_exact_joints(synthetic: Path) -> None:
    ds = load_keypoint_dataset(synthetic)
    assert ds.split == "val" and ds.images_dir == synthetic / "val" and len(ds.images) == 6
    assert ds.keypoint_names[0] == "nose" and len(ds.skeleton) == 19
    assert not _gt_keypoints(ds, 1)  # image 1: nobody
    anns = ds.ground_truth["annotations"]
    assert len(anns) >= 5 and all(a["num_keypoints"] > 0 for a in anns)
    # the labelled joints are where the figure was drawn: the limb colour is there, not the background
    for im in ds.images[1:3]:
        rgb = load_image(im.path).astype(np.int64)
        for kps in _gt_keypoints(ds, im.id):
            for x, y, v in kps[5:]:
                if v > 0:
                    patch = rgb[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2]
                    assert (np.ptp(patch.reshape(-1, 3), axis=0) < 40).all()  # inside a drawn disc
    again = synthetic.parent / "again"
    make_keypoint_dataset(again, n_images=6, seed=0)
    assert (again / "annotations" / "person_keypoints_val.json").read_bytes() == \
        (synthetic / "annotations" / "person_keypoints_val.json").read_bytes()  # deterministic


def _oracle(ds: Any) -> Any:
    """A pose model that knows the answer: poses straight from the annotations."""
    def predict(rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> Poses:
        im = next(i for i in ds.images if np.array_equal(load_image(i.path), rgb))
        kps = _gt_keypoints(ds, im.id)
        k = np.array([p[:, :2] for p in kps], np.float32).reshape(-1, 17, 2)
        s = np.array([np.where(p[:, 2] > 0, 0.9, 0.0) for p in kps], np.float32).reshape(-1, 17)
        return Poses(boxes, scores, k, s, image_shape=rgb.shape[:2])
    return predict


def test_ground_truth_scored_against_itself_is_ap_one(synthetic: Path) -> None:
    ds = load_keypoint_dataset(synthetic)
    ev = evaluate_keypoints(ds, _oracle(ds))
    assert ev.metrics["AP"] == 1.0 and ev.metrics["AR"] == 1.0
    assert ev.boxes == "ground-truth" and ev.n_people == len(ds.ground_truth["annotations"])
    json.dumps(ev.results)


def test_end_to_end_known_joints_through_crop_simcc_and_back(synthetic: Path) -> None:
    """A network stand-in emits SimCC vectors peaking at each labelled joint's crop position; the
    real pipeline (affine crop, decode, inverse map, rescoring, OKS-NMS, faster-coco-eval) must
    then score near-perfect keypoint AP: the only error left is the half-pixel SimCC bin."""
    ds = load_keypoint_dataset(synthetic)

    def predict(rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> Poses:
        im = next(i for i in ds.images if np.array_equal(load_image(i.path), rgb))
        truth = np.array([p[:, :2] for p in _gt_keypoints(ds, im.id)]).reshape(-1, 17, 2)
        center, scale = topdown.box_center_scale(boxes)
        scale = topdown.fix_aspect_ratio(scale, 192 / 256)
        in_crop = topdown.apply_affine(truth, topdown.warp_matrices(center, scale, (192, 256)))
        sx, sy = encode_simcc_targets(in_crop, (192, 256), 2.0)
        return estimate_poses(rgb, boxes, scores, lambda x: (sx, sy))

    ev = evaluate_keypoints(ds, predict)
    assert ev.metrics["AP"] > 0.97 and ev.metrics["AR"] > 0.97, ev.metrics


def test_detector_boxes_and_model_boxes(synthetic: Path) -> None:
    ds = load_keypoint_dataset(synthetic)
    oracle = _oracle(ds)
    seen: list[str] = []

    def detector(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append("detector")
        im = next(i for i in ds.images if np.array_equal(load_image(i.path), rgb))
        return ds.ground_truth_boxes(im)

    ev = evaluate_keypoints(ds, oracle, boxes=detector, limit=3)
    assert ev.boxes == "detector" and seen == ["detector"] * 3 and ev.image_ids == [1, 2, 3]
    with pytest.raises(InputError, match="boxes must be"):
        evaluate_keypoints(ds, oracle, boxes="boxes.json")


def test_oks_nms_drops_duplicates() -> None:
    rng = np.random.default_rng(0)
    kps = rng.uniform(100, 200, (1, 17, 2)).astype(np.float32)
    p = Poses(np.array([[90, 90, 210, 210]] * 3, np.float32), np.ones(3, np.float32),
              np.concatenate([kps, kps + 0.5, kps + 60]), np.ones((3, 17), np.float32))
    keep = oks_nms(p, np.array([0.5, 0.9, 0.7]))
    assert keep.tolist() == [1, 2]


def _write(tmp_path: Path, mutate: Any) -> Path:
    root = tmp_path / "bad"
    path = make_keypoint_dataset(root, n_images=3, seed=1)
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("mutate", "field", "hint"),
    [
        (lambda d: d["annotations"][0].__setitem__("keypoints", d["annotations"][0]["keypoints"][:-1]),
         "annotations[0].keypoints", "expected 51"),
        (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 3), "annotations[0].keypoints[2]",
         "visibility"),
        (lambda d: d["annotations"][0]["keypoints"].__setitem__(0, "x"), "annotations[0].keypoints[0]",
         "finite number"),
        (lambda d: d["annotations"][0].pop("keypoints"), "annotations[0].keypoints", "missing"),
        (lambda d: d["annotations"][0].__setitem__("num_keypoints", 99), "annotations[0].num_keypoints", "v > 0"),
        (lambda d: d["categories"][0].pop("keypoints"), "categories[0].keypoints", "missing"),
        (lambda d: d["categories"][0].__setitem__("skeleton", [[0, 1]]), "categories[0].skeleton", "1-based"),
        (lambda d: d["annotations"][0].__setitem__("bbox", [1, 2]), "annotations[0]", "bbox"),
    ],
)
def test_bad_keypoint_annotations_give_one_line_naming_file_and_field(tmp_path: Path, mutate: Any, field: str,
                                                                     hint: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(InputError) as err:
        load_keypoint_dataset(path)
    msg = str(err.value)
    assert str(path) in msg and field in msg and hint in msg and "\n" not in msg, msg


def test_unparseable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "person_keypoints_x.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"not valid JSON \(line 1"):
        load_keypoint_dataset(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no person_keypoints_"):
        load_keypoint_dataset(tmp_path / "empty")
    with pytest.raises(InputError, match="no such file"):
        load_keypoint_dataset(tmp_path / "nope")


def test_images_without_labelled_people_cannot_be_scored(synthetic: Path) -> None:
    ds = load_keypoint_dataset(synthetic)
    with pytest.raises(InputError, match="no labelled keypoints"):
        evaluate_keypoints(ds, _oracle(ds), limit=1)  # image 1 has nobody


def test_bottom_up_protocol_keeps_box_scores_and_skips_nms(synthetic: Path) -> None:
    ds = load_keypoint_dataset(synthetic)
    oracle = _oracle(ds)

    def bottom_up(rgb: np.ndarray, boxes: None, scores: None) -> Poses:
        assert boxes is None and scores is None  # the model finds people itself
        im = next(i for i in ds.images if np.array_equal(load_image(i.path), rgb))
        b, _ = ds.ground_truth_boxes(im)
        found = oracle(rgb, b, np.full(len(b), 0.7, np.float32))
        return Poses(found.boxes, found.box_scores, found.keypoints, np.zeros_like(found.keypoint_scores),
                     image_shape=found.image_shape)

    ev = evaluate_keypoints(ds, bottom_up, boxes="model", rescore=False, nms_threshold=None)
    assert ev.boxes == "model" and ev.metrics["AP"] == 1.0
    assert all(r["score"] == pytest.approx(0.7) for r in ev.results)  # not rescored to 0 by keypoint scores
