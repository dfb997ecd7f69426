"""Hook implementations of the classifier plugin. Imports no torch at module level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo import hookimpl
from zoo.results import Classification
from zoo.specs import ExportRecipe, ModelSpec, PostSpec, PreSpec, TensorSpec, default_recipes
from zoo.tasks import HubInfo, TaskDef, TaskOption, positive
from zoo_classifier import processing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_PRE = PreSpec(kind="resize_crop", size=(224, 224), resize=256, mean=IMAGENET_MEAN, std=IMAGENET_STD)

# EfficientNet-Lite's input is (x - 127) / 128 on 0..255 RGB (tensorflow/tpu efficientnet_lite_builder
# MEAN_RGB / STDDEV_RGB), written with scale 1 so it is exact in float32. Its evaluation crops the
# central 224/256 of the shorter side and resizes it bicubically to 224 (tensorflow/tpu
# preprocessing.preprocess_for_eval); resize_crop 256 → 224 bicubic is that crop, as timm
# evaluates these weights (crop_pct 0.875, bicubic).
LITE_PRE = PreSpec(
    kind="resize_crop",
    size=(224, 224),
    resize=256,
    interpolation="bicubic",
    scale=1.0,
    mean=(127.0, 127.0, 127.0),
    std=(128.0, 128.0, 128.0),
)


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


# Measured with benchmarks/int8_speed.py --model efficientnet-lite0 (see its docstring): with every
# layer int8, top-1 agreement with fp32 is ~83 % and ncnn's x86 int8 depth-wise kernels make it no
# faster; depth-wise layers in fp32, bias correction and centred ReLU6 outputs give ~96 % (100 % on
# inputs whose fp32 top-2 margin is >= 0.05) at 1.7-1.9x the fp32 speed (1 thread), 1.4-1.5x (2).
# kl beats minmax (cosine 0.9984 vs 0.9978) and aciq (0.991) with these options.
LITE0_INT8_METHOD = "kl"
LITE0_INT8_OPTIONS: dict[str, Any] = {
    "keep_float_types": ["ConvolutionDepthWise"],
    "bias_correction": True,
    "centre_clipped": True,
}


def _lite_recipes() -> dict[str, ExportRecipe]:
    """The default recipes, with EfficientNet-Lite's int8 options added to the ncnn int8 precision."""
    recipes = default_recipes(int8_method=LITE0_INT8_METHOD)
    ncnn = recipes["ncnn"]
    int8 = ncnn.precisions["int8"]
    options = {**int8.options, "int8": {**int8.options.get("int8", {}), **LITE0_INT8_OPTIONS}}
    precisions = {**ncnn.precisions, "int8": int8.model_copy(update={"options": options})}
    return {**recipes, "ncnn": ncnn.model_copy(update={"precisions": precisions})}


def _efficientnet_lite0() -> ModelSpec:
    return ModelSpec(
        id="efficientnet-lite0",
        task="classifier",
        family="efficientnet-lite",
        aliases=("efficientnet_lite0",),
        description="EfficientNet-Lite0, ImageNet-1k, 4.65 M params, 0.39 G MACs: ReLU6, no SE, built for int8.",
        source="tensorflow/tpu efficientnet/lite (Tan & Le, 2019), PyTorch port efficientnet-lite-pytorch",
        inputs=(TensorSpec(name="in0", shape=(1, 3, 224, 224)),),
        outputs=(TensorSpec(name="out0", shape=(1, 1000)),),
        pre=LITE_PRE,
        post=PostSpec(decoder="topk", labels="imagenet", params={"top_k": 5}),
        recipes=_lite_recipes(),
        license="Apache-2.0",
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
    register(_efficientnet_lite0())


_BUILDERS = {"resnet18": "resnet18", "resnet34": "resnet34", "efficientnet-lite0": "efficientnet_lite0"}


@hookimpl
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    if spec.id not in _BUILDERS:
        return None
    from zoo.checkpoints import load_state_dict, load_strict

    if spec.family == "efficientnet-lite":
        from zoo_classifier import efficientnet_lite

        model = getattr(efficientnet_lite, _BUILDERS[spec.id])()
        randomize = efficientnet_lite.randomize
    else:
        from zoo_classifier import resnet

        model = getattr(resnet, _BUILDERS[spec.id])()
        randomize = resnet.randomize_batchnorm
    if weights is None:
        randomize(model, seed=0)
    else:
        load_strict(model, load_state_dict(weights), source=str(weights))
    return model.eval()
