"""Hook implementations of the classifier plugin. Imports no torch at module level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo import hookimpl
from zoo.results import Classification
from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec
from zoo.tasks import HubInfo, TaskDef, TaskOption, positive
from zoo_classifier import processing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_PRE = PreSpec(kind="resize_crop", size=(224, 224), resize=256, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _resnet(model_id: str, description: str) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        task="classifier",
        family="resnet",
        description=description,
        source="torchvision.models (He et al., Deep Residual Learning, 2015)",
        inputs=(TensorSpec(name="in0", shape=(1, 3, 224, 224)),),
        outputs=(TensorSpec(name="out0", shape=(1, 1000)),),
        pre=IMAGENET_PRE,
        post=PostSpec(decoder="topk", labels="imagenet", params={"top_k": 5}),
        license="BSD-3-Clause",
        datasets=("imagenet-1k",),
    )


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    register(
        TaskDef(
            name="classifier",
            description="Image classification: one label distribution per image.",
            result_type=Classification,
            default_metric="top1",
            preprocess=processing.preprocess,
            postprocess=processing.postprocess,
            agreement=processing.agreement,
            pre_kinds=("resize_crop", "resize"),
            options=(TaskOption("top_k", int, None, "how many labels (default: the model's, 5)", check=positive),),
            hub=HubInfo(pipeline_tag="image-classification"),
        )
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(_resnet("resnet18", "ResNet-18, ImageNet-1k, 11.7 M params."))
    register(_resnet("resnet34", "ResNet-34, ImageNet-1k, 21.8 M params."))


_BUILDERS = {"resnet18": "resnet18", "resnet34": "resnet34"}


@hookimpl
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    if spec.id not in _BUILDERS:
        return None
    from zoo.checkpoints import load_state_dict, load_strict
    from zoo_classifier import resnet

    model = getattr(resnet, _BUILDERS[spec.id])()
    if weights is None:
        resnet.randomize_batchnorm(model, seed=0)
    else:
        load_strict(model, load_state_dict(weights), source=str(weights))
    return model.eval()
