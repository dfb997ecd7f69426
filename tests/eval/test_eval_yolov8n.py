"""evaluate() through the real chain: the detector plugin's yolov8n, exported to ncnn, on real photos.

Random weights (``allow_random``): the numbers mean nothing, the wiring is what is tested —
export, pipeline calls with conf/iou, Detections read back, COCO scoring, the report.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zoo.images import load_image, sample_image_paths

pytestmark = pytest.mark.slow


@pytest.fixture
def yolov8n_registered() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("pnnx")
    from zoo.registry import get_registry

    if "yolov8n" not in {s.id for s in get_registry().list()}:
        pytest.skip("the detector plugin (yolov8n) is not installed")


def _photo_coco(root: Path) -> Path:
    """The shipped photos as a COCO set with one made-up 'person' box each."""
    images_dir = root / "val2017"
    images_dir.mkdir(parents=True)
    (root / "annotations").mkdir()
    images, anns = [], []
    for i, path in enumerate(sample_image_paths(), start=1):
        shutil.copy(path, images_dir / path.name)
        h, w = load_image(path).shape[:2]
        images.append({"id": i, "file_name": path.name, "width": w, "height": h})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [w / 4, h / 4, w / 2, h / 2]})
    categories = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": categories})
    )
    return root


def test_evaluate_yolov8n_random_weights_end_to_end(tmp_path, monkeypatch, yolov8n_registered):
    from zoo import api
    from zoo.eval.coco import detections_agreement_map, evaluate

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    data = _photo_coco(tmp_path / "photos")
    report = evaluate("yolov8n", data, weights="random", allow_random=True, limit=2, conf=0.001, iou=0.6)
    assert report.model == "yolov8n" and report.n_images == 2 and report.n_annotations == 2
    assert [m.name for m in report.metrics] == ["mAP@[.5:.95]", "mAP@.5"]
    assert all(0.0 <= m.value <= 1.0 and m.n == 2 and m.split == "val2017" for m in report.metrics)
    assert report.weights == "random" and report.category_scheme == "coco80"
    assert report.timings.predict_median_ms > 0

    pipeline = api.load("yolov8n", weights="random")
    try:
        photos = [load_image(p) for p in sample_image_paths()[:2]]
        ref = [pipeline(p, conf=0.001, iou=0.6) for p in photos]
        assert detections_agreement_map(ref, ref) == pytest.approx(1.0, abs=0.01)  # a pipeline agrees with itself
    finally:
        pipeline.close()


def test_zoo_eval_cli_writes_the_card_and_rejects_bad_annotations(tmp_path, monkeypatch, yolov8n_registered):
    from click.testing import CliRunner

    from zoo.cli import cli

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    data = _photo_coco(tmp_path / "photos")
    cards = tmp_path / "cards"
    args = ["eval", "yolov8n", "--data", str(data), "--weights", "random", "--limit", "2", "--cards", str(cards)]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [m["name"] for m in out["report"]["metrics"]] == ["mAP@[.5:.95]", "mAP@.5"]
    card = json.loads((Path(out["card"]) / "card.json").read_text())
    assert [m["name"] for m in card["accuracy"]] == ["mAP@[.5:.95]", "mAP@.5"]
    assert card["accuracy"][0]["dataset"] == "photos" and card["accuracy"][0]["n"] == 2
    assert card["extra"]["eval"]["n_images"] == 2 and "random weights" in card["accuracy_reason"]

    (data / "annotations" / "instances_val2017.json").write_text("{not json")
    bad = CliRunner().invoke(cli, args)
    assert bad.exit_code != 0
    assert "instances_val2017.json" in bad.output and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1, bad.output
