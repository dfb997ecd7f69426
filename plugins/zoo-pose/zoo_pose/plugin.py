"""Hook implementations of the pose plugin. Imports no torch at module level.

Written against today's core (one network, one image): the task's preprocess takes the whole
image as the person box, so export, parity, int8 calibration and the model-only bench work now.
The top-down pipeline behind a detector (``zoo_pose.processing.estimate_poses``) waits for the
core's predictors with parts and solutions (issue 7); see the plugin's README.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from zoo import hookimpl
from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec, default_recipes
from zoo.tasks import TaskDef
from zoo_pose import blazepose, metrics, processing, result
from zoo_pose.keypoints import COCO_KEYPOINTS
from zoo_pose.topdown import RTMPOSE_MEAN, RTMPOSE_STD

RTMPOSE_INPUT = (256, 192)
"""(h, w) of RTMPose's COCO 256×192 models."""
SPLIT_RATIO = 2.0


def _config(pre: PreSpec, split_ratio: float = SPLIT_RATIO) -> processing.TopDownConfig:
    """PreSpec (x · scale − mean) / std → the crop pipeline's (x − mean') / std' in pixel units."""
    h, w = pre.size
    mean = tuple(m / pre.scale for m in pre.mean)
    std = tuple(v / pre.scale for v in pre.std)
    return processing.TopDownConfig(input_size=(w, h), split_ratio=split_ratio, mean=mean, std=std)  # type: ignore[arg-type]


def preprocess(image: np.ndarray, pre: PreSpec) -> tuple[np.ndarray, dict[str, Any]]:
    return processing.preprocess(image, _config(pre))


def postprocess(outputs: Mapping[str, np.ndarray], context: dict[str, Any], spec: ModelSpec,
                options: Mapping[str, Any]) -> result.Poses:
    ctx = dict(context, config=_config(spec.pre, float(spec.post.params.get("split_ratio", SPLIT_RATIO))))
    if spec.post.decoder == "blazepose":
        return blazepose.postprocess(outputs, ctx)
    return processing.postprocess(outputs, ctx)


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
        # mmpose's data preprocessor: RGB, (x − mean) / std in 0..255 units; 'resize' stands for
        # the top-down affine crop until the core lets a task own its PreSpec kinds
        pre=PreSpec(kind="resize", size=RTMPOSE_INPUT, scale=1.0, mean=RTMPOSE_MEAN, std=RTMPOSE_STD,
                    channel_order="RGB"),
        post=PostSpec(decoder="simcc", params={"split_ratio": SPLIT_RATIO, "padding": 1.25}),
        recipes=default_recipes(),
        notes="out0/out1 = SimCC x (384 bins) / y (512 bins) logits per keypoint; argmax / 2 = crop pixel. "
        "Top-down: needs person boxes (a detector) per frame.",
    )


def _blazepose_lite() -> ModelSpec:
    return ModelSpec(
        id="blazepose-lite",
        task="pose",
        family="blazepose",
        aliases=("mediapipe-pose-lite",),
        description="MediaPipe BlazePose landmark (lite), 33 landmarks reported as the 17 COCO keypoints, "
        "top-down, 1.36 M params, 256×256 crops; trained weights from the @mediapipe/pose npm package.",
        source="@mediapipe/pose 0.5.1675469404 pose_landmark_lite.tflite, rebuilt in torch from the flatbuffer",
        inputs=(TensorSpec(name="in0", shape=(1, 3, 256, 256)),),
        outputs=(TensorSpec(name="out0", shape=(1, blazepose.POINTS * blazepose.VALUES)),
                 TensorSpec(name="out1", shape=(1, 1))),
        pre=PreSpec(kind="resize", size=(256, 256), scale=1 / 255, channel_order="RGB"),
        post=PostSpec(decoder="blazepose", params={"padding": 1.25}),
        recipes=default_recipes(),
        notes="out0 = 39 points × (x, y, z, visibility logit, presence logit) in crop pixels; out1 = person "
        "presence. Crops are zoo's square top-down crops, not MediaPipe's rotated ROI.",
    )


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    register(
        TaskDef(
            name="pose",
            description="2-D human pose: 17 COCO keypoints per person.",
            default_metric="keypoint AP (OKS)",
            preprocess=preprocess,
            postprocess=postprocess,  # type: ignore[arg-type]
            agreement=metrics.agreement,  # type: ignore[arg-type]
            draw=result.draw,  # type: ignore[arg-type]
        )
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(_rtmpose_s())
    register(_blazepose_lite())


def calibration_batch(spec: ModelSpec) -> Any:
    """The embedded sample photos as the task preprocesses them, for random weights' BatchNorm
    statistics (torch tensor)."""
    import torch

    from zoo.images import sample_images

    crops = [preprocess(img, spec.pre)[0] for img in sample_images(4)]
    mirrored = [preprocess(np.ascontiguousarray(img[:, ::-1]), spec.pre)[0] for img in sample_images(4)]
    return torch.from_numpy(np.concatenate(crops + mirrored))


def _build_blazepose_lite(weights: str | None) -> Any:
    """The landmark graph from the .tflite (or the npm tarball holding it), landmarks and presence
    as outputs. There is no random-weights version: the graph itself comes from the file."""
    from zoo.errors import CheckpointError
    from zoo_pose.loaders import load_tflite_bytes
    from zoo_pose.nets.tflite_graph import TFLiteGraph

    if weights is None:
        raise CheckpointError("blazepose-lite is rebuilt from its .tflite file, so it has no random-weights "
                              "version; run `zoo pull blazepose-lite` or pass --weights PATH to the npm tarball")
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
