"""The pose task's predictors, and what its benchmarks, parity checks and int8 calibration run on.

* ``TopDownPredictor`` (a top-down model: rtmpose-s, blazepose-lite): person boxes from the
  model's ``detector`` part (``--detector MODEL``), or given with the item (``PersonBoxes``:
  ground-truth boxes in ``zoo eval``, the person count fixed in a benchmark), or — with neither, as
  when a benchmark or evaluation leaves the role empty — the whole image as one person (what
  mmpose's ``inference_topdown`` does without boxes). Each box is cropped (``zoo_pose.topdown``),
  the ``model`` component runs once per crop (ncnn has no batch), and the outputs are decoded.
* ``DetectorPoseSolution`` (a solution such as ``rtmpose-s-person``): its ``detector`` part finds
  the people, its ``pose`` part (a top-down model) estimates each.
* Bottom-up models (yolov8n-pose) bring their own predictor through ``build_predictor``; the
  probes below time them on the same frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.results import Poses
from zoo.specs import ModelSpec
from zoo.tasks import Predictor, Probe, TaskDef
from zoo_pose import blazepose, processing
from zoo_pose.simcc import flip_simcc

PERSON = "person"
PERSON_CONF = 0.3
"""Detector score a person box needs by default (mmpose's top-down demo ``bbox_thr``)."""
BENCH_PEOPLE = (1, 5)
"""Top-down cost grows with the number of people: ``zoo bench`` times frames with these many."""
SPLIT_RATIO = 2.0


def topdown_config(spec: ModelSpec) -> processing.TopDownConfig:
    """PreSpec (x · scale − mean) / std → the crop pipeline's (x − mean') / std' in pixel units."""
    pre, post = spec.pre, spec.post
    if pre is None or post is None:
        raise ValueError(f"{spec.id}: a top-down pose spec needs pre= and post=")
    h, w = pre.size
    mean = tuple(m / pre.scale for m in pre.mean)
    std = tuple(v / pre.scale for v in pre.std)
    return processing.TopDownConfig(input_size=(w, h), split_ratio=float(post.params.get("split_ratio", SPLIT_RATIO)),
                                    mean=mean, std=std,  # type: ignore[arg-type]
                                    padding=float(post.params.get("padding", processing.BOX_PADDING)))


def is_top_down(spec: ModelSpec) -> bool:
    """A model that crops people someone else found: it declares a ``detector`` role."""
    return not spec.is_solution and "detector" in spec.roles


def detect_people(predictor: Predictor, image: np.ndarray, options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The ``detector`` part's person boxes scoring at least ``person_conf`` (default 0.3)."""
    conf = float(options["person_conf"]) if options.get("person_conf") is not None else PERSON_CONF
    # the detector keeps boxes down to the person threshold (its own default may be higher)
    det = predictor.part("detector", image, conf=conf)
    names = tuple(getattr(det, "names", ()))
    boxes = np.asarray(getattr(det, "boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4)
    scores = np.asarray(getattr(det, "scores", np.zeros(0)), np.float32).reshape(-1)
    if len(names) != len(boxes):
        raise InputError("the detector's result names no class per box; a top-down pose model needs a "
                         "detector whose results say which boxes are people")
    keep = np.array([n == PERSON for n in names], bool) & (scores >= conf)
    return boxes[keep], scores[keep]


class TopDownPredictor(Predictor):
    """Boxes (detector part, the item's own, or the whole image) → one crop per person through the
    ``model`` component → Poses."""

    def predict(self, item: Any, options: Mapping[str, Any]) -> Poses:
        from zoo.images import as_image

        image = as_image(item)
        config = topdown_config(self.spec)
        if isinstance(item, processing.PersonBoxes):
            boxes, scores = item.boxes, item.scores
        elif "detector" in self.parts:
            boxes, scores = detect_people(self, image, options)
        else:
            boxes, scores = processing.whole_image_box(image), None
        boxes, scores = processing.check_boxes(boxes, scores)
        if options.get("max_people") is not None:
            order = np.argsort(-scores, kind="stable")[: int(options["max_people"])]
            boxes, scores = boxes[order], scores[order]
        if not len(boxes):
            return processing.empty_poses(image.shape, config)
        name = self.spec.components["model"].inputs[0].name
        decoder = self.spec.post.decoder if self.spec.post is not None else "simcc"
        if options.get("flip_test") and decoder != "simcc":
            raise InputError(f"--flip-test averages SimCC outputs; {self.spec.id}'s are not SimCC")
        with self.stage("pre"):
            x, center, scale = processing.crops_for(image, boxes, config)
            if options.get("flip_test"):
                x = np.concatenate([x, np.ascontiguousarray(x[..., ::-1])])
        calls = [self.infer("model", {name: x[i:i + 1]}) for i in range(len(x))]  # ncnn runs batch 1
        with self.stage("post"):
            outputs = tuple(np.concatenate([c[n] for c in calls]) for n in sorted(calls[0]))  # out0, out1
            if decoder == "blazepose":
                return blazepose.decode_outputs(outputs, boxes, scores, center, scale, image.shape[:2], config)
            if len(x) > len(boxes):  # flip test: average with the mirrored crops, mapped back
                n = len(boxes)
                fx, fy = flip_simcc(outputs[0][n:], outputs[1][n:], config.flip_indices)
                outputs = ((outputs[0][:n] + fx) * 0.5, (outputs[1][:n] + fy) * 0.5)
            return processing.decode_simcc_outputs(outputs, boxes, scores, center, scale, image.shape[:2], config)


class DetectorPoseSolution(Predictor):
    """A detector + top-down pose solution: the ``detector`` part finds people (or the item gives
    them), the ``pose`` part estimates each person's keypoints."""

    def predict(self, item: Any, options: Mapping[str, Any]) -> Poses:
        from zoo.images import as_image

        pose = self.parts["pose"]
        if not is_top_down(pose.spec):
            raise InputError(f"--pose {pose.spec.id} finds people itself (bottom-up); {self.spec.id} pairs a detector "
                             "with a top-down pose model (e.g. rtmpose-s)")
        image = as_image(item)
        if isinstance(item, processing.PersonBoxes):
            boxes, scores = item.boxes, item.scores
        else:
            boxes, scores = detect_people(self, image, options)
        passed = {k: options[k] for k in ("max_people", "flip_test") if options.get(k) is not None}
        return self.part("pose", processing.PersonBoxes(image, boxes, scores), **passed)  # type: ignore[no-any-return]


def make_predictor(spec: ModelSpec, task: TaskDef, sessions: Mapping[str, Any],
                   parts: Mapping[str, Predictor]) -> Predictor:
    """The pose task's predictor factory: a solution's, or a top-down model's (affine crops; a
    bottom-up model brings its own predictor through its plugin's ``build_predictor``)."""
    if spec.is_solution:
        return DetectorPoseSolution(spec, task, sessions, parts)
    if spec.pre is None or spec.pre.kind != "affine":
        from zoo.errors import PluginError

        raise PluginError(f"{spec.id}: the pose task's predictor crops people (PreSpec kind 'affine'); a "
                          f"{spec.pre.kind if spec.pre else 'pre-less'} model needs its plugin's own build_predictor")
    return TopDownPredictor(spec, task, sessions, parts)


# -- what parity, calibration and benchmarks run on ------------------------------------------------
ASTRONAUT_BOX = (15.0, 15.0, 375.0, 511.0)
"""The person in the embedded astronaut photo (xyxy): the one real person zoo ships."""


def _photo_person(mirror: bool = False) -> processing.PersonBoxes:
    from zoo.images import load_image, sample_image_paths

    path = next(p for p in sample_image_paths() if p.stem == "astronaut")
    image = load_image(path)
    x1, y1, x2, y2 = ASTRONAUT_BOX
    if mirror:
        w = image.shape[1]
        image, (x1, x2) = np.ascontiguousarray(image[:, ::-1]), (w - x2, w - x1)
    return processing.PersonBoxes(image, np.array([[x1, y1, x2, y2]], np.float32), np.ones(1, np.float32))


def _stick_figures(seeds: range, size: tuple[int, int] = (320, 256)) -> list[processing.PersonBoxes]:
    from zoo_pose.synthetic import figure_box, make_image

    items = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        image, figures, _ = make_image(rng, size, 1 + seed % 3)
        boxes = np.asarray([figure_box(k, size) for k in figures], np.float32).reshape(-1, 4)
        keep = (boxes[:, 2] - boxes[:, 0] > 8) & (boxes[:, 3] - boxes[:, 1] > 8)  # figures mostly outside the frame
        items.append(processing.PersonBoxes(image, boxes[keep], np.ones(int(keep.sum()), np.float32)))
    return items


def parity_items(spec: ModelSpec) -> list[Any]:
    """The astronaut photo with its person box, then stick-figure frames with theirs (top-down
    models crop the people; bottom-up ones see the whole frames). Held out from calibration."""
    return [_photo_person(), *_stick_figures(range(100, 104))]


def calibration_items(spec: ModelSpec) -> list[Any]:
    """Person crops for int8 calibration, as inference feeds them: stick-figure frames with their
    boxes and the mirrored astronaut (the parity items are held out)."""
    return [_photo_person(mirror=True), *_stick_figures(range(12))]


def _replay(calls: list[tuple[Any, dict[str, Any]]]) -> Any:
    def run() -> None:
        for session, inputs in calls:
            session.run(inputs)

    return run


def bench_probes(predictor: Predictor, item: Any) -> list[Probe]:
    """'model': the networks alone (a top-down model: one person crop; bottom-up: one frame; a
    detector + pose solution: the detector on a frame and one crop) — the card's latency;
    'pipeline': a frame as users run it; 'people:1' and 'people:5': a 640×480 frame with that many
    people (stick figures), detector included when the model has one."""
    from zoo.images import as_image
    from zoo.measure.worker import network_calls
    from zoo_pose.synthetic import people_frame

    image = as_image(item)
    spec = predictor.spec
    frames = {n: people_frame(n) for n in BENCH_PEOPLE}
    top_down = is_top_down(spec) or spec.is_solution
    pose = predictor.parts["pose"] if spec.is_solution else predictor
    detector = predictor.parts.get("detector")
    if top_down:
        if not is_top_down(pose.spec):
            raise InputError(f"{pose.spec.id} is bottom-up; {spec.id} needs a top-down pose model")
        crop = processing.PersonBoxes(frames[1][0], frames[1][1], np.ones(1, np.float32))
        calls = network_calls(pose, crop)  # one crop through the pose network
        if detector is not None and spec.is_solution:
            calls = network_calls(detector, frames[1][0]) + calls
        what = ("the detector on a frame + the pose network on one person crop" if spec.is_solution
                else "the pose network on one person crop")
    else:
        calls = network_calls(predictor, frames[1][0])
        what = "the network on one frame (it finds every person itself)"
    probes = [
        Probe("model", _replay(calls), what),
        Probe("pipeline", lambda: predictor(image), "a frame as users run it: " + (
            ("the detector, then crops + the pose network per person found + decoding" if detector is not None
             else "no detector given: the whole frame as one person crop + decoding") if top_down
            else "letterbox + the network + decoding + NMS")),
    ]
    for n, (frame, boxes) in frames.items():
        s = "s" if n > 1 else ""
        if top_down:
            given = processing.PersonBoxes(frame, boxes, np.ones(n, np.float32))

            def run(given: Any = given, frame: np.ndarray = frame) -> Any:
                if detector is not None:
                    detector(frame)  # the detector's cost on the frame; the n people are given
                return predictor(given)

            how = (f"the detector on the frame, then {n} person crop{s} through the pose network (the {n} "
                   f"box{'es' if n > 1 else ''} given, so the count is fixed) + decoding") if detector is not None \
                else f"{n} person crop{s} through the pose network + decoding (no detector: --detector adds it)"
        else:
            def run(frame: np.ndarray = frame) -> Any:
                return predictor(frame)

            how = f"the network on the frame + decoding + NMS (one network call whatever the count of {n})"
        probes.append(Probe(f"people:{n}", run, f"a frame with {n} {'people' if n > 1 else 'person'}: " + how,
                            unit="frame"))
    return probes
