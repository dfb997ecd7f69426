"""The stateful predictors against the target core interface, with stand-in detector and sessions."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from zoo.errors import InputError
from zoo_tracker.bytetrack import FrameDetections
from zoo_tracker.predictors import ByteTrackPredictor, NanoTrackPredictor, parse_init_box
from zoo_tracker.synth import moving_shapes, textured_patch


class ColourDetector:
    """A 'detector' that finds the synthetic video's coloured shapes by their pixels (no network)."""

    def __init__(self, colours: np.ndarray) -> None:
        self.colours = colours
        self.calls = 0

    def __call__(self, image: np.ndarray, **options: object) -> FrameDetections:
        self.calls += 1
        boxes = []
        for c in self.colours:
            ys, xs = np.nonzero((image == c).all(axis=2))
            if len(xs):
                boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        n = len(boxes)
        return FrameDetections(boxes=np.asarray(boxes, np.float32).reshape(-1, 4), scores=np.full(n, 0.9, np.float32),
                               class_ids=np.zeros(n, np.int64), names=("shape",) * n, image_shape=image.shape[:2])


def test_bytetrack_predictor_on_a_rendered_video() -> None:
    video = moving_shapes(num_frames=25, num_objects=3, seed=7)
    colours = np.array([video.frames[0][int(y + h / 2), int(x + w / 2)]
                        for x, y, w, h in video.gt.boxes[video.gt.frame(1)]])
    detector = ColourDetector(colours)
    predictor = ByteTrackPredictor(detector)
    results = [predictor(frame) for frame in video.frames]
    assert results[-1].ids.tolist() == [1, 2, 3] and results[-1].names == ("shape",) * 3
    assert set(predictor.last_timing) == {"detector_ms", "tracker_ms"}
    assert results[-1].image_shape == video.image_shape
    predictor.reset()
    assert predictor(video.frames[0]).frame == 1 and detector.calls == 26


class FakeSession:
    def __init__(self, fn):  # noqa: ANN001
        self.fn = fn

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.fn(inputs)


def test_nanotrack_predictor_with_sessions() -> None:
    frames, boxes = textured_patch(num_frames=5, size=(120, 160), patch=(20, 30), seed=1)
    seen: list[tuple[str, tuple[int, ...]]] = []

    def template(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(("template", inputs["in0"].shape))
        return {"out0": np.zeros((1, 96, 8, 8), np.float32)}

    def search(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(("search", inputs["in0"].shape + inputs["in1"].shape))
        return {"out0": np.zeros((1, 2, 15, 15), np.float32), "out1": np.full((1, 4, 15, 15), 20.0, np.float32)}

    predictor = NanoTrackPredictor({"template": FakeSession(template), "search": FakeSession(search)})
    with pytest.raises(InputError, match="--init"):
        predictor(frames[0])
    x, y, w, h = boxes[0]
    first = predictor(frames[0], init=f"{x},{y},{w},{h}")
    np.testing.assert_allclose(first.boxes[0], [x, y, x + w, y + h])
    second = predictor(frames[1])
    assert second.frame == 2 and len(second) == 1
    assert seen == [("template", (1, 3, 127, 127)), ("search", (1, 3, 255, 255, 1, 96, 8, 8))]
    with pytest.raises(InputError, match="'search' component"):
        NanoTrackPredictor({"template": FakeSession(template)})


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "1,2,3,4,5", "1,2,nan,4", ""])
def test_init_box_parsing(bad: str) -> None:
    assert parse_init_box("10, 20,30,40") == (10.0, 20.0, 30.0, 40.0)
    with pytest.raises(InputError, match="--init") as err:
        parse_init_box(bad)
    assert "\n" not in str(err.value)
