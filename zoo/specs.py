"""Frozen, validated descriptions of models: what a plugin declares and registry.yaml overlays.

Every spec is pydantic with ``extra="forbid"`` and ``frozen=True``: a typo in a YAML key is an
error, and an override makes a copy (``with_overlay``) instead of mutating a shared object.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DType = Literal["fp32", "fp16", "int8"]
DTYPES: tuple[str, ...] = ("fp32", "fp16", "int8")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(Frozen):
    name: str = Field(description="Blob name in the exported ncnn graph (pnnx writes in0, out0, ...).")
    shape: tuple[int, ...] = Field(description="Static shape, batch first, e.g. (1, 3, 224, 224).")
    dtype: Literal["float32", "int64", "uint8"] = "float32"
    layout: str = Field("NCHW", description="Axis order of ``shape``.")

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"shape must be static and positive, got {list(shape)}")
        return shape

    @property
    def resolution(self) -> str:
        """The card's 'input resolution' column: the shape without the batch axis, e.g. 3x224x224."""
        return "x".join(str(d) for d in self.shape[1:])


class WeightsRef(Frozen):
    uri: str = Field(description="Where the source weights live: https://, hf://ORG/REPO/PATH[@REV] or file://.")
    sha256: str | None = Field(None, description="Hex digest checked before anything enters the cache.")
    sha256_prefix: str | None = Field(
        None,
        description="Leading hex digits of the sha256, where upstream publishes only those "
        "(torchvision names files resnet18-f37072fd.pth and checks that prefix).",
    )
    format: str = Field(description="Checkpoint layout the plugin's loader expects, e.g. 'torchvision'.")
    license: str | None = None
    size: int | None = Field(None, description="Bytes, when known; used for progress bars.")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @field_validator("sha256_prefix")
    @classmethod
    def _hex_prefix(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{8,64}", value):
            raise ValueError("sha256_prefix must be 8 to 64 lowercase hex digits")
        return value

    @field_validator("uri")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "hf://", "file://")):
            raise ValueError(f"uri {value!r} must start with https://, http://, hf:// or file://")
        return value


class PreSpec(Frozen):
    """Parameters of a task's preprocessing; the functions themselves live in the task plugin."""

    kind: Literal["resize_crop", "letterbox", "resize"] = Field(
        description="resize_crop: resize shorter side then centre crop (ImageNet); letterbox: keep aspect and pad (YOLO)."
    )
    size: tuple[int, int] = Field(description="Network input (height, width).")
    resize: int | None = Field(None, description="resize_crop: the shorter side before the crop (256 for 224).")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = Field(1 / 255, description="Multiplier applied to uint8 pixels before mean/std.")
    channel_order: Literal["RGB", "BGR"] = "RGB"
    pad_value: int = Field(114, description="letterbox: fill value of the padding.")


class PostSpec(Frozen):
    decoder: str = Field(description="Name of the task's decoder, e.g. 'topk', 'yolov8', 'yolox', 'fcos'.")
    labels: str | None = Field(None, description="Label set the task plugin provides, e.g. 'imagenet', 'coco'.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Decoder parameters (top_k, conf, iou, strides...)."
    )


class ExportRecipe(Frozen):
    steps: tuple[str, ...] = Field(description="Named export steps in order, e.g. ('trace', 'pnnx').")
    options: dict[str, Any] = Field(default_factory=dict, description="Step options, e.g. {'pnnx': {'fp16': True}}.")


def default_recipes() -> dict[str, ExportRecipe]:
    """The chain every CNN takes: TorchScript trace, then pnnx to ncnn (fp16 weights for fp16)."""
    return {
        "fp32": ExportRecipe(steps=("trace", "pnnx")),
        "fp16": ExportRecipe(steps=("trace", "pnnx"), options={"pnnx": {"fp16": True}}),
        "int8": ExportRecipe(steps=("trace", "pnnx", "int8")),
    }


class ArtifactRef(Frozen):
    """A prebuilt artifact (e.g. ncnn files on the Hub) that `zoo pull --dtype` fetches instead of exporting."""

    files: dict[str, WeightsRef] = Field(description="Role ('param', 'bin') to where the file lives.")


class ModelSpec(Frozen):
    id: str = Field(description="Lowercase id users type: 'resnet18', 'yolov8n'.")
    task: str = Field(description="Task name a plugin registered, e.g. 'classifier'.")
    plugin: str | None = Field(
        None, description="Entry-point name of the plugin that registered the model; set by the registry."
    )
    aliases: tuple[str, ...] = ()
    description: str = ""
    family: str | None = None
    source: str | None = Field(None, description="Upstream project or paper the definition follows.")
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()
    weights: WeightsRef | None = Field(None, description="Source checkpoint; None means only random weights exist.")
    pre: PreSpec
    post: PostSpec
    recipes: dict[str, ExportRecipe] = Field(default_factory=default_recipes)
    artifacts: dict[str, ArtifactRef] = Field(default_factory=dict, description="Prebuilt ncnn artifacts per dtype.")
    status: Literal["ok", "experimental", "random-weights-only", "unavailable"] = "ok"
    notes: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"model id {value!r} must be lowercase letters, digits, '.', '_' or '-'")
        return value

    @model_validator(mode="after")
    def _recipes_known(self) -> ModelSpec:
        unknown = set(self.recipes) - set(DTYPES)
        if unknown:
            raise ValueError(f"recipes has unknown dtype(s) {sorted(unknown)}; use {list(DTYPES)}")
        return self

    @property
    def input(self) -> TensorSpec:
        return self.inputs[0]

    def unsupported_reason(self, dtype: str) -> str | None:
        """Why this model cannot be exported in ``dtype``, or None if it can (capabilities are data)."""
        if dtype not in DTYPES:
            return f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}"
        if dtype not in self.recipes and dtype not in self.artifacts:
            return f"{self.id} has no {dtype} export recipe"
        return None

    @property
    def int8_method(self) -> str:
        """The int8 calibration method this model defaults to: its int8 recipe's
        ``options['int8']['method']``, else 'kl'. (KL suits ReLU classifiers; SiLU detectors keep
        more of their accuracy with min-max ranges: see docs/architecture.md.)"""
        recipe = self.recipes.get("int8")
        method = (recipe.options.get("int8") or {}).get("method") if recipe else None
        return str(method or "kl")

    def with_overlay(self, overlay: dict[str, Any]) -> ModelSpec:
        """A validated copy with ``overlay`` merged over this spec (one level deep for dict fields)."""
        data = self.model_dump()
        for key, value in overlay.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict) and key not in ("params",):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return ModelSpec.model_validate(data)
