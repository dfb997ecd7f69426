"""COCO mAP through faster-coco-eval (or pycocotools: ZOO_COCO_LIB=pycocotools) on a dataset whose
answers are known exactly. pycocotools sums to 0.9999999999999998 where faster-coco-eval gives 1.0.

COCO's AP is the mean over 10 IoU thresholds (.50:.05:.95) of precision interpolated at 101 recall
points (0, .01, ..., 1). So for one class with 4 boxes of which 2 are found with precision 1, the
curve is 1 at recall 0..0.50 (51 points) and 0 after: AP = 51/101 at every threshold.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.eval.coco import (
    COCO80_CATEGORY_IDS,
    COCO80_NAMES,
    CategoryMap,
    coco_library,
    coco_map,
    detections_to_coco,
    load_coco,
    predict_dataset,
    write_results,
)


def _score(kit, coco, predict, limit=None):
    ds = load_coco(coco.root)
    run = predict_dataset(ds, predict, limit)
    return coco_map(ds.ground_truth, run.results, run.image_ids), run


def _perfect(kit, coco, ds=None):
    ds = ds or load_coco(coco.root)
    return lambda rgb: coco.gt_detections(kit.image_id_of(rgb), ds.categories.to_label)


def test_perfect_predictions_score_one(kit, tiny_coco):
    scores, run = _score(kit, tiny_coco, _perfect(kit, tiny_coco))
    assert scores.map == pytest.approx(1.0) and scores.map50 == pytest.approx(1.0)
    assert scores.stats["mAP@.75"] == pytest.approx(1.0)
    assert scores.stats["mAP_small"] is None  # no small boxes: COCO says -1, we say None
    assert run.n_detections == 6 and run.image_ids == [7, 8, 9]
    assert scores.library.startswith(("faster-coco-eval ", "pycocotools "))
    assert coco_library() == scores.library


def test_no_detections_score_zero_not_crash(kit, tiny_coco):
    scores, run = _score(kit, tiny_coco, lambda rgb: kit.dets([]))
    assert (scores.map, scores.map50) == (0.0, 0.0)
    assert run.n_detections == 0


def test_half_the_boxes_of_one_class_found_gives_51_over_101(kit):
    boxes = {
        1: [(10, 10, 40, 40, 1), (60, 10, 40, 40, 1)],
        2: [(10, 60, 40, 40, 1), (70, 50, 50, 50, 1)],
    }
    coco = kit.make(boxes, [{"id": 1, "name": "person"}])
    keep = {1}  # image 2's two boxes are never predicted

    def predict(rgb):
        image_id = kit.image_id_of(rgb)
        return coco.gt_detections(image_id, lambda c: 0) if image_id in keep else kit.dets([])

    scores, _ = _score(kit, coco, predict)
    assert scores.map == pytest.approx(51 / 101, abs=1e-9)
    assert scores.map50 == pytest.approx(51 / 101, abs=1e-9)


def test_shifted_boxes_match_below_iou_075_only(kit, tiny_coco):
    """Each box moved right by 16% of its width: IoU = 0.84/1.16 = 0.724, a hit at .50 to .70
    (5 of the 10 thresholds)."""
    ds = load_coco(tiny_coco.root)

    def predict(rgb):
        d = tiny_coco.gt_detections(kit.image_id_of(rgb), ds.categories.to_label)
        shift = 0.16 * (d.boxes[:, 2] - d.boxes[:, 0])
        d.boxes[:, [0, 2]] += shift[:, None]
        return d

    scores, _ = _score(kit, tiny_coco, predict)
    assert scores.map50 == pytest.approx(1.0)
    assert scores.map == pytest.approx(0.5)
    assert scores.stats["mAP@.75"] == pytest.approx(0.0)


def test_a_false_positive_ranked_first_costs_one_third_of_a_class(kit, tiny_coco):
    """person (2 boxes) gets a top-scoring miss: precision envelope 2/3 everywhere, so
    mAP = (2/3 + 1 + 1) / 3 = 8/9. Ranked last, the same miss costs nothing."""
    ds = load_coco(tiny_coco.root)

    def predict_with(score):
        def predict(rgb):
            image_id = kit.image_id_of(rgb)
            d = tiny_coco.gt_detections(image_id, ds.categories.to_label)
            if image_id == 9:
                miss = kit.dets([(130, 90, 155, 115, score, 0)])  # a 'person' where there is none
                d = kit.Dets(
                    np.vstack([d.boxes, miss.boxes]),
                    np.r_[d.scores, miss.scores],
                    np.r_[d.class_ids, miss.class_ids],
                )
            return d

        return predict

    first, _ = _score(kit, tiny_coco, predict_with(0.99))
    last, _ = _score(kit, tiny_coco, predict_with(0.01))
    assert first.map == pytest.approx(8 / 9)
    assert last.map == pytest.approx(1.0)


def test_limit_scores_only_the_first_images_by_id(kit, tiny_coco):
    ds = load_coco(tiny_coco.root)
    scores, run = _score(kit, tiny_coco, _perfect(kit, tiny_coco, ds), limit=1)
    assert run.image_ids == [7]
    assert scores.map == pytest.approx(1.0)
    assert ds.n_annotations(run.image_ids) == 2
    # results for images outside the selection are ignored, not counted as false positives
    extra = detections_to_coco(9, kit.dets([(0, 0, 50, 50, 0.99, 0)]), ds.categories)
    assert coco_map(ds.ground_truth, run.results + extra, run.image_ids).map == pytest.approx(1.0)


def test_category_map_coco80_table():
    m = CategoryMap.coco80()
    assert len(COCO80_CATEGORY_IDS) == len(COCO80_NAMES) == 80
    assert (m.to_category(0), m.to_category(2), m.to_category(16), m.to_category(79)) == (
        1,
        3,
        18,
        90,
    )
    assert m.to_category(80) is None and m.to_category(-1) is None
    assert m.to_label(90) == 79 and m.to_label(18) == 16
    with pytest.raises(InputError, match="category id 12"):
        m.to_label(12)  # one of COCO's gaps


def test_coco_subset_keeps_coco_ids_and_drops_absent_classes(kit, tiny_coco):
    ds = load_coco(tiny_coco.root)
    assert ds.categories.scheme == "coco80"
    assert ds.categories.to_category(16) == 18  # dog
    assert ds.categories.to_category(1) is None  # bicycle: a COCO class this dataset does not list
    run = predict_dataset(ds, lambda rgb: kit.dets([(0, 0, 10, 10, 0.5, 1), (0, 0, 10, 10, 0.5, 2)]))
    assert run.n_detections == 3 and run.n_dropped_labels == 3
    assert {r["category_id"] for r in run.results} == {3}


def test_non_coco_categories_map_sorted_ids_to_contiguous_labels(kit):
    cats = [{"id": 9, "name": "widget"}, {"id": 2, "name": "gadget"}]
    coco = kit.make({1: [(10, 10, 30, 30, 9), (50, 50, 30, 30, 2)]}, cats)
    ds = load_coco(coco.root)
    assert ds.categories.scheme == "contiguous"
    assert ds.categories.category_ids == (2, 9) and ds.categories.names == ("gadget", "widget")
    right = lambda rgb: kit.dets([(10, 10, 40, 40, 0.9, 1), (50, 50, 80, 80, 0.9, 0)])  # noqa: E731
    swapped = lambda rgb: kit.dets([(10, 10, 40, 40, 0.9, 0), (50, 50, 80, 80, 0.9, 1)])  # noqa: E731
    assert _score(kit, coco, right)[0].map == pytest.approx(1.0)
    assert _score(kit, coco, swapped)[0].map == 0.0


def test_a_coco_id_with_another_name_is_not_coco(kit):
    coco = kit.make({1: [(10, 10, 30, 30, 1)]}, [{"id": 1, "name": "pedestrian"}])
    assert load_coco(coco.root).categories.scheme == "contiguous"
    assert load_coco(coco.root, scheme="coco80").categories.scheme == "coco80"


def test_results_are_coco_format_xywh(kit, tiny_coco, tmp_path):
    ds = load_coco(tiny_coco.annotation_file)  # the json itself works as --data too
    entries = detections_to_coco(7, kit.dets([(10, 20, 60, 100, 0.75, 2)]), ds.categories)
    assert entries == [{"image_id": 7, "category_id": 3, "bbox": [10.0, 20.0, 50.0, 80.0], "score": 0.75}]
    path = write_results(tmp_path / "out" / "results.json", entries)
    assert json.loads(path.read_text()) == entries
    assert coco_map(ds.ground_truth, json.loads(path.read_text()), [7]).map50 < 1.0


def test_dataset_layouts_and_names(kit, tiny_coco):
    ds = load_coco(tiny_coco.root)
    assert ds.split == "val2017" and ds.images_dir == tiny_coco.images_dir
    assert ds.name == "coco-1"
    assert [im.id for im in ds.images] == [7, 8, 9]
    assert load_coco(tiny_coco.root, name="coco").name == "coco"
    with pytest.raises(InputError, match="--limit must be a positive"):
        ds.select(0)
