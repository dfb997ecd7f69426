"""What ``zoo bench`` times for the tracker tasks (``TaskDef.bench_probes``), on short synthetic
videos made here (a tracker needs consecutive frames, not one photo).

tracker (a detector + ByteTrack), per frame of a 640x480 video of 10 moving shapes:
  model      the detector's networks alone (its recorded calls replayed): the card's latency;
  pipeline   detector (pre + networks + post) + tracker: what a user's video runs at;
  tracker    the tracker's own update on the detections this detector gave on those frames;
  tracker@50 the tracker's own update with 50 objects per frame (detections made from
             ground truth with detector faults): its cost in a crowd, whatever the detector.
sot (a Siamese tracker), per frame of a 480x360 video of a textured patch:
  model      the search network alone (one call per tracked frame): the card's latency;
  pipeline   crop + search network + decode per tracked frame;
  template   the first frame's template crop + network (once per video).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.tasks import Predictor, Probe

BENCH_FRAMES = 16
BENCH_SIZE = (480, 640)
BENCH_OBJECTS = 10
CROWD = 50


def _cycle(n: int) -> Any:
    """An index 0, 1, ..., n-1, 0, ... and whether it just wrapped."""
    state = {"i": -1}

    def step() -> tuple[int, bool]:
        state["i"] = (state["i"] + 1) % n
        return state["i"], state["i"] == 0

    return step


def crowd_detections(num_objects: int = CROWD, num_frames: int = 60, seed: int = 0) -> list[Any]:
    """Per frame, ``num_objects`` moving objects' detections with detector faults (misses, jitter,
    low scores, false positives at rate 0.1), as ``zoo_tracker.faults`` makes them."""
    from zoo_tracker.faults import FaultSpec, detections_from_gt
    from zoo_tracker.synth import shape_tracks

    gt, _ = shape_tracks(num_frames, BENCH_SIZE, num_objects, seed=seed, min_side=24, max_side=80)
    return detections_from_gt(gt, num_frames, BENCH_SIZE, FaultSpec.at_rate(0.1), seed=seed)


def _tracker_probe(name: str, detections: list[Any], config: Any, description: str) -> Probe:
    from zoo_tracker.bytetrack import ByteTracker

    tracker = ByteTracker(config)
    step = _cycle(len(detections))

    def update() -> None:
        i, wrapped = step()
        if wrapped:
            tracker.reset()
        tracker.update(detections[i])

    return Probe(name, update, description, unit="frame")


def tracker_probes(predictor: Predictor, item: Any) -> list[Probe]:
    """model, pipeline, tracker, tracker@50 (see the module docstring); ``item`` is not used."""
    from zoo.measure.worker import network_calls
    from zoo_tracker.predictors import DETECTOR, bytetrack_config
    from zoo_tracker.synth import moving_shapes

    frames = moving_shapes(BENCH_FRAMES, BENCH_SIZE, BENCH_OBJECTS, seed=0, min_side=32, max_side=96).frames
    calls = network_calls(predictor, frames[0])
    config = bytetrack_config({})
    detector = predictor.parts[DETECTOR]
    detections = [detector(frame, conf=config.low_thresh) for frame in frames]
    detector.reset()
    step = _cycle(len(frames))

    def model() -> None:
        for session, inputs in calls:
            session.run(inputs)

    def pipeline() -> None:
        i, wrapped = step()
        if wrapped:
            predictor.reset()
        predictor(frames[i])

    boxes = sum(len(d) for d in detections) / len(detections)
    crowd = crowd_detections()
    crowd_boxes = sum(len(d) for d in crowd) / len(crowd)
    n = len(calls)
    return [
        Probe("model", model, f"the detector's networks alone ({n} call{'s' if n != 1 else ''} per frame)",
              unit="frame"),
        Probe("pipeline", pipeline, f"detector + tracker per frame ({BENCH_SIZE[1]}x{BENCH_SIZE[0]} video, "
              f"{BENCH_OBJECTS} moving shapes)", unit="frame"),
        _tracker_probe("tracker", detections, config,
                       f"the tracker alone per frame, on this detector's {boxes:.1f} boxes per frame"),
        _tracker_probe(f"tracker@{CROWD}", crowd, config,
                       f"the tracker alone per frame with {CROWD} objects ({crowd_boxes:.1f} boxes per frame)"),
    ]  # fmt: skip


SOT_SIZE = (360, 480)
SOT_PATCH = (48, 64)


def sot_init() -> str:
    """The first box of ``sot_clip`` as --init text (x,y,w,h), without drawing the clip."""
    from zoo_tracker.synth import patch_path

    return ",".join(f"{v:g}" for v in patch_path(1, SOT_SIZE, SOT_PATCH, seed=0)[0])


def sot_clip(num_frames: int = BENCH_FRAMES) -> tuple[np.ndarray, str]:
    """A textured patch drifting over a 480x360 frame, and its first box as --init text."""
    from zoo_tracker.synth import textured_patch

    frames, _ = textured_patch(num_frames=num_frames, size=SOT_SIZE, patch=SOT_PATCH, seed=0)
    return frames, sot_init()


def sot_probes(predictor: Predictor, item: Any) -> list[Probe]:
    """model, pipeline, template (see the module docstring); ``item`` is not used."""
    from zoo.flows.parity import Recorder

    frames, init = sot_clip()
    tracker: Any = getattr(predictor, "tracker", None)
    predictor.reset()
    predictor(frames[0], init=init)
    recorder = Recorder(predictor.sessions["search"])
    predictor.sessions["search"] = recorder
    try:
        predictor(frames[1])
    finally:
        predictor.sessions["search"] = recorder.session
    (search_inputs, _), = recorder.calls
    search = recorder.session
    step = _cycle(len(frames) - 1)

    def model() -> None:
        search.run(search_inputs)

    def pipeline() -> None:
        i, wrapped = step()
        if wrapped or (tracker is not None and not tracker.initialised):
            predictor.reset()
            predictor(frames[0], init=init)
        predictor(frames[i + 1])

    def template() -> None:
        predictor.reset()
        predictor(frames[0], init=init)

    return [
        Probe("model", model, "the search network alone (one call per tracked frame)", unit="frame"),
        Probe("pipeline", pipeline, "crop + search network + decode per tracked frame", unit="frame"),
        Probe("template", template, "the first frame: template crop + network (once per video)", unit="video"),
    ]
