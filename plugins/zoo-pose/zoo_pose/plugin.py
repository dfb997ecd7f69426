"""Hook implementations of the pose plugin. Imports no torch at module level.

The pose task: its predictors (top-down models behind a detector, detector + pose solutions;
``zoo_pose.predictors``), options, OKS agreement, COCO keypoint evaluator and bench probes; the
rtmpose-s and blazepose-lite models; the rtmpose-s-person solution. Bottom-up models of the task
come from other plugins with their own predictors (yolov8n-pose: zoo-detector).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from zoo import hookimpl
from zoo.results import Poses
from zoo.specs import ModelSpec, PostSpec, PreSpec, RoleSpec, TensorSpec, default_recipes
from zoo.tasks import HubInfo, TaskDef, TaskOption, in_unit_interval, positive
from zoo_pose import blazepose, metrics, predictors, processing
from zoo_pose.coco_keypoints import KeypointEvaluator
from zoo_pose.keypoints import COCO_KEYPOINTS
from zoo_pose.predictors import SPLIT_RATIO, TopDownPredictor, bench_probes, topdown_config
from zoo_pose.topdown import RTMPOSE_MEAN, RTMPOSE_STD

__all__ = ["TopDownPredictor", "bench_probes", "topdown_config"]

RTMPOSE_INPUT = (256, 192)
"""(h, w) of RTMPose's COCO 256×192 models."""


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
        # int8 ranges by min-max: on 7 real people (ultralytics' bus/zidane photos, the astronaut),
        # int8 keypoints scored against fp32 ones reach keypoint AP 0.74 with min-max, 0.69 with KL
        recipes=default_recipes(int8_method="minmax"),
        license="Apache-2.0",
        notes="out0 = 39 points × (x, y, z, visibility logit, presence logit) in crop pixels; out1 = person "
        "presence. Crops are zoo's square top-down crops, not MediaPipe's rotated ROI.",
    )


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    register(
        TaskDef(
            name="pose",
            description="2-D human pose: 17 COCO keypoints per person (top-down behind a person detector, or "
            "bottom-up).",
            result_type=Poses,
            default_metric="AP (OKS)",
            agreement=metrics.agreement,
            predictor=predictors.make_predictor,
            # affine: top-down crops (this plugin's predictor); letterbox: bottom-up models, which come
            # with their own predictor (build_predictor in their plugin)
            pre_kinds=("affine", "letterbox"),
            options=(
                TaskOption("person_conf", float, None, "score a person needs (default: 0.3 for a detector's boxes, "
                           "as mmpose's demo; a bottom-up model's own; eval: 0.001 for bottom-up models)",
                           ("run", "bench", "eval"), in_unit_interval),
                TaskOption("max_people", int, None, "at most this many people per frame, best boxes first",
                           ("run", "bench", "eval"), positive),
                TaskOption("flip_test", bool, False, "also run each crop mirrored and average (SimCC models; "
                           "mmpose's published AP uses it; twice the network time)", ("run", "eval")),
                TaskOption("boxes", str, "ground-truth", "zoo eval of a top-down model: people from the dataset's "
                           "boxes ('ground-truth') or from --detector ('detector')", ("eval",),
                           lambda v: None if v in ("ground-truth", "detector") else "use ground-truth or detector"),
            ),
            # random-weights bottom-up models score people about 1e-3 (the class prior): compare them all
            parity_options={"person_conf": 1e-4},
            parity_items=predictors.parity_items,
            calibration_items=predictors.calibration_items,
            bench_probes=bench_probes,
            evaluator=KeypointEvaluator(),
            hub=HubInfo(pipeline_tag="keypoint-detection", tags=("pose-estimation",)),
        )
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(_rtmpose_s())
    register(_blazepose_lite())


@hookimpl
def register_solutions(register: Callable[[ModelSpec], None]) -> None:
    register(ModelSpec(
        id="rtmpose-s-person",
        task="pose",
        family="rtmpose",
        description="Top-down pose as users run it: yolov8n finds the people, rtmpose-s estimates each.",
        roles={"detector": RoleSpec(task="detector", default="yolov8n", description="finds the people"),
               "pose": RoleSpec(task="pose", default="rtmpose-s", description="a top-down model, run per person")},
        license="Apache-2.0 (rtmpose-s) + AGPL-3.0 (yolov8n)",
        datasets=("coco",),
    ))


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
    as outputs; with no weights, the same graph (its stored structure) with seeded random weights."""
    from zoo_pose.loaders import load_tflite_bytes
    from zoo_pose.nets.tflite_graph import GraphDesc, TFLiteGraph, randomize

    if weights is None:
        return randomize(TFLiteGraph(GraphDesc.from_json(blazepose.graph_description())), seed=0).eval()
    graph = TFLiteGraph.from_tflite(load_tflite_bytes(weights, blazepose.LANDMARK_MEMBER), source=str(weights),
                                    outputs=(0, 1))
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
