"""The tracker tasks' predictors through the core's load flow, with a detector part and sessions
that need no network (a colour finder; sessions answering fixed arrays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from zoo.errors import ConfigError, InputError, PluginError
from zoo.flows.run import load, stream
from zoo.registry import get_registry
from zoo.results import Detections, Tracks
from zoo.tasks import Predictor
from zoo_tracker.predictors import ByteTrackPredictor, NanoTrackPredictor, bytetrack_config, parse_init_box
from zoo_tracker.synth import moving_shapes, textured_patch


class ColourDetector(Predictor):
    """A detector-task predictor that finds the synthetic video's coloured shapes by their pixels."""

    def __init__(self, colours: np.ndarray) -> None:
        reg = get_registry()
        super().__init__(reg.get("yolox-s"), reg.task("detector"), {})
        self.colours = colours
        self.confs: list[float] = []

    def predict(self, item: Any, options: Mapping[str, Any]) -> Detections:
        image = getattr(item, "image", item)
        self.confs.append(options["conf"])
        boxes = []
        for c in self.colours:
            ys, xs = np.nonzero((image == c).all(axis=2))
            if len(xs):
                boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        n = len(boxes)
        return Detections(boxes=np.asarray(boxes, np.float32).reshape(-1, 4), scores=np.full(n, 0.9, np.float32),
                          class_ids=np.zeros(n, np.int64), names=("shape",) * n, image_shape=image.shape[:2])  # fmt: skip


def shapes_video(seed: int = 7) -> tuple[Any, np.ndarray]:
    video = moving_shapes(num_frames=25, num_objects=3, seed=seed)
    colours = np.array([video.frames[0][int(y + h / 2), int(x + w / 2)]
                        for x, y, w, h in video.gt.boxes[video.gt.frame(1)]])  # fmt: skip
    return video, colours


def test_bytetrack_through_load_with_a_detector_part() -> None:
    video, colours = shapes_video()
    detector = ColourDetector(colours)
    predictor = load("bytetrack", roles={"detector": detector})
    assert isinstance(predictor, ByteTrackPredictor) and predictor.parts["detector"] is detector
    results = [r for _, r in stream(predictor, iter(video.frames))]
    assert all(isinstance(r, Tracks) for r in results)
    assert results[-1].ids.tolist() == [1, 2, 3] and results[-1].names == ("shape",) * 3
    assert results[-1].image_shape == video.image_shape and results[-1].frame == 25
    # the detector is asked for boxes down to the tracker's low threshold (BYTE's second association)
    assert set(detector.confs) == {0.1}
    assert {"detector", "tracker", "total"} <= set(predictor.times)
    assert predictor.times["tracker"] < predictor.times["total"]
    # a new video starts over: frame numbers and ids
    again = [r for _, r in stream(predictor, iter(video.frames[:2]))]
    assert again[0].frame == 1 and again[-1].ids.tolist() == [1, 2, 3]


def test_bytetrack_options_reach_the_tracker() -> None:
    video, colours = shapes_video()
    predictor = load("bytetrack", roles={"detector": ColourDetector(colours)})
    predictor(video.frames[0], track_thresh=0.05, track_buffer=5, frame_rate=10)
    cfg = predictor.tracker.config
    assert cfg.track_thresh == 0.05 and cfg.low_thresh == 0.05 and cfg.max_time_lost == 1
    assert bytetrack_config({}) == bytetrack_config({"track_thresh": None})
    with pytest.raises(InputError, match="--track-thresh"):
        predictor(video.frames[1], track_thresh=1.5)
    with pytest.raises(InputError, match="--track-buffer"):
        predictor(video.frames[1], track_buffer=-1)


def test_bytetrack_needs_a_detector_role() -> None:
    reg = get_registry()
    with pytest.raises(PluginError, match="detector"):
        ByteTrackPredictor(reg.get("bytetrack"), reg.task("tracker"), {}, {})


def test_a_role_model_of_another_task_is_one_line() -> None:
    with pytest.raises(InputError, match=r"--detector nanotrack: a sot model, not a detector"):
        load("bytetrack", roles={"detector": "nanotrack"})
    with pytest.raises(InputError, match="has no 'tracker' role"):
        load("bytetrack", roles={"tracker": "yolox-s"})


class FakeSession:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.fn(inputs)

    def close(self) -> None:
        pass


def test_nanotrack_predictor_with_sessions() -> None:
    frames, boxes = textured_patch(num_frames=5, size=(120, 160), patch=(20, 30), seed=1)
    seen: list[tuple[str, tuple[int, ...]]] = []

    def template(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(("template", inputs["in0"].shape))
        return {"out0": np.zeros((1, 96, 8, 8), np.float32)}

    def search(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(("search", inputs["in0"].shape + inputs["in1"].shape))
        return {"out0": np.zeros((1, 2, 15, 15), np.float32), "out1": np.full((1, 4, 15, 15), 20.0, np.float32)}

    reg = get_registry()
    spec = reg.get("nanotrack")
    predictor = reg.build_predictor(spec, {"template": FakeSession(template), "search": FakeSession(search)})
    assert isinstance(predictor, NanoTrackPredictor)
    assert predictor.tracker.config.penalty_k == 0.138 and predictor.tracker.config.bgr
    with pytest.raises(InputError, match="--init x,y,w,h"):
        predictor(frames[0])
    x, y, w, h = boxes[0]
    init = f"{x:g},{y:g},{w:g},{h:g}"
    first = predictor(frames[0], init=init)
    np.testing.assert_allclose(first.boxes[0], [x, y, x + w, y + h])
    second = predictor(frames[1], init=init)  # given again with every frame, as zoo run does: ignored
    assert second.frame == 2 and len(second) == 1
    assert seen == [("template", (1, 3, 127, 127)), ("search", (1, 3, 255, 255, 1, 96, 8, 8))]
    assert predictor.times["infer"] > 0
    predictor.reset()
    assert predictor(frames[2], init=init).frame == 1 and seen[-1][0] == "template"
    with pytest.raises(InputError, match="overlap the 160x120 frame"):
        predictor.reset()
        predictor(frames[0], init="500,10,20,20")
    with pytest.raises(PluginError, match="search missing"):
        NanoTrackPredictor(spec, reg.task("sot"), {"template": FakeSession(template)})


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "1,2,3,4,5", "1,2,nan,4", "", "1,2,0,4", "1,2,3,-4"])
def test_init_box_parsing(bad: str) -> None:
    assert parse_init_box("10, 20,30,40") == (10.0, 20.0, 30.0, 40.0)
    with pytest.raises(InputError, match="--init") as err:
        parse_init_box(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="--init"):
        get_registry().task("sot").resolve_options({"init": bad})


def test_unknown_siamese_parameters_are_refused() -> None:
    from zoo_tracker.sot.siamese import SiameseConfig

    spec = get_registry().get("nanotrack")
    bad = spec.model_copy(update={"post": spec.post.model_copy(update={"params": {"penalty": 0.1}})})
    with pytest.raises(ConfigError, match="unknown Siamese tracker parameter"):
        SiameseConfig.from_spec(bad)
