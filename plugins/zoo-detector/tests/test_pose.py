"""yolov8n-pose: Ultralytics' layout loaded strictly, the numpy decode, and its own predictor
(bottom-up: boxes and keypoints from one network) through the core's registry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zoo.errors import CheckpointError, InputError
from zoo.registry import get_registry
from zoo.results import Poses
from zoo_detector import pose

pytest.importorskip("zoo_pose", reason="yolov8n-pose is a model of the pose task, which zoo-pose defines")
from zoo_detector.decode import make_grid
from zoo_detector.letterbox import letterbox_geometry
from zoo_detector.pose_decode import decode_yolov8_pose, unletterbox_points

SPEC = pose.yolov8n_pose_spec()
PARAMS = SPEC.post.params
A = len(make_grid((640, 640), (8, 16, 32), 0.5).points)  # 8400


def _raw_head(people: Mapping[int, tuple[tuple[float, float, float, float], float, np.ndarray]]) -> np.ndarray:
    """A raw head (116, 8400) with every anchor scoring ~0, except ``people``: anchor →
    (DFL sides l, t, r, b in strides, person logit, 17×3 raw keypoint values)."""
    raw = np.zeros((116, A), np.float32)
    raw[64] = -20.0
    for anchor, (sides, score, kpts) in people.items():
        for s, d in enumerate(sides):  # a one-hot distribution at bin d: expectation d
            raw[s * 16 : (s + 1) * 16, anchor] = -30.0
            raw[s * 16 + int(d), anchor] = 30.0
        raw[64, anchor] = score
        raw[65:, anchor] = kpts.reshape(-1)
    return raw


def test_registered_with_the_pose_task_and_its_own_predictor() -> None:
    reg = get_registry()
    spec = reg.get("yolov8n-pose")
    assert spec.task == "pose" and spec.plugin == "detector" and not spec.roles and spec.pre.kind == "letterbox"
    assert spec.component.outputs[0].shape == (1, 116, 8400)
    predictor = reg.build_predictor(spec, {"model": None})
    assert isinstance(predictor, pose.YoloPosePredictor)
    assert reg.build_predictor(reg.get("yolov8n"), {"model": None}).__class__.__name__ == "LetterboxPredictor"  # the task's


def test_decode_places_boxes_and_keypoints_as_ultralytics() -> None:
    grid = make_grid((640, 640), (8, 16, 32), 0.5)
    anchor = 6400 + 20 * 40 + 10  # stride 16, row 20, col 10: centre (168, 328)
    assert tuple(grid.points[anchor]) == (168.0, 328.0) and grid.strides[anchor] == 16
    kpts = np.zeros((17, 3), np.float32)
    kpts[:, 0] = np.linspace(-1, 1, 17)  # x = (raw·2 − 0.5)·16 + 168
    kpts[:, 1] = 0.25  # y = 0·16 + 328
    kpts[:, 2] = np.linspace(-4, 4, 17)
    cand = decode_yolov8_pose(_raw_head({anchor: ((2, 3, 4, 5), 3.0, kpts)}), (640, 640), PARAMS, 0.25)
    assert len(cand.scores) == 1
    np.testing.assert_allclose(cand.boxes[0], [168 - 32, 328 - 48, 168 + 64, 328 + 80], atol=1e-3)
    np.testing.assert_allclose(cand.scores, [1 / (1 + np.exp(-3.0))], rtol=1e-5)
    np.testing.assert_allclose(cand.keypoints[0, :, 0], (kpts[:, 0] * 2 - 0.5) * 16 + 168, atol=1e-4)
    np.testing.assert_allclose(cand.keypoints[0, :, 1], 328.0, atol=1e-4)
    np.testing.assert_allclose(cand.keypoint_scores[0], 1 / (1 + np.exp(-kpts[:, 2])), rtol=1e-5)
    assert len(decode_yolov8_pose(_raw_head({}), (640, 640), PARAMS, 0.25).scores) == 0
    with pytest.raises(ValueError, match="116, 8400"):
        decode_yolov8_pose(np.zeros((85, A), np.float32), (640, 640), PARAMS, 0.25)


def test_points_leave_the_letterbox_and_stay_in_the_image() -> None:
    geo = letterbox_geometry((480, 640), (640, 640))  # ratio 1, 80 px bars top and bottom
    pts = np.array([[[100.0, 80.0], [700.0, 600.0], [-5.0, 10.0]]], np.float32)
    np.testing.assert_allclose(unletterbox_points(pts, geo)[0], [[100, 0], [640, 480], [0, 0]])


class HeadSession:
    """Stands in for the network: the same raw head whatever the input; records the input."""

    input_names, output_names = ["in0"], ["out0"]

    def __init__(self, raw: np.ndarray) -> None:
        self.raw, self.inputs = raw, []

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.inputs.append(inputs["in0"])
        return {"out0": self.raw[None]}

    def close(self) -> None:
        pass


def _two_people() -> np.ndarray:
    kpts = np.zeros((17, 3), np.float32)
    kpts[:, 2] = 5.0
    return _raw_head({6400 + 20 * 40 + 10: ((2, 3, 4, 5), 3.0, kpts), 6400 + 5 * 40 + 30: ((4, 4, 4, 4), 1.0, kpts),
                      6400 + 5 * 40 + 31: ((4, 4, 4, 4), 0.5, kpts)})  # overlaps the second: NMS drops it


def test_predictor_gives_poses_in_image_pixels() -> None:
    session = HeadSession(_two_people())
    predictor = get_registry().build_predictor(get_registry().get("yolov8n-pose"), {"model": session})
    image = np.zeros((480, 640, 3), np.uint8)
    poses = predictor(image)
    assert isinstance(poses, Poses) and len(poses) == 2 and poses.image_shape == (480, 640)
    assert session.inputs[0].shape == (1, 3, 640, 640) and np.isclose(session.inputs[0][0, 0, 0, 0], 114 / 255)
    # letterbox: ratio 1, 80 px top bar; the first person's box and keypoints move up by 80
    np.testing.assert_allclose(poses.boxes[0], [136, 280 - 80, 232, 408 - 80], atol=1e-3)
    np.testing.assert_allclose(poses.keypoints[0], np.tile([[168 - 8, 328 - 8 - 80]], (17, 1)), atol=1e-3)
    assert poses.box_scores[0] > poses.box_scores[1] and (poses.keypoint_scores > 0.99).all()
    assert len(predictor(image, person_conf=0.9)) == 1 and len(predictor(image, max_people=1)) == 1
    # person boxes an item carries are not used: a bottom-up model finds people itself
    from zoo_pose.processing import PersonBoxes

    given = predictor(PersonBoxes(image, np.array([[0, 0, 10, 10]], np.float32)))
    np.testing.assert_array_equal(given.boxes, poses.boxes)
    with pytest.raises(InputError, match="bottom-up"):
        predictor(image, flip_test=True)


def test_a_frame_with_nobody_is_an_empty_result() -> None:
    predictor = get_registry().build_predictor(get_registry().get("yolov8n-pose"), {"model": HeadSession(_raw_head({}))})
    poses = predictor(np.zeros((100, 200, 3), np.uint8))
    assert len(poses) == 0 and poses.to_dict()["people"] == [] and poses.summary() == "no people"


torch = pytest.importorskip("torch")


def test_ultralytics_layout_loads_strictly_and_random_builds_are_input_dependent(tmp_path: Path) -> None:
    from zoo.registry import seed_everything
    from zoo_detector import plugin
    from zoo_detector.nets.common import count_params
    from zoo_detector.nets.yolov8 import yolov8n
    from zoo_detector.nets.yolov8_pose import yolov8n_pose

    seed_everything(0)
    model = plugin.build_model(spec=SPEC, weights=None)
    sd = model.state_dict()
    assert count_params(model) == 3_295_470  # Ultralytics' YOLO('yolov8n-pose.yaml')
    assert list(sd)[-1] == "model.22.cv4.2.2.bias" and sd["model.22.cv4.0.2.weight"].shape == (51, 51, 1, 1)
    assert sd["model.22.cv3.0.2.weight"].shape == (1, 64, 1, 1)
    gen = torch.Generator().manual_seed(1)
    x1, x2 = torch.rand(1, 3, 64, 64, generator=gen), torch.rand(1, 3, 64, 64, generator=gen)
    with torch.no_grad():
        assert (model(x1) - model(x2)).abs().max() > 1e-3
    # an Ultralytics-shaped checkpoint (whole pickled module, fp16) loads key for key
    path = tmp_path / "yolov8n-pose.pt"
    torch.save({"model": yolov8n_pose().half(), "ema": None, "train_args": {"task": "pose"}}, path)
    loaded = plugin.build_model(spec=SPEC, weights=str(path))
    assert loaded.state_dict()["model.22.cv4.1.0.conv.weight"].dtype == torch.float32
    # a detector's checkpoint is not a pose model's: one line naming the keys
    det = tmp_path / "yolov8n.pt"
    torch.save({"model": yolov8n().half()}, det)
    with pytest.raises(CheckpointError, match=r"missing \(first: model\.22\.cv4"):
        plugin.build_model(spec=SPEC, weights=str(det))


def test_cli_run_draws_people(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the CLI with a stand-in session: --json people and an annotated image."""
    import json

    from click.testing import CliRunner
    from PIL import Image

    from zoo import api
    from zoo.cli import cli

    def fake_load(name: str, **kwargs: Any) -> Any:
        return get_registry().build_predictor(get_registry().get(name), {"model": HeadSession(_two_people())})

    monkeypatch.setattr(api, "load", fake_load)
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((480, 640, 3), 90, np.uint8)).save(photo)
    res = CliRunner().invoke(cli, ["run", "yolov8n-pose", str(photo), "--json", "-o", str(tmp_path / "o.png")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["count"] == 2 and len(out["people"][0]["keypoints"]) == 17
    drawn = np.asarray(Image.open(tmp_path / "o.png"))
    assert (drawn != 90).any(axis=2).sum() > 100


def test_eval_of_a_bottom_up_model_uses_its_own_people(tmp_path: Path) -> None:
    pytest.importorskip("faster_coco_eval")
    from zoo_pose.coco_keypoints import KeypointEvaluator
    from zoo_pose.synthetic import make_keypoint_dataset

    make_keypoint_dataset(tmp_path, n_images=3, seed=3)
    evaluator = KeypointEvaluator()
    dataset = evaluator.load(tmp_path, limit=None, name=None)
    kpts = np.zeros((17, 3), np.float32)
    faint = _raw_head({6400 + 20 * 40 + 10: ((2, 3, 4, 5), -5.0, kpts)})  # person score 0.0067
    predictor = get_registry().build_predictor(get_registry().get("yolov8n-pose"), {"model": HeadSession(faint)})
    outcome = evaluator.evaluate(dataset, predictor, options={"boxes": "ground-truth"}, results_file=None,
                                 progress=None)
    assert "bottom-up" in outcome.facts["boxes"] and outcome.facts["people_scored"] == 3  # kept at conf 0.001
    assert "keypoint AP (bottom-up)" in {m.name for m in outcome.metrics}
