"""Hook implementations of the detector plugin. Imports no torch at module level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo import hookimpl
from zoo.eval.coco import BoxEvaluator
from zoo.results import Detections
from zoo.specs import ExportRecipe, ModelSpec, PostSpec, PreSpec, TensorSpec, default_recipes
from zoo.tasks import HubInfo, TaskDef, TaskOption, in_unit_interval, positive
from zoo_detector import processing, result

YOLO_SIZE = (640, 640)
FCOS_SIZE = (640, 640)
"""FCOS runs at a static 640×640 letterbox (torchvision resizes the shorter side to 800, up to
1333): 0.64× the pixels of 800×800 on a Pi, at some cost in small-object recall."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _minmax_int8_recipes() -> dict[str, ExportRecipe]:
    """The default chain, with int8 activation ranges by min-max instead of KL.

    Measured (benchmarks/int8_detector.py: a yolov8n that Ultralytics trains here on synthetic
    shapes, 48 held-out images): int8 boxes scored against fp32 boxes reach mAP 0.905 with
    min-max, 0.695 with ACIQ and 0.537 with KL. KL clips the long positive tails of SiLU
    activations, which carry the large logits that separate a confident box from the rest.
    YOLOX shares the SiLU/CSP design. (resnet18, ReLU, keeps KL: 92% vs 83% top-1 agreement.)
    """
    return default_recipes(int8_method="minmax")


def _anchors(size: tuple[int, int], strides: tuple[int, ...]) -> int:
    return sum(-(-size[0] // s) * -(-size[1] // s) for s in strides)


def _yolov8n() -> ModelSpec:
    strides = (8, 16, 32)
    return ModelSpec(
        id="yolov8n",
        task="detector",
        family="yolov8",
        aliases=("yolov8n-coco",),
        description="YOLOv8n, COCO 80 classes, 3.2 M params, 640×640.",
        source="Ultralytics YOLOv8 (ultralytics/cfg/models/v8/yolov8.yaml, scale n)",
        inputs=(TensorSpec(name="in0", shape=(1, 3, *YOLO_SIZE)),),
        outputs=(TensorSpec(name="out0", shape=(1, 4 * 16 + 80, _anchors(YOLO_SIZE, strides)), layout="NCA"),),
        pre=PreSpec(kind="letterbox", size=YOLO_SIZE, scale=1 / 255, channel_order="RGB", pad_value=114),
        post=PostSpec(decoder="yolov8", labels="coco",
                      params={"conf": 0.25, "iou": 0.45, "max_det": 300, "strides": list(strides), "reg_max": 16,
                              "max_candidates": 1000}),
        recipes=_minmax_int8_recipes(),
        license="AGPL-3.0",
        datasets=("coco",),
        notes="Raw head out0 = 64 DFL logits (4 sides × 16 bins) + 80 class logits per anchor; decoded in numpy.",
    )


def _yolox_s() -> ModelSpec:
    strides = (8, 16, 32)
    return ModelSpec(
        id="yolox-s",
        task="detector",
        family="yolox",
        aliases=("yolox_s",),
        description="YOLOX-S, COCO 80 classes, 9.0 M params, 640×640.",
        source="Megvii-BaseDetection/YOLOX (exps/default/yolox_s.py: depth 0.33, width 0.50)",
        inputs=(TensorSpec(name="in0", shape=(1, 3, *YOLO_SIZE)),),
        outputs=(TensorSpec(name="out0", shape=(1, 4 + 1 + 80, _anchors(YOLO_SIZE, strides)), layout="NCA"),),
        # Megvii's ValTransform (legacy=False): BGR as OpenCV reads it, 0..255, no mean/std.
        pre=PreSpec(kind="letterbox", size=YOLO_SIZE, scale=1.0, channel_order="BGR", pad_value=114),
        post=PostSpec(decoder="yolox", labels="coco",
                      params={"conf": 0.25, "iou": 0.45, "max_det": 300, "strides": list(strides),
                              "max_candidates": 1000}),
        recipes=_minmax_int8_recipes(),
        license="Apache-2.0",
        datasets=("coco",),
        notes="Raw head out0 = dx, dy, log w, log h, objectness logit, 80 class logits per anchor. "
        "Letterbox is centred; Megvii pads bottom/right only (same scale, boxes map back either way).",
    )


def _fcos() -> ModelSpec:
    strides = (8, 16, 32, 64, 128)
    return ModelSpec(
        id="fcos",
        task="detector",
        family="fcos",
        aliases=("fcos-resnet50-fpn",),
        description="FCOS ResNet-50-FPN, COCO (torchvision's 91 category ids), 32.3 M params, 640×640.",
        source="torchvision.models.detection.fcos_resnet50_fpn (Tian et al., FCOS, 2019)",
        inputs=(TensorSpec(name="in0", shape=(1, 3, *FCOS_SIZE)),),
        outputs=(TensorSpec(name="out0", shape=(1, 4 + 1 + 91, _anchors(FCOS_SIZE, strides)), layout="NCA"),),
        # torchvision normalises inside GeneralizedRCNNTransform; here it is numpy preprocessing,
        # so the exported network starts at the backbone and int8 calibration sees the same input.
        pre=PreSpec(kind="letterbox", size=FCOS_SIZE, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    channel_order="RGB", pad_value=114),
        post=PostSpec(decoder="fcos", labels="coco91",
                      params={"conf": 0.2, "iou": 0.6, "max_det": 100, "strides": list(strides),
                              "topk_candidates": 1000, "max_candidates": 1000}),
        license="BSD-3-Clause",
        datasets=("coco",),
        notes="Raw head out0 = ltrb (ReLU'd, stride units), centerness logit, 91 class logits per anchor. "
        "Static 640×640 letterbox instead of torchvision's 800-1333 resize.",
    )


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    both = ("run", "eval")
    register(
        TaskDef(
            name="detector",
            description="Object detection: boxes, classes and scores per image.",
            result_type=Detections,
            default_metric="mAP50-95",
            preprocess=processing.preprocess,
            postprocess=processing.postprocess,
            agreement=result.agreement,
            pre_kinds=("letterbox",),
            # None = the model's own default (spec.post.params); zoo eval's evaluator uses COCO's
            # convention (conf 0.001, iou 0.6) unless given.
            options=(
                TaskOption("conf", float, None, "score threshold (default: the model's; eval: 0.001)", both,
                           in_unit_interval),
                TaskOption("iou", float, None, "NMS IoU threshold (default: the model's; eval: 0.6)", both,
                           in_unit_interval),
                TaskOption("max_det", int, None, "at most this many boxes (default: the model's)", both, positive),
                TaskOption("top_k", int, None, "only the K highest-scoring boxes", ("run",), positive),
            ),  # fmt: skip
            # Parity compares boxes at a threshold below COCO-eval's 0.001: random weights keep the
            # Ultralytics class prior (scores about 1e-4), and would otherwise give no boxes at all.
            parity_options={"conf": 1e-4},
            evaluator=BoxEvaluator(defaults={"conf": 0.001, "iou": 0.6}),
            hub=HubInfo(pipeline_tag="object-detection"),
        )
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(_yolov8n())
    register(_yolox_s())
    register(_fcos())


def _build_yolov8n(weights: str | None) -> Any:
    from zoo.checkpoints import load_strict
    from zoo_detector.loaders import load_ultralytics
    from zoo_detector.nets.yolov8 import yolov8n

    model = yolov8n()
    if weights is not None:
        load_strict(model, load_ultralytics(weights), source=str(weights))
    return model


def _build_yolox_s(weights: str | None) -> Any:
    from zoo.checkpoints import load_state_dict, load_strict
    from zoo_detector.nets.yolox import yolox_s

    model = yolox_s()
    if weights is not None:
        load_strict(model, load_state_dict(weights, key="model"), source=str(weights))
    return model


def _random_yolox_input_scale(model: Any) -> None:
    """YOLOX takes 0..255 pixels: scale the random stem by 1/255 so activations stay O(1), as the
    other random models' do (otherwise logits reach ±400, every score saturates at 1.0 and NMS
    ties make parity meaningless)."""
    import torch

    with torch.no_grad():
        model.backbone.backbone.stem.conv.conv.weight.mul_(1 / 255)


def _build_fcos(weights: str | None) -> Any:
    from zoo.checkpoints import load_state_dict, load_strict
    from zoo_detector.nets.fcos import fcos_resnet50_fpn, upgrade_fpn_keys

    model = fcos_resnet50_fpn()
    if weights is not None:
        load_strict(model, upgrade_fpn_keys(load_state_dict(weights)), source=str(weights))
    return model


_BUILDERS: dict[str, Callable[[str | None], Any]] = {
    "yolov8n": _build_yolov8n,
    "yolox-s": _build_yolox_s,
    "fcos": _build_fcos,
}


@hookimpl
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    builder = _BUILDERS.get(spec.id)
    if builder is None:
        return None
    from zoo_detector.nets.common import randomize

    model = builder(weights)
    if weights is None:
        randomize(model, seed=0)
        if spec.id == "yolox-s":
            _random_yolox_input_scale(model)
    return model.eval()
