"""ByteTrack's association rules, case by case, on hand-made detections."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import ConfigError
from zoo.results import Tracks
from zoo_tracker.bytetrack import ByteTrackConfig, ByteTracker, FrameDetections


def dets(*rows: tuple[float, float, float, float, float]) -> FrameDetections:
    arr = np.asarray(rows, np.float32).reshape(-1, 5)
    return FrameDetections(boxes=arr[:, :4], scores=arr[:, 4], class_ids=np.zeros(len(arr), np.int64),
                           names=("person",) * len(arr), image_shape=(480, 640))


def box(t: int, x0: float = 100.0, y0: float = 100.0, vx: float = 3.0, vy: float = 0.0, w: float = 40.0,
        h: float = 100.0) -> tuple[float, float, float, float]:
    """A box moving at constant velocity, at frame t (1-based)."""
    x, y = x0 + vx * (t - 1), y0 + vy * (t - 1)
    return (x, y, x + w, y + h)


def run(tracker: ByteTracker, frames: list[FrameDetections]) -> list[Tracks]:
    return [tracker.update(f) for f in frames]


def test_first_frame_confirms_at_once_above_new_track_threshold() -> None:
    out = ByteTracker().update(dets((*box(1), 0.9), (*box(1, x0=300), 0.55)))
    # 0.55 is above track_thresh (0.5) but below the new-track threshold (0.6): no track
    assert out.ids.tolist() == [1]
    assert out.frame == 1 and out.image_shape == (480, 640)
    assert out.names == ("person",)
    np.testing.assert_allclose(out.boxes[0], box(1))


def test_new_track_needs_confirmation() -> None:
    tracker = ByteTracker()
    out = run(tracker, [dets(), dets((*box(2), 0.9)), dets((*box(3), 0.9)), dets((*box(4), 0.9))])
    assert len(out[1]) == 0  # born on frame 2: unconfirmed, not shown
    assert out[2].ids.tolist() == [1] and out[3].ids.tolist() == [1]


def test_unconfirmed_track_unmatched_is_dropped() -> None:
    tracker = ByteTracker()
    out = run(tracker, [dets(), dets((*box(2), 0.9)), dets(), dets((*box(4), 0.9)), dets((*box(5), 0.9))])
    assert [len(o) for o in out[:4]] == [0, 0, 0, 0]
    assert out[4].ids.tolist() == [2]  # the first never confirmed: gone, the object starts over
    assert tracker.num_tracks == 1


def test_low_score_detection_keeps_the_track() -> None:
    frames = [dets((*box(t), 0.9 if t <= 5 or t > 10 else 0.3)) for t in range(1, 14)]
    out = run(ByteTracker(), frames)
    assert all(o.ids.tolist() == [1] for o in out)
    np.testing.assert_allclose(out[8].boxes[0], box(9), atol=1e-4)  # shown with the low detection's box
    # without the second association (low detections discarded) the track is lost while they last,
    # then re-found with its id when a confident detection comes back
    out = run(ByteTracker(ByteTrackConfig(low_thresh=0.5)), frames)
    assert [o.ids.tolist() for o in out[5:10]] == [[]] * 5
    assert out[10].ids.tolist() == [1]


def test_low_score_detection_never_starts_a_track() -> None:
    out = run(ByteTracker(), [dets((*box(t), 0.4)) for t in range(1, 6)])
    assert all(len(o) == 0 for o in out)


def test_lost_track_refound_with_its_id() -> None:
    # 10 frames seen, 12 hidden, then back where constant velocity puts it
    frames = [dets((*box(t), 0.9)) if t <= 10 or t > 22 else dets() for t in range(1, 26)]
    out = run(ByteTracker(), frames)
    assert all(o.ids.tolist() == [1] for o in out[:10])
    assert all(len(o) == 0 for o in out[10:22])  # lost tracks are not shown
    assert all(o.ids.tolist() == [1] for o in out[22:])


def test_lost_track_expires_after_the_buffer() -> None:
    cfg = ByteTrackConfig(track_buffer=5, frame_rate=30)
    frames = [dets((*box(t, vx=0), 0.9)) if t <= 5 or t > 12 else dets() for t in range(1, 15)]
    tracker = ByteTracker(cfg)
    out = run(tracker, frames)
    assert out[4].ids.tolist() == [1]
    assert len(out[12]) == 0 and out[13].ids.tolist() == [2]  # 7 frames lost > 5: a new id, confirmed a frame later


def test_crossing_objects_keep_their_ids() -> None:
    # two people walking towards each other on nearly the same line, passing at frame ~21
    frames = [dets((*box(t, x0=100, vx=5), 0.9), (*box(t, x0=300, y0=110, vx=-5), 0.85)) for t in range(1, 41)]
    out = run(ByteTracker(), frames)
    first = {int(i): float(b[0]) for i, b in zip(out[0].ids, out[0].boxes, strict=True)}
    last = {int(i): float(b[0]) for i, b in zip(out[-1].ids, out[-1].boxes, strict=True)}
    assert sorted(first) == sorted(last) == [1, 2]
    assert first[1] < first[2] and last[1] > last[2]  # each id followed its own person through the crossing


def test_kalman_boxes_follow_the_motion() -> None:
    out = run(ByteTracker(ByteTrackConfig.upstream()), [dets((*box(t), 0.9)) for t in range(1, 30)])
    np.testing.assert_allclose(out[-1].boxes[0], box(29), atol=0.5)


def test_reset_and_degenerate_boxes() -> None:
    tracker = ByteTracker()
    run(tracker, [dets((*box(t), 0.9)) for t in range(1, 4)])
    tracker.reset()
    out = tracker.update(dets((*box(1), 0.9), (10, 10, 10, 50, 0.95), (np.nan, 0, 5, 5, 0.9)))
    assert out.frame == 1 and out.ids.tolist() == [1]  # flat and non-finite boxes ignored


def test_trails_and_dtypes() -> None:
    out = run(ByteTracker(ByteTrackConfig(trail_length=5)), [dets((*box(t), 0.9)) for t in range(1, 4)])[-1]
    assert out.ids.dtype == np.int64 and out.class_ids.dtype == np.int64
    assert out.boxes.dtype == np.float32 and out.boxes.shape == (1, 4)
    assert out.trails.shape == (1, 5, 2)
    assert np.isnan(out.trails[0, :2]).all()
    np.testing.assert_allclose(out.trails[0, 2:, 0], [120, 123, 126])  # box centres, oldest first


def test_bad_config_is_one_line() -> None:
    with pytest.raises(ConfigError, match="output_boxes"):
        ByteTrackConfig(output_boxes="middle")
    with pytest.raises(ConfigError, match="low_thresh"):
        ByteTrackConfig(low_thresh=0.7, track_thresh=0.5)


def test_many_tracks_perfect_detections_keep_every_id() -> None:
    rng = np.random.default_rng(0)
    n = 50
    start = rng.uniform(0, 1800, (n, 2))
    vel = rng.normal(0, 2, (n, 2))
    tracker = ByteTracker()
    for t in range(30):
        p = start + vel * t
        out = tracker.update(FrameDetections(boxes=np.concatenate([p, p + 30], 1).astype(np.float32),
                                             scores=np.full(n, 0.9, np.float32), class_ids=np.zeros(n, np.int64)))
    assert sorted(out.ids.tolist()) == list(range(1, n + 1))
