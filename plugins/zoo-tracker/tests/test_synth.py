"""Synthetic videos with known tracks, and ByteTrack end to end on their ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo_tracker.bytetrack import ByteTracker, FrameDetections
from zoo_tracker.synth import moving_shapes, textured_patch


def test_moving_shapes_frames_and_ground_truth() -> None:
    video = moving_shapes(num_frames=20, size=(120, 160), num_objects=5, seed=1)
    assert video.frames.shape == (20, 120, 160, 3) and video.frames.dtype == np.uint8
    gt = video.gt
    assert len(gt) == 100 and gt.num_frames == 20 and sorted(set(gt.ids.tolist())) == [1, 2, 3, 4, 5]
    xyxy = gt.boxes_xyxy()
    assert (xyxy[:, :2] >= 0).all() and (xyxy[:, 2] <= 160).all() and (xyxy[:, 3] <= 120).all()
    # every box's centre is drawn (an object's colour, not the background)
    cx = ((xyxy[:, 0] + xyxy[:, 2]) / 2).astype(int)
    cy = ((xyxy[:, 1] + xyxy[:, 3]) / 2).astype(int)
    assert (video.frames[gt.frames - 1, cy, cx] != np.array([40, 40, 40], np.uint8)).any(axis=1).all()
    # and the objects move
    assert not np.array_equal(video.frames[0], video.frames[-1])
    assert "seqLength=20" in video.seqinfo("shapes") and "imWidth=160" in video.seqinfo("shapes")


def test_written_as_a_mot_sequence_it_reads_back(tmp_path: Path) -> None:
    from zoo_tracker.mot import read_mot, read_seqinfo

    video = moving_shapes(num_frames=12, num_objects=3, seed=4)
    seq = video.write_mot(tmp_path, "shapes-4")
    info = read_seqinfo(seq / "seqinfo.ini")
    assert (info.name, info.seq_length, info.im_width, info.im_height) == ("shapes-4", 12, 320, 240)
    gt = read_mot(seq / "gt" / "gt.txt", kind="gt", seq_length=info.seq_length)
    np.testing.assert_array_equal(gt.boxes, video.gt.boxes)
    assert gt.has_mot16_classes()  # class 1, visibility 1: scored as MOT16+ pedestrians


def test_textured_patch() -> None:
    frames, boxes = textured_patch(num_frames=30, size=(100, 140), patch=(20, 30), seed=2)
    assert frames.shape == (30, 100, 140, 3) and boxes.shape == (30, 4)
    x, y, w, h = boxes[0].astype(int)
    first = frames[0, y:y + h, x:x + w]
    for t in (10, 29):
        x, y, w, h = boxes[t].astype(int)
        assert x >= 0 and y >= 0 and x + w <= 140 and y + h <= 100
        np.testing.assert_array_equal(frames[t, y:y + h, x:x + w], first)  # the same texture, moved
    assert np.abs(np.diff(boxes[:, :2], axis=0)).max() <= 7  # a smooth path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bytetrack_on_exact_detections_of_a_synthetic_video(seed: int) -> None:
    pytest.importorskip("trackeval")
    from zoo_tracker.mot import evaluate, parse_mot

    video = moving_shapes(num_frames=40, num_objects=4, seed=seed)
    gt = video.gt
    tracker = ByteTracker()
    rows: list[str] = []
    for t in range(1, video.num_frames + 1):
        idx = gt.frame(t)
        dets = FrameDetections(boxes=gt.boxes_xyxy()[idx].astype(np.float32), scores=np.full(len(idx), 0.9, np.float32),
                               class_ids=np.zeros(len(idx), np.int64), image_shape=video.image_shape)
        rows += tracker.update(dets).to_mot_rows()
    res = evaluate({"shapes": (gt, parse_mot("\n".join(rows)))})["shapes"]
    assert res["MOTA"] > 0.95 and res["IDF1"] > 0.9 and res["HOTA"] > 0.9
