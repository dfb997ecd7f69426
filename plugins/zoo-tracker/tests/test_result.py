"""Agreement of two tracking runs, and Tracks' MOT rows read back by the plugin's MOT parser."""

from __future__ import annotations

import numpy as np

from zoo.results import Tracks
from zoo_tracker.mot import parse_mot
from zoo_tracker.result import agreement


def tracks(frame: int = 3, ids: tuple[int, ...] = (4, 9), dx: float = 0.0) -> Tracks:
    n = len(ids)
    boxes = np.array([[10 + dx, 20, 50 + dx, 120], [100 + dx, 30, 140 + dx, 110]], np.float32)[:n]
    trails = np.full((n, 4, 2), np.nan, np.float32)
    trails[:, 1:] = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2 + np.arange(-3, 0)[None, :, None] * 5
    return Tracks(frame=frame, ids=np.asarray(ids, np.int64), boxes=boxes, scores=np.array([0.9, 0.45], np.float32)[:n],
                  class_ids=np.array([0, 2], np.int64)[:n], names=("person", "car")[:n], image_shape=(160, 200),
                  trails=trails)


def test_mot_rows_parse_back() -> None:
    data = parse_mot("\n".join(tracks().to_mot_rows()))
    assert data.frames.tolist() == [3, 3] and data.ids.tolist() == [4, 9]
    np.testing.assert_allclose(data.boxes[0], [10, 20, 40, 100])
    np.testing.assert_allclose(data.conf, [0.9, 0.45])


def test_agreement_identical_and_id_switch() -> None:
    ref = [tracks(f, dx=3 * f) for f in range(1, 7)]
    same = agreement(ref, ref)
    assert same["box_match"] == 1.0 and same["id_consistency"] == 1.0 and same["mean_iou"] == 1.0
    # the candidate swaps the two ids for the last 2 of 6 frames: 8 of 12 matches follow the majority mapping
    cand = [tracks(f, dx=3 * f) if f <= 4 else tracks(f, ids=(9, 4), dx=3 * f) for f in range(1, 7)]
    swapped = agreement(ref, cand)
    assert swapped["box_match"] == 1.0
    assert swapped["id_consistency"] == 8 / 12
    missing = agreement(ref, [tracks(f, ids=(4,), dx=3 * f) for f in range(1, 7)])
    assert missing["box_match"] == 0.5 and missing["box_match_reverse"] == 1.0
