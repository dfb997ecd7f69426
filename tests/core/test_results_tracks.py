"""The Tracks result (zoo.results): JSON, summary, MOT rows, drawing with trails."""

from __future__ import annotations

import json

import numpy as np

from zoo.results import Tracks
from zoo.results.base import colour


def tracks(frame: int = 3, ids: tuple[int, ...] = (4, 9)) -> Tracks:
    n = len(ids)
    boxes = np.array([[10, 20, 50, 120], [100, 30, 140, 110]], np.float32)[:n]
    trails = np.full((n, 4, 2), np.nan, np.float32)
    trails[:, 1:] = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2 + np.arange(-3, 0)[None, :, None] * 5
    return Tracks(frame=frame, ids=np.asarray(ids, np.int64), boxes=boxes, scores=np.array([0.9, 0.45], np.float32)[:n],
                  class_ids=np.array([0, 2], np.int64)[:n], names=("person", "car")[:n], image_shape=(160, 200),
                  trails=trails)  # fmt: skip


def test_to_dict_is_plain_json() -> None:
    d = json.loads(json.dumps(tracks().to_dict()))
    assert d["frame_number"] == 3 and d["count"] == 2
    assert d["tracks"][0] == {"id": 4, "box": [10.0, 20.0, 50.0, 120.0], "score": 0.9, "class_id": 0, "class": "person"}
    assert d["image_size"] == {"height": 160, "width": 200}


def test_summary_and_labels_without_names() -> None:
    text = tracks().summary()
    assert len(text.splitlines()) == 2 and text.startswith("#4") and "car" in text.splitlines()[1]
    t = Tracks(frame=1, ids=np.array([1]), boxes=np.zeros((1, 4), np.float32), scores=np.ones(1, np.float32),
               class_ids=np.array([7]))  # fmt: skip
    assert t.label(0) == "7"
    assert Tracks().summary() == "no tracks"


def test_mot_rows() -> None:
    assert tracks().to_mot_rows() == ["3,4,10.00,20.00,40.00,100.00,0.9000,-1,-1,-1",
                                      "3,9,100.00,30.00,40.00,80.00,0.4500,-1,-1,-1"]  # fmt: skip


def test_draw_boxes_in_track_colours_with_trails() -> None:
    image = np.zeros((160, 200, 3), np.uint8)
    out = tracks().draw(image)
    assert out.shape == image.shape and out.dtype == np.uint8 and not image.any()  # a copy
    # the left edge of each box, below its label, is in its track's colour
    assert tuple(out[100, 10]) == colour(4) and tuple(out[100, 100]) == colour(9)
    # track 4's trail: a line through its earlier centres (15, 55), (20, 60), (25, 65)
    assert tuple(out[60, 20]) == colour(4)
    assert not out[60, 60].any()
    assert colour(4) != colour(9)
