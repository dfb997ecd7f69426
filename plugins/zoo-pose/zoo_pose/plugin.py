"""Hook implementations of the pose plugin. Imports no torch at module level.

The pose task runs top-down models: person boxes from the model's ``detector`` part (``--detector
MODEL``), or given with the item (``PersonBoxes``: ground-truth boxes in ``zoo eval``), or — with
neither, as in the core's parity and int8 calibration runs — the whole image as one person (what
mmpose's ``inference_topdown`` does without boxes). Each box is cropped (``zoo_pose.topdown``),
the ``model`` component runs once per crop, and the crops' outputs are decoded into ``Poses``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from zoo import hookimpl
from zoo.specs import ModelSpec, PostSpec, PreSpec, RoleSpec, TensorSpec, default_recipes
from zoo.tasks import HubInfo, Predictor, Probe, TaskDef, TaskOption, in_unit_interval, positive
from zoo_pose import blazepose, metrics, processing
from zoo_pose.coco_keypoints import KeypointEvaluator
from zoo_pose.keypoints import COCO_KEYPOINTS
from zoo_pose.result import Poses
from zoo_pose.simcc import flip_simcc
from zoo_pose.topdown import RTMPOSE_MEAN, RTMPOSE_STD

RTMPOSE_INPUT = (256, 192)
"""(h, w) of RTMPose's COCO 256×192 models."""
SPLIT_RATIO = 2.0
PERSON = "person"


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


class TopDownPredictor(Predictor):
    """Boxes (detector part, the item's own, or the whole image) → one crop per person through the
    ``model`` component (one call per crop: ncnn has no batch) → Poses."""

    def predict(self, item: Any, options: Mapping[str, Any]) -> Poses:
        from zoo.images import as_image

        image = as_image(item)
        config = topdown_config(self.spec)
        if isinstance(item, processing.PersonBoxes):
            boxes, scores = item.boxes, item.scores
        elif "detector" in self.parts:
            boxes, scores = self._people(image, options)
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
        with self.stage("pre"):
            x, center, scale = processing.crops_for(image, boxes, config)
            if options.get("flip_test") and decoder == "simcc":
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

    def _people(self, image: np.ndarray, options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The detector's person boxes above the person threshold."""
        conf = options.get("person_conf")
        # the detector keeps boxes down to the person threshold (its own default may be higher)
        det = self.part("detector", image, **({"conf": float(conf)} if conf is not None else {}))
        names = tuple(getattr(det, "names", ()))
        boxes = np.asarray(getattr(det, "boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4)
        scores = np.asarray(getattr(det, "scores", np.zeros(0)), np.float32).reshape(-1)
        if len(names) != len(boxes):
            from zoo.errors import InputError

            raise InputError("the detector's result names no class per box; a top-down pose model needs a "
                             "detector whose results say which boxes are people")
        keep = np.array([n == PERSON for n in names], bool) & (scores >= float(options.get("person_conf") or 0.0))
        return boxes[keep], scores[keep]


BENCH_PEOPLE = (1, 5)
"""Top-down cost grows with the number of people: ``zoo bench`` times frames with these many."""


def bench_probes(predictor: Predictor, item: Any) -> list[Probe]:
    """'model': one person crop through the pose network (the card's latency); 'pipeline': a whole
    frame as users run it (the detector, when one fills the role, then every person); and
    'people:N': a frame with N person boxes given (crops, N network calls, decoding; no detector)."""
    from zoo.images import as_image

    image = as_image(item)
    config = topdown_config(predictor.spec)
    name = predictor.spec.components["model"].inputs[0].name
    crop = processing.preprocess(image, config)[0]
    session = predictor.sessions["model"]
    h, w = image.shape[:2]
    # people side by side across the frame, as tall as it
    boxes = np.array([[w * i / 5, 0, w * (i + 1) / 5, h] for i in range(5)], np.float32)
    probes = [
        Probe("model", lambda: session.run({name: crop}), "the pose network on one person crop"),
        Probe("pipeline", lambda: predictor(item), "a frame: detector (when given) + crops + pose network per "
              "person + decoding"),
    ]
    for n in BENCH_PEOPLE:
        frame = processing.PersonBoxes(image, boxes[:n], np.ones(n, np.float32))
        probes.append(Probe(f"people:{n}", lambda frame=frame: predictor(frame),
                            f"a frame with {n} person box{'es' if n > 1 else ''} given: crops, {n} network "
                            "call(s), decoding (no detector)", unit="frame"))
    return probes


def _rtmpose_s() -> ModelSpec:
    h, w = RTMPOSE_INPUT
    k = len(COCO_KEYPOINTS)
    return ModelSpec(
        id="rtmpose-s",
        task="pose",
        family="rtmpose",
        aliases=("rtmpose-s-coco",),
        description="RTMPose-s, COCO 17 keypoints, top-down SimCC, 5.47 M params, 256×192 crops.",
        source="mmpose configs/body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py",
        inputs=(TensorSpec(name="in0", shape=(1, 3, h, w)),),
        outputs=(TensorSpec(name="out0", shape=(1, k, int(w * SPLIT_RATIO))),
                 TensorSpec(name="out1", shape=(1, k, int(h * SPLIT_RATIO)))),
        roles={"detector": RoleSpec(task="detector", description="finds the people to crop")},
        # mmpose's data preprocessor: RGB, (x − mean) / std in 0..255 units, on affine person crops
        pre=PreSpec(kind="affine", size=RTMPOSE_INPUT, scale=1.0, mean=RTMPOSE_MEAN, std=RTMPOSE_STD,
                    channel_order="RGB"),
        post=PostSpec(decoder="simcc", params={"split_ratio": SPLIT_RATIO, "padding": 1.25}),
        recipes=default_recipes(),
        license="Apache-2.0",
        datasets=("coco",),
        notes="out0/out1 = SimCC x (384 bins) / y (512 bins) logits per keypoint; argmax / 2 = crop pixel.",
    )


def _blazepose_lite() -> ModelSpec:
    return ModelSpec(
        id="blazepose-lite",
        task="pose",
        family="blazepose",
        aliases=("mediapipe-pose-lite",),
        description="MediaPipe BlazePose landmark (lite), 33 landmarks reported as the 17 COCO keypoints, "
        "top-down, 1.24 M params, 256×256 crops; trained weights from the @mediapipe/pose npm package.",
        source="@mediapipe/pose 0.5.1675469404 pose_landmark_lite.tflite, rebuilt in torch from the flatbuffer",
        inputs=(TensorSpec(name="in0", shape=(1, 3, 256, 256)),),
        outputs=(TensorSpec(name="out0", shape=(1, blazepose.POINTS * blazepose.VALUES)),
                 TensorSpec(name="out1", shape=(1, 1))),
        roles={"detector": RoleSpec(task="detector", description="finds the people to crop")},
        pre=PreSpec(kind="affine", size=(256, 256), scale=1 / 255, channel_order="RGB"),
        post=PostSpec(decoder="blazepose", params={"padding": 1.25}),
        recipes=default_recipes(),
        license="Apache-2.0",
        notes="out0 = 39 points × (x, y, z, visibility logit, presence logit) in crop pixels; out1 = person "
        "presence. Crops are zoo's square top-down crops, not MediaPipe's rotated ROI.",
    )


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    register(
        TaskDef(
            name="pose",
            description="2-D human pose: 17 COCO keypoints per person (top-down, behind a person detector).",
            result_type=Poses,
            default_metric="AP (OKS)",
            agreement=metrics.agreement,
            predictor=TopDownPredictor,
            pre_kinds=("affine",),
            options=(
                TaskOption("person_conf", float, 0.3, "detector score a person box needs (mmpose demo: 0.3)",
                           ("run", "bench", "eval"), in_unit_interval),
                TaskOption("max_people", int, None, "at most this many people per frame, best boxes first",
                           ("run", "bench", "eval"), positive),
                TaskOption("flip_test", bool, False, "also run each crop mirrored and average (SimCC models; "
                           "mmpose's published AP uses it; twice the network time)", ("run", "eval")),
                TaskOption("boxes", str, "ground-truth", "zoo eval: people from the dataset's boxes "
                           "('ground-truth') or from the detector ('detector')", ("eval",),
                           lambda v: None if v in ("ground-truth", "detector") else "use ground-truth or detector"),
            ),
            bench_probes=bench_probes,
            evaluator=KeypointEvaluator(),
            hub=HubInfo(pipeline_tag="keypoint-detection", tags=("pose-estimation",)),
        )
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(_rtmpose_s())
    register(_blazepose_lite())


def calibration_batch(spec: ModelSpec) -> Any:
    """The embedded sample photos (and mirrors) as whole-image person crops, for random weights'
    BatchNorm statistics (torch tensor)."""
    import torch

    from zoo.images import sample_images

    config = topdown_config(spec)
    images = [*sample_images(4), *(np.ascontiguousarray(img[:, ::-1]) for img in sample_images(4))]
    return torch.from_numpy(np.concatenate([processing.preprocess(img, config)[0] for img in images]))


def _build_blazepose_lite(weights: str | None) -> Any:
    """The landmark graph from the .tflite (or the npm tarball holding it), landmarks and presence
    as outputs. There is no random-weights version: the graph itself comes from the file."""
    from zoo.errors import CheckpointError
    from zoo_pose.loaders import load_tflite_bytes
    from zoo_pose.nets.tflite_graph import TFLiteGraph

    if weights is None:
        raise CheckpointError("blazepose-lite is rebuilt from its .tflite file, so it has no random-weights "
                              "version; pass --weights PATH to the @mediapipe/pose npm tarball (see zoo info)")
    graph = TFLiteGraph(load_tflite_bytes(weights, blazepose.LANDMARK_MEMBER), source=str(weights), outputs=(0, 1))
    return graph.eval()


@hookimpl
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    if spec.id == "blazepose-lite":
        return _build_blazepose_lite(weights)
    if spec.id != "rtmpose-s":
        return None
    import torch

    from zoo.checkpoints import load_strict
    from zoo_pose.loaders import load_mmpose_checkpoint
    from zoo_pose.nets.rtmpose import randomize, rtmpose_s

    torch.manual_seed(0)
    model = rtmpose_s()
    if weights is not None:
        load_strict(model, load_mmpose_checkpoint(weights), source=str(weights))
    else:
        randomize(model, seed=0, calibration=calibration_batch(spec))
    return model.eval()
