"""yolov8n-pose: a bottom-up model of the pose task (registered by the pose plugin), built from
this plugin's YOLOv8 parts. One network finds the people and their keypoints, so its predictor
(given to the core through ``build_predictor``) is letterbox → network → ``pose_decode``; it
returns ``zoo.results.Poses`` and the pose task's agreement, evaluator and drawing apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.results import Poses
from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec, default_recipes
from zoo.tasks import Predictor
from zoo_detector import pose_decode, processing

YOLO_POSE_SIZE = (640, 640)
KEYPOINTS = (17, 3)
STRIDES = (8, 16, 32)


def yolov8n_pose_spec() -> ModelSpec:
    h, w = YOLO_POSE_SIZE
    anchors = sum(-(-h // s) * -(-w // s) for s in STRIDES)
    return ModelSpec(
        id="yolov8n-pose",
        task="pose",
        family="yolov8",
        aliases=("yolov8n-pose-coco",),
        description="YOLOv8n-pose, COCO 17 keypoints, bottom-up (one network finds people and their keypoints), "
        "3.3 M params, 640×640.",
        source="Ultralytics YOLOv8-pose (ultralytics/cfg/models/v8/yolov8-pose.yaml, scale n)",
        inputs=(TensorSpec(name="in0", shape=(1, 3, h, w)),),
        outputs=(TensorSpec(name="out0", shape=(1, 4 * 16 + 1 + KEYPOINTS[0] * KEYPOINTS[1], anchors), layout="NCA"),),
        pre=PreSpec(kind="letterbox", size=YOLO_POSE_SIZE, scale=1 / 255, channel_order="RGB", pad_value=114),
        # Ultralytics' predict defaults: conf 0.25, iou 0.7, max_det 300
        post=PostSpec(decoder="yolov8-pose",
                      params={"conf": 0.25, "iou": 0.7, "max_det": 300, "strides": list(STRIDES), "reg_max": 16,
                              "classes": 1, "keypoints": list(KEYPOINTS), "max_candidates": 1000}),
        # int8 ranges by min-max, as the detectors' (plugin._minmax_int8_recipes: SiLU tails carry the logits)
        recipes=default_recipes(int8_method="minmax"),
        license="AGPL-3.0",
        datasets=("coco",),
        notes="Raw head out0 = 64 DFL logits + person logit + 17 × (x, y, visibility logit) per anchor; decoded "
        "in numpy (zoo_detector.pose_decode).",
    )


class YoloPosePredictor(Predictor):
    """Letterbox → the network → decode + NMS → Poses in image pixels.

    Bottom-up: the network finds the people, so person boxes an item carries (``PersonBoxes`` in
    ``zoo eval`` or a benchmark) are not used; only its image is.
    """

    def predict(self, item: Any, options: Mapping[str, Any]) -> Poses:
        from zoo.errors import InputError
        from zoo.images import as_image

        if options.get("flip_test"):
            raise InputError(f"--flip-test averages a top-down model's crops; {self.spec.id} is bottom-up and has none")
        image = as_image(item)
        assert self.spec.pre is not None
        with self.stage("pre"):
            x, context = processing.preprocess(image, self.spec.pre)
        outputs = self.infer("model", {self.spec.component.inputs[0].name: x})
        with self.stage("post"):
            raw = processing._raw_head(outputs, self.spec)
            return pose_decode.postprocess_pose(raw, context["letterbox"], context["input_hw"], self.spec, options)


def build_yolov8n_pose(weights: str | None) -> Any:
    from zoo.checkpoints import load_strict
    from zoo_detector.loaders import load_ultralytics
    from zoo_detector.nets.yolov8_pose import yolov8n_pose

    model = yolov8n_pose()
    if weights is not None:
        load_strict(model, load_ultralytics(weights), source=str(weights))
    return model


def build_predictor(spec: ModelSpec, task: Any, sessions: Mapping[str, Any],
                    parts: Mapping[str, Predictor]) -> Predictor | None:
    if spec.post is None or spec.post.decoder != "yolov8-pose":
        return None
    return YoloPosePredictor(spec, task, sessions, parts)
