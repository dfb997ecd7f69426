"""zoo.results.Poses: the pose task's result type, shared by top-down and bottom-up models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from zoo.results import Poses
from zoo.results.pose import COCO_KEYPOINTS, COCO_SKELETON, limb_side


def _one_person() -> Poses:
    kps = np.stack([np.linspace(20, 80, 17), np.linspace(10, 90, 17)], 1).astype(np.float32)[None]
    scores = np.full((1, 17), 0.9, np.float32)
    scores[0, 3] = 0.1  # one keypoint below the drawing threshold
    return Poses(boxes=np.array([[10, 5, 90, 95]], np.float32), box_scores=np.array([0.8], np.float32),
                 keypoints=kps, keypoint_scores=scores, image_shape=(100, 120))


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="keypoints"):
        Poses(boxes=np.zeros((1, 4)), box_scores=np.zeros(1), keypoints=np.zeros((1, 5, 2)),
              keypoint_scores=np.zeros((1, 17)))
    assert len(Poses()) == 0 and Poses().summary() == "no people"


def test_to_dict_is_plain_json_and_summary_counts_keypoints() -> None:
    p = _one_person()
    d = json.loads(json.dumps(p.to_dict()))
    assert d["count"] == 1 and d["image_size"] == {"height": 100, "width": 120}
    assert len(d["people"][0]["keypoints"]) == 17 and d["keypoint_names"] == list(COCO_KEYPOINTS)
    assert "16/17 keypoints above 0.3" in p.summary()
    assert p.take(np.array([], np.int64)).to_dict()["people"] == []


def test_person_scores_rescore_by_confident_keypoints() -> None:
    p = _one_person()
    # box 0.8 × mean of the 16 keypoints above 0.2 (0.9)
    assert p.person_scores()[0] == pytest.approx(0.8 * 0.9)


def test_draw_marks_joints_and_limbs_and_leaves_the_input() -> None:
    image = np.zeros((100, 120, 3), np.uint8)
    out = _one_person().draw(image)
    assert out.shape == image.shape and out.dtype == np.uint8 and not image.any()
    assert (out != 0).any(axis=2).sum() > 200  # box outline, limbs, joints
    assert limb_side(5, 7) == "left" and limb_side(6, 8) == "right" and limb_side(5, 6) == "centre"
    assert len(COCO_SKELETON) == 19


def test_lazy_import_needs_no_plugin() -> None:
    code = "import sys, zoo.results as r; r.Poses; print(any(m.startswith('zoo_pose') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
