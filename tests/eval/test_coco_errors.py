"""Bad datasets fail with one line that names the file, the field and the fix."""

from __future__ import annotations

import copy

import pytest

from zoo.errors import InputError
from zoo.eval.coco import load_coco, predict_dataset


def _fails(data, *needles):
    with pytest.raises(InputError) as info:
        load_coco(data)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


def test_json_that_does_not_parse(tiny_coco):
    path = tiny_coco.rewrite('{"images": [}')
    _fails(tiny_coco.root, str(path), "not valid JSON (line 1, column 13", "fix the file")


def test_top_level_not_an_object(tiny_coco):
    tiny_coco.rewrite("[]")
    _fails(tiny_coco.root, "top level is a JSON list")


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_missing_top_level_key(tiny_coco, key):
    broken = copy.deepcopy(tiny_coco.instances)
    del broken[key]
    path = tiny_coco.rewrite(broken)
    _fails(
        tiny_coco.root,
        str(path),
        f"missing key '{key}'",
        "'images', 'annotations' and 'categories'",
    )


def test_annotation_missing_bbox_names_index_and_fix(tiny_coco):
    broken = copy.deepcopy(tiny_coco.instances)
    del broken["annotations"][1]["bbox"]
    del broken["annotations"][3]["bbox"]
    tiny_coco.rewrite(broken)
    _fails(
        tiny_coco.root,
        "annotations[1] (and 1 more like it): missing key 'bbox'",
        "bbox [x, y, width, height]",
    )


def test_bad_bbox_and_bad_image_size(tiny_coco):
    broken = copy.deepcopy(tiny_coco.instances)
    broken["annotations"][2]["bbox"] = [1, 2, -3, 4]
    tiny_coco.rewrite(broken)
    _fails(tiny_coco.root, "annotations[2]: 'bbox' is [1, 2, -3, 4]")
    broken = copy.deepcopy(tiny_coco.instances)
    broken["images"][0]["width"] = "160"
    tiny_coco.rewrite(broken)
    _fails(tiny_coco.root, "images[0]: 'width' is \"160\"", "positive integer width and height")


def test_annotation_naming_unknown_image(tiny_coco):
    broken = copy.deepcopy(tiny_coco.instances)
    broken["annotations"][0]["image_id"] = 999
    tiny_coco.rewrite(broken)
    _fails(
        tiny_coco.root,
        "annotations[0].image_id: 999 names no entry of 'images'",
        "fix the image_id",
    )


def test_annotation_naming_unknown_category(tiny_coco):
    broken = copy.deepcopy(tiny_coco.instances)
    broken["annotations"][4]["category_id"] = 12
    tiny_coco.rewrite(broken)
    _fails(tiny_coco.root, "annotations[4].category_id: 12 names no entry of 'categories'")


def test_duplicate_ids(tiny_coco):
    broken = copy.deepcopy(tiny_coco.instances)
    broken["images"][2]["id"] = broken["images"][0]["id"]
    broken["annotations"] = [a for a in broken["annotations"] if a["image_id"] != 9]
    tiny_coco.rewrite(broken)
    _fails(tiny_coco.root, "images[2].id: 7 appears twice")


def test_empty_categories(tiny_coco):
    broken = dict(tiny_coco.instances, categories=[], annotations=[])
    tiny_coco.rewrite(broken)
    _fails(tiny_coco.root, "'categories' is empty")


def test_missing_image_files_fail_before_inference(kit, tiny_coco):
    (tiny_coco.images_dir / "000000000008.png").unlink()
    (tiny_coco.images_dir / "000000000009.png").unlink()
    ds = load_coco(tiny_coco.root)
    calls = []
    with pytest.raises(InputError) as info:
        predict_dataset(ds, lambda rgb: calls.append(1) or kit.dets([]))
    message = str(info.value)
    assert "000000000008.png: image file missing" in message
    assert str(tiny_coco.annotation_file) in message and "2 of 3 images are missing" in message
    assert calls == []
    # the first image alone is there, so --limit 1 works
    assert predict_dataset(ds, lambda rgb: kit.dets([]), limit=1).image_ids == [7]


def test_image_size_that_disagrees_with_the_annotations(kit, tiny_coco):
    broken = copy.deepcopy(tiny_coco.instances)
    broken["images"][0]["width"] = 640
    tiny_coco.rewrite(broken)
    with pytest.raises(InputError, match=r"image is 160x120 but .* says 640x120 \(images id 7\)"):
        predict_dataset(load_coco(tiny_coco.root), lambda rgb: kit.dets([]))


def test_finding_the_annotation_file(kit, tmp_path):
    _fails(tmp_path / "nope", "no such file or folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(empty, "no instances_*.json found", "annotations/instances_SPLIT.json and SPLIT/")
    coco = kit.make()
    (coco.root / "annotations" / "instances_train2017.json").write_text("{}")
    _fails(
        coco.root,
        "several annotation files",
        "instances_val2017.json",
        "pass the one to evaluate on",
    )


def test_no_images_folder(tiny_coco):
    tiny_coco.images_dir.rename(tiny_coco.root / "elsewhere")
    _fails(tiny_coco.root, "no images folder found", "pass images_dir")
    assert load_coco(tiny_coco.root, images_dir=tiny_coco.root / "elsewhere").images_dir.name == "elsewhere"


def test_no_ground_truth_in_the_evaluated_images(kit, tiny_coco):
    from zoo.eval.coco import coco_map

    gt = load_coco(tiny_coco.root).ground_truth
    gt = dict(gt, annotations=[a for a in gt["annotations"] if a["image_id"] != 7])
    with pytest.raises(InputError, match="no ground-truth boxes"):
        coco_map(gt, [], [7])
