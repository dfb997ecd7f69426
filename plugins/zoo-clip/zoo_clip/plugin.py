"""The CLIP plugin's hooks, written against the core's target interface (issue 7), which is not
built yet. Imports no torch at module level.

What is here now: the model table (:data:`MODELS`: each model's components with their ncnn
inputs/outputs, preprocessing, weights and notes) and ``build_model``, which returns the two
towers as ``{"image": module, "text": module}`` for the owner's specs. What waits for the core:
``register_tasks`` (a "clip" TaskDef with the zero-shot and embedding predictors, the
``--labels/--labels-file/--template`` run options, ``embeddings_agreement`` and
``zero_shot_agreement``) and ``register_models`` with component specs; registering a
two-component spec with today's single-input ModelSpec would break the export conformance tests,
so nothing is registered until ComponentSpec exists. See the integration notes in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoo import hookimpl

CONTEXT = 77


@dataclass(frozen=True)
class Component:
    """One separately exported network: its inputs and outputs as pnnx names them."""

    inputs: tuple[tuple[str, tuple[int, ...], str], ...]
    """(name, shape, dtype) in forward-argument order: in0, in1, ..."""
    outputs: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class ClipModel:
    id: str
    config: str
    """Name of the config in ``module`` (zoo_clip.nets.clip or zoo_clip.nets.mobileclip)."""
    module: str
    description: str
    source: str
    image_size: int
    embed_dim: int
    components: dict[str, Component] = field(default_factory=dict)
    weights: str | None = None
    """The open_clip Hub repository of the trained weights (file name to be pinned with its sha256)."""
    pre: dict[str, Any] = field(default_factory=dict)
    """processing.preprocess_image options beyond the size (mean, std, interpolation)."""
    notes: str = ""


def _components(size: int, dim: int) -> dict[str, Component]:
    return {
        "image": Component(inputs=(("in0", (1, 3, size, size), "float32"),), outputs=(("out0", (1, dim)),)),
        "text": Component(inputs=(("in0", (1, CONTEXT), "int64"), ("in1", (1, CONTEXT), "float32")),
                          outputs=(("out0", (1, dim)),)),
    }


MODELS: dict[str, ClipModel] = {
    "clip-vit-b32": ClipModel(
        id="clip-vit-b32",
        config="VIT_B_32_QUICKGELU",
        module="zoo_clip.nets.clip",
        description="OpenAI CLIP ViT-B/32: 87.8 M image + 63.4 M text parameters, 224x224, 512-d embeddings.",
        source="OpenAI CLIP (Radford et al., 2021) in open_clip's layout (open_clip ViT-B-32-quickgelu)",
        image_size=224,
        embed_dim=512,
        components=_components(224, 512),
        weights="hf://timm/vit_base_patch32_clip_224.openai",
        notes="text in1 = one-hot EOT position (the tokenizer computes it); open_clip's argmax gather does not "
        "convert to ncnn. Text ids enter ncnn as int32 (its Embed layer reads int32).",
    ),
    "clip-vit-s32": ClipModel(
        id="clip-vit-s32",
        config="VIT_S_32",
        module="zoo_clip.nets.clip",
        description="CLIP ViT-S/32 (open_clip ViT-S-32): 22.5 M image + 37.8 M text parameters, 384-d embeddings.",
        source="open_clip model config ViT-S-32 (no published weights: --weights random or your own training)",
        image_size=224,
        embed_dim=384,
        components=_components(224, 384),
        notes="Same layout as ViT-B/32 at width 384; about 4x fewer image-tower MACs.",
    ),
    "mobileclip2-s0": ClipModel(
        id="mobileclip2-s0",
        config="MOBILECLIP2_S0",
        module="zoo_clip.nets.mobileclip",
        description="Apple MobileCLIP2-S0: FastViT-MCi0 image tower (11.4 M parameters, 256x256) + 12-layer text "
        "transformer (63.4 M), 512-d embeddings.",
        source="open_clip MobileCLIP2-S0 (timm fastvit_mci0 trunk; Faghri et al., MobileCLIP2, 2025)",
        image_size=256,
        embed_dim=512,
        components=_components(256, 512),
        weights="hf://timm/MobileCLIP2-S0-OpenCLIP",
        pre={"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "interpolation": "bilinear"},
        notes="Checkpoint in train-time form (loaded strictly), reparameterized before export; text tower without "
        "causal mask. Apple's weights licence applies to the checkpoint.",
    ),
}


def build_towers(model_id: str, weights: str | None) -> dict[str, Any]:
    """{"image": ImageTower, "text": TextTower} of ``model_id``, weights loaded strictly (None: random)."""
    import importlib

    model = MODELS[model_id]
    nets: Any = importlib.import_module(model.module)
    return dict(nets.towers(nets.build(getattr(nets, model.config), weights)))


@hookimpl
def build_model(spec: Any, weights: str | None) -> Any:
    """The target interface: a dict role -> nn.Module for a multi-component spec (owner only)."""
    if getattr(spec, "id", None) not in MODELS:
        return None
    return build_towers(spec.id, weights)
