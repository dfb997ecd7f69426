"""Hook implementations of the CLIP plugin. Imports no torch at module level.

One task, ``zero-shot``: an image scored against labels given at run time in an image-text
embedding space, and embeddings of images or texts (``zoo embed``). Named for what a user gets
(as ``classifier`` and ``detector`` are), not for one model family: SigLIP or MobileCLIP models
are zero-shot models with the same two towers. Its Hub tag is zero-shot-image-classification.

Models: ``clip-vit-b32`` (OpenAI's ViT-B/32), ``clip-vit-s32`` (open_clip's ViT-S/32: a quarter
of the image tower's MACs) and ``mobileclip2-s0`` (Apple's FastViT-based MobileCLIP2-S0), each
with two components, ``image`` and ``text``, exported separately; the text tower stays fp16
when the model is exported int8 (its linears are ncnn Gemm layers, which zoo's int8 writer does
not quantize, and its inputs are token ids).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo import hookimpl
from zoo.results import ZeroShot
from zoo.specs import ComponentSpec, ModelSpec, PreSpec, TensorSpec, default_recipes
from zoo.tasks import HubInfo, TaskDef, TaskOption, positive
from zoo_clip import processing
from zoo_clip.agreement import agreement

TASK = "zero-shot"
CONTEXT = 77
PARITY_LABELS = ("a cat", "a dog", "an astronaut", "a rocket", "a cup of coffee", "a horse", "a car", "a bird",
                 "a tree", "a house")  # fmt: skip
"""Labels the parity, calibration and ARM checks (and ``zoo bench``) run the zero-shot pipeline over."""

CLIP_PRE = {"mean": processing.OPENAI_MEAN, "std": processing.OPENAI_STD, "interpolation": "bicubic"}
MOBILECLIP_PRE = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "interpolation": "bilinear"}

BUILDERS: dict[str, tuple[str, str]] = {
    "clip-vit-b32": ("zoo_clip.nets.clip", "VIT_B_32_QUICKGELU"),
    "clip-vit-s32": ("zoo_clip.nets.clip", "VIT_S_32"),
    "mobileclip2-s0": ("zoo_clip.nets.mobileclip", "MOBILECLIP2_S0"),
}
"""Model id → (module, config name) of its torch definition."""


def _clip_spec(model_id: str, size: int, dim: int, pre: dict[str, Any], int8_method: str | None = None,
               **fields: Any) -> ModelSpec:  # fmt: skip
    return ModelSpec(
        id=model_id,
        task=TASK,
        components={
            "image": ComponentSpec(
                inputs=(TensorSpec(name="in0", shape=(1, 3, size, size)),),
                outputs=(TensorSpec(name="out0", shape=(1, dim)),),
                description=f"{size}x{size} normalised RGB -> {dim}-d image embedding (not normalised)",
            ),
            "text": ComponentSpec(
                inputs=(TensorSpec(name="in0", shape=(1, CONTEXT), dtype="int64"),
                        TensorSpec(name="in1", shape=(1, CONTEXT))),
                outputs=(TensorSpec(name="out0", shape=(1, dim)),),
                description=f"{CONTEXT} token ids + one-hot end-of-text position -> {dim}-d text embedding",
                export_as={"int8": "fp16"},
            ),
        },  # fmt: skip
        pre=PreSpec(kind="resize_crop", size=(size, size), resize=size, **pre),
        recipes=default_recipes(int8_method, int8_gemm=True),
        **fields,
    )


def _specs() -> list[ModelSpec]:
    return [
        _clip_spec(
            "clip-vit-b32", 224, 512, CLIP_PRE,
            family="clip", aliases=("clip", "clip-b32", "vit-b-32"),
            description="OpenAI CLIP ViT-B/32: 87.8 M image + 63.4 M text parameters, 224x224, 512-d embeddings.",
            source="OpenAI CLIP (Radford et al., 2021) in open_clip's layout (open_clip ViT-B-32-quickgelu)",
            license="MIT", datasets=("openai-wit-400m",), base_model="openai/clip-vit-base-patch32",
        ),
        _clip_spec(
            "clip-vit-s32", 224, 384, CLIP_PRE,
            family="clip", aliases=("clip-s32", "vit-s-32"),
            description="CLIP ViT-S/32 (open_clip ViT-S-32): 22.6 M image + 40.4 M text parameters, 384-d "
            "embeddings; about a quarter of ViT-B/32's image-tower MACs.",
            source="open_clip model config ViT-S-32 (no published weights: --weights random or your own training)",
        ),
        _clip_spec(
            "mobileclip2-s0", 256, 512, MOBILECLIP_PRE, int8_method="minmax",
            family="mobileclip", aliases=("mobileclip-s0",),
            description="Apple MobileCLIP2-S0: FastViT-MCi0 image tower (11.4 M parameters after reparameterization, 256x256) + 12-layer "
            "text transformer (63.4 M), 512-d embeddings.",
            source="open_clip MobileCLIP2-S0 (timm fastvit_mci0 trunk; Faghri et al., MobileCLIP2, 2025)",
            license="apple-amlr", base_model="timm/MobileCLIP2-S0-OpenCLIP",
        ),
    ]  # fmt: skip


def _two_towers(spec: ModelSpec) -> str | None:
    if set(spec.components) != {"image", "text"}:
        return "a zero-shot model has two components, 'image' and 'text'"
    text = spec.components["text"].inputs
    if len(text) != 2 or text[0].dtype not in ("int64", "int32") or text[1].shape != text[0].shape:
        return "the text component takes token ids (int64) and a one-hot end-of-text row of the same shape"
    return None


def _predictor(spec: ModelSpec, task: TaskDef, sessions: Any, parts: Any) -> Any:
    from zoo_clip.predictor import ClipPredictor

    return ClipPredictor(spec, task, sessions, parts)


def _probes(predictor: Any, item: Any) -> Any:
    from zoo_clip.bench import probes

    return probes(predictor, item, PARITY_LABELS)


def _evaluator() -> Any:
    from zoo_clip.evaluate import ClassFolderEvaluator

    return ClassFolderEvaluator()


def _labels_file(value: str) -> str | None:
    path = Path(value)
    return None if path.is_file() else "no such file (one label per line)"


def _labels_given(options: Any) -> str | None:
    if options.get("labels") is None and options.get("labels_file") is None:
        return "zero-shot classification needs labels: pass --labels 'a cat,a dog' or --labels-file FILE"
    if options.get("labels") is not None and options.get("labels_file") is not None:
        return "give --labels or --labels-file, not both"
    return None


def _template(value: str) -> str | None:
    return None if value.count("{}") == 1 else "must contain '{}' exactly once, where the label goes"


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    both = ("run", "eval")
    register(
        TaskDef(
            name=TASK,
            description="Zero-shot image classification over labels given at run time, and image/text "
            "embeddings (CLIP: an image tower and a text tower sharing one embedding space).",
            result_type=ZeroShot,
            default_metric="top1",
            agreement=agreement,
            predictor=_predictor,
            pre_kinds=("resize_crop",),
            check_spec=_two_towers,
            check_options=_labels_given,
            options=(
                TaskOption("labels", str, None, "comma-separated labels, e.g. 'a cat,a dog,a rocket'", ("run",),
                           processing.labels_problem),
                TaskOption("labels_file", str, None, "a UTF-8 text file with one label per line", ("run",),
                           _labels_file),
                TaskOption("template", str, processing.DEFAULT_TEMPLATE,
                           "the prompt each label is put into; {} is the label", both, _template),
                TaskOption("top_k", int, None, "how many labels to print (default 5)", ("run",), positive),
            ),  # fmt: skip
            parity_options={"labels": ",".join(PARITY_LABELS)},
            bench_probes=_probes,
            evaluator=_evaluator(),
            hub=HubInfo(pipeline_tag="zero-shot-image-classification", tags=("clip", "image-text-embeddings")),
        )
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in _specs():
        register(spec)


@hookimpl
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    """{"image": module, "text": module} for this plugin's specs, weights loaded strictly (None: seeded random)."""
    if spec.id not in BUILDERS:
        return None
    import importlib

    module_name, config = BUILDERS[spec.id]
    nets: Any = importlib.import_module(module_name)
    return dict(nets.towers(nets.build(getattr(nets, config), weights)))
