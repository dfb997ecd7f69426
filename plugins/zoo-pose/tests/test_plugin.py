"""The pose task through the core: its predictor (detector part, given boxes, whole image) and
its evaluator, with stand-in sessions so no model is built."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.images import load_image, sample_images
from zoo.registry import get_registry
from zoo.results import Detections
from zoo_pose import topdown
from zoo_pose.coco_keypoints import KeypointEvaluator
from zoo_pose.processing import PersonBoxes
from zoo_pose.result import Poses
from zoo_pose.simcc import encode_simcc_targets
from zoo_pose.synthetic import make_keypoint_dataset

SIZE = (192, 256)


class QueueSession:
    """A TensorSession answering each crop with the next prepared SimCC pair; records its inputs."""

    input_names, output_names = ["in0"], ["out0", "out1"]

    def __init__(self, answers: list[tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self.answers = list(answers or [])
        self.inputs: list[np.ndarray] = []

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["in0"]
        assert x.shape == (1, 3, 256, 192)  # one crop per call, as ncnn runs
        self.inputs.append(x)
        if self.answers:
            sx, sy = self.answers.pop(0)
        else:
            sx, sy = np.zeros((17, 384), np.float32), np.zeros((17, 512), np.float32)
        return {"out0": sx[None], "out1": sy[None]}

    def close(self) -> None:
        pass


class FakeDetector:
    """Stands in for a detector part: people and a dog."""

    def __init__(self) -> None:
        self.calls = 0
        self.options: dict[str, Any] = {}

    def __call__(self, item: Any, **options: Any) -> Detections:
        self.calls += 1
        self.options = options
        return Detections(boxes=np.array([[10, 10, 100, 200], [200, 50, 300, 300], [50, 60, 120, 160]], np.float32),
                          scores=np.array([0.9, 0.2, 0.8], np.float32), class_ids=np.array([0, 0, 16]),
                          names=("person", "person", "dog"), image_shape=(512, 512))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def _predictor(session: QueueSession, parts: dict[str, Any] | None = None) -> Any:
    reg = get_registry()
    spec = reg.get("rtmpose-s")
    return reg.task("pose").build_predictor(spec, {"model": session}, parts or {})


def test_specs_register_with_the_pose_task() -> None:
    reg = get_registry()
    spec = reg.get("rtmpose-s")
    assert spec.task == "pose" and spec.roles["detector"].task == "detector" and spec.pre.kind == "affine"
    assert reg.get("blazepose-lite").post.decoder == "blazepose"
    assert reg.task("pose").result_type is Poses


def test_detector_part_gives_person_boxes_above_the_threshold() -> None:
    detector = FakeDetector()
    session = QueueSession()
    predictor = _predictor(session, {"detector": detector})  # type: ignore[dict-item]
    poses = predictor(sample_images(1)[0])
    assert detector.calls == 1 and len(session.inputs) == 1  # person 0.9 kept; 0.2 below 0.3; the dog never
    assert detector.options == {"conf": 0.3}  # the detector is asked for boxes down to the person threshold
    np.testing.assert_array_equal(poses.boxes, [[10, 10, 100, 200]])
    everyone = predictor(sample_images(1)[0], person_conf=0.1)
    assert len(everyone) == 2 and {"pre", "infer", "post", "detector"} <= set(predictor.times)
    assert len(predictor(sample_images(1)[0], person_conf=0.1, max_people=1)) == 1


def test_given_boxes_skip_the_detector_and_whole_image_without_either() -> None:
    detector = FakeDetector()
    predictor = _predictor(QueueSession(), {"detector": detector})  # type: ignore[dict-item]
    image = sample_images(1)[0]
    poses = predictor(PersonBoxes(image, np.array([[0, 0, 50, 80]], np.float32)))
    assert detector.calls == 0 and len(poses) == 1
    nobody = predictor(PersonBoxes(image, np.zeros((0, 4), np.float32)))
    assert len(nobody) == 0  # an empty frame is an empty result
    alone = _predictor(QueueSession())(image)  # parity and calibration: no detector part
    np.testing.assert_array_equal(alone.boxes, [[0, 0, 512, 512]])


def test_flip_test_runs_each_crop_mirrored() -> None:
    session = QueueSession()
    _predictor(session)(sample_images(1)[0], flip_test=True)
    assert len(session.inputs) == 2
    np.testing.assert_array_equal(session.inputs[1], session.inputs[0][..., ::-1])


def test_evaluator_scores_known_joints_near_ap_one(tmp_path: Path) -> None:
    """zoo eval's path: the evaluator feeds ground-truth boxes as PersonBoxes; the stand-in network
    answers each crop with SimCC vectors peaking at the true joints."""
    pytest.importorskip("faster_coco_eval")
    make_keypoint_dataset(tmp_path, n_images=5, seed=3)
    evaluator = KeypointEvaluator()
    dataset = evaluator.load(tmp_path, limit=None, name=None)
    ds = dataset.dataset
    answers = []
    for im in ds.images:
        boxes, _ = ds.ground_truth_boxes(im)
        truth = np.array([np.asarray(a["keypoints"]).reshape(-1, 3)[:, :2] for a in ds.ground_truth["annotations"]
                          if a["image_id"] == im.id]).reshape(-1, 17, 2)
        center, scale = topdown.box_center_scale(boxes)
        in_crop = topdown.apply_affine(truth, topdown.warp_matrices(
            center, topdown.fix_aspect_ratio(scale, 0.75), SIZE))
        sx, sy = encode_simcc_targets(in_crop, SIZE, 2.0)
        answers += list(zip(sx, sy, strict=True))
    session = QueueSession(answers)
    outcome = evaluator.evaluate(dataset, _predictor(session), options={"boxes": "ground-truth", "person_conf": 0.3},
                                 results_file=tmp_path / "results.json", progress=None)
    assert not session.answers  # one call per annotated person
    ap = {m.name: m.value for m in outcome.metrics}
    assert ap["keypoint AP"] > 0.97 and outcome.facts["boxes"] == "ground truth"
    assert (tmp_path / "results.json").is_file()
    assert load_image(ds.images[0].path).shape[:2] == (ds.images[0].height, ds.images[0].width)


def test_evaluator_refuses_bad_data_before_any_model(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="person_keypoints"):
        KeypointEvaluator().load(tmp_path, limit=None, name=None)
    make_keypoint_dataset(tmp_path, n_images=2)
    with pytest.raises(InputError, match="--limit"):
        KeypointEvaluator().load(tmp_path, limit=0, name=None)


def test_bench_probes_time_one_crop_and_frames_with_1_and_5_people() -> None:
    from zoo_pose.plugin import bench_probes

    session = QueueSession()
    predictor = _predictor(session)
    probes = {p.name: p for p in bench_probes(predictor, sample_images(1)[0])}
    assert list(probes) == ["model", "pipeline", "people:1", "people:5"]
    for name, calls in (("model", 1), ("people:1", 1), ("people:5", 5)):
        before = len(session.inputs)
        probes[name].fn()
        assert len(session.inputs) - before == calls, name
