"""evaluate() wiring with a stand-in predictor (the real registry's detector and classifier
specs), the COCO box evaluator, and detections_agreement_map."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from zoo.card import Metric
from zoo.errors import ConfigError, InputError, UnknownModelError
from zoo.eval.coco import detections_agreement_map, load_coco
from zoo.flows.eval import EvalReport, evaluate


class StubPredictor:
    """Answers with the dataset's own boxes; records how it was called."""

    export = None

    def __init__(self, answer) -> None:
        self.answer, self.calls, self.closed = answer, [], False

    def __call__(self, image: np.ndarray, **options: Any):
        self.calls.append(options)
        return self.answer(image)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def stub_load(monkeypatch, kit, tiny_coco):
    ds = load_coco(tiny_coco.root)
    made: dict[str, Any] = {}

    def load(name, precision=None, runtime=None, threads=None, weights=None, **kw):
        made.update(name=name, precision=precision, threads=threads, weights=weights)
        made["pipeline"] = StubPredictor(
            lambda rgb: tiny_coco.gt_detections(kit.image_id_of(rgb), ds.categories.to_label)
        )
        return made["pipeline"]

    monkeypatch.setattr("zoo.flows.run.load", load)
    return made


def test_evaluate_reports_metrics_for_the_card(tiny_coco, stub_load, tmp_path):
    report = evaluate(
        "yolov8n",
        tiny_coco.root,
        precision="int8",
        weights="ckpt.pt",
        threads=2,
        options={"conf": 0.01, "iou": 0.5},
        results_file=tmp_path / "res.json",
        cards_root=tmp_path / "cards",
    )
    assert isinstance(report, EvalReport)
    assert stub_load["precision"] == "int8" and stub_load["threads"] == 2 and stub_load["weights"] == "ckpt.pt"
    assert stub_load["pipeline"].calls == [{"conf": 0.01, "iou": 0.5}] * 3
    assert stub_load["pipeline"].closed
    assert report.metrics == [
        Metric(name="mAP@[.5:.95]", value=1.0, dataset="coco-1", split="val2017", n=3),
        Metric(name="mAP@.5", value=1.0, dataset="coco-1", split="val2017", n=3),
    ]
    f = report.facts
    assert (f["n_images"], f["n_annotations"], f["n_detections"]) == (3, 6, 6)
    assert f["category_scheme"] == "coco80" and f["library"].startswith("faster-coco-eval")
    assert f["predict_median_ms"] >= 0 and f["results_file"] == str(tmp_path / "res.json")
    assert EvalReport.model_validate_json(report.model_dump_json()) == report


def test_evaluate_defaults_to_cocos_thresholds(tiny_coco, stub_load, tmp_path):
    evaluate("yolov8n", tiny_coco.root, cards_root=tmp_path)
    assert stub_load["pipeline"].calls[0] == {"conf": 0.001, "iou": 0.6}


def test_evaluate_limit_and_dataset_name(tiny_coco, stub_load, tmp_path):
    report = evaluate("yolov8n", tiny_coco.root, limit=2, dataset_name="coco", cards_root=tmp_path)
    assert report.facts["n_images"] == 2 and report.limit == 2 and report.facts["n_annotations"] == 5
    assert report.metrics[0].dataset == "coco" and report.metrics[0].n == 2


def test_evaluate_refuses_random_weights_classifiers_and_bad_arguments(tiny_coco, stub_load, tmp_path):
    with pytest.raises(ConfigError, match="accuracy of random weights means nothing"):
        evaluate("yolov8n", tiny_coco.root, weights="random")
    with pytest.raises(ConfigError, match="the classifier task has no evaluator"):
        evaluate("resnet18", tiny_coco.root)
    with pytest.raises(InputError, match="--limit must be a positive"):
        evaluate("yolov8n", tiny_coco.root, limit=0)
    with pytest.raises(InputError, match="--conf 2.0: must be in"):
        evaluate("yolov8n", tiny_coco.root, options={"conf": 2.0})
    with pytest.raises(UnknownModelError):
        evaluate("yolo", tiny_coco.root)
    assert "pipeline" not in stub_load  # nothing was exported or loaded for any of these
    report = evaluate("yolov8n", tiny_coco.root, weights="random", allow_random=True, cards_root=tmp_path)
    assert report.metrics[0].value == 1.0


def test_agreement_identical_is_one(kit):
    ref = [
        kit.dets([(10, 10, 50, 60, 0.9, 0), (70, 20, 120, 90, 0.8, 5)]),
        kit.dets([(0, 0, 30, 30, 0.7, 5)]),
    ]
    assert detections_agreement_map(ref, ref) == pytest.approx(1.0)


def test_agreement_half_found_one_class(kit):
    ref = [
        kit.dets([(10, 10, 50, 50, 0.9, 3), (60, 10, 100, 50, 0.9, 3)]),
        kit.dets([(10, 60, 50, 100, 0.9, 3), (60, 60, 100, 100, 0.9, 3)]),
    ]
    cand = [ref[0], kit.dets([])]
    assert detections_agreement_map(ref, cand) == pytest.approx(51 / 101, abs=1e-9)


def test_agreement_wrong_class_and_empty_cases(kit):
    ref = [kit.dets([(10, 10, 50, 60, 0.9, 0)])]
    assert detections_agreement_map(ref, [kit.dets([(10, 10, 50, 60, 0.9, 1)])]) == 0.0
    assert detections_agreement_map(ref, [kit.dets([])]) == 0.0
    assert detections_agreement_map([kit.dets([])], [kit.dets([])]) == 1.0
    assert detections_agreement_map([kit.dets([])], ref) == 0.0
    with pytest.raises(InputError, match="one candidate per reference image"):
        detections_agreement_map(ref, [])


def test_agreement_shifted_boxes(kit):
    """Candidate boxes 16% of their width to the right: IoU 0.724, matched at 5 of 10 thresholds."""
    ref = [kit.dets([(100, 100, 200, 150, 0.9, 2), (300, 50, 350, 250, 0.9, 7)])]
    moved = ref[0].boxes.copy()
    moved[:, [0, 2]] += 0.16 * (moved[:, 2] - moved[:, 0])[:, None]
    cand = [kit.Dets(moved, ref[0].scores, ref[0].class_ids)]
    assert detections_agreement_map(ref, cand) == pytest.approx(0.5)
