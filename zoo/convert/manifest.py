"""export.json: what an export folder holds and how it was made, written beside its artifacts.

Everything that loads an export folder checks it: the model id, runtime and precision it names
against what was asked for, and every file's size and sha256 against ``artifacts`` (see
``zoo.flows.artifacts``). Schema 1 folders (ncnn only, one network) are read and upgraded.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zoo.card import Artifact, Parity, WeightsInfo
from zoo.errors import ConfigError
from zoo.specs import SINGLE, TensorSpec

MANIFEST = "export.json"
MANIFEST_SCHEMA = 2
MAX_MANIFEST_BYTES = 8 << 20


class ComponentArtifact(BaseModel):
    """One component's artifact inside the folder."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(description="What its runtime reads: 'ncnn', 'onnx', 'gguf'.")
    precision: str = Field(description="The precision this component was exported in (export_as may differ).")
    files: dict[str, str] = Field(description="File role ('param', 'bin', 'model') → file name in this folder.")
    inputs: list[TensorSpec] = Field(default_factory=list)
    outputs: list[TensorSpec] = Field(
        default_factory=list, description="Output names and the shapes PyTorch returned at export."
    )
    runtime_options: dict[str, Any] = Field(default_factory=dict)
    params: int | None = None
    macs: int | None = None


class ExportManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = MANIFEST_SCHEMA
    model: str
    task: str
    runtime: str
    precision: str
    recipe: str | None = Field(description="The recipe's name; None when nothing was exported (a prebuilt GGUF).")
    recipe_steps: list[str] = Field(default_factory=list)
    recipe_options: dict[str, Any] = Field(default_factory=dict)
    components: dict[str, ComponentArtifact]
    steps: list[dict[str, Any]] = Field(
        default_factory=list, description="Each step's record: inputs, outputs with sha256, metadata."
    )
    artifacts: list[Artifact] = Field(description="Every artifact file with its sha256 and size.")
    weights: WeightsInfo
    params: int | None = None
    macs: int | None = None
    sparsity: float | None = None
    tool_versions: dict[str, str] = Field(default_factory=dict)
    parity: Parity | None = None
    parity_reason: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @model_validator(mode="before")
    @classmethod
    def _upgrade_schema_1(cls, data: Any) -> Any:
        """Schema 1 (ncnn, one network, 'dtype', 'files', 'ncnn_options') → schema 2."""
        if not isinstance(data, dict) or "dtype" not in data or "precision" in data:
            return data
        data = dict(data)
        precision = data.pop("dtype", None)
        files = data.pop("files", {})
        options = data.pop("ncnn_options", {})
        shapes = data.pop("input_shapes", [])
        recipe = data.pop("recipe", {}) or {}
        inputs = [TensorSpec(name=f"in{i}", shape=tuple(s)).model_dump() for i, s in enumerate(shapes)]
        data.update(
            schema_version=MANIFEST_SCHEMA,
            runtime="ncnn",
            precision=precision,
            recipe="ncnn",
            recipe_steps=list(recipe.get("steps", [])),
            recipe_options=dict(recipe.get("options", {})),
            components={SINGLE: {"format": "ncnn", "precision": precision, "files": files, "inputs": inputs,
                                 "runtime_options": options, "params": data.get("params"), "macs": data.get("macs")}},
        )  # fmt: skip
        return data

    def files(self, folder: Path, role: str) -> dict[str, Path]:
        return {kind: folder / name for kind, name in self.components[role].files.items()}

    def file(self, folder: Path, kind: str, role: str = SINGLE) -> Path:
        return folder / self.components[role].files[kind]

    @property
    def runtime_options(self) -> dict[str, Any]:
        """The options of the main component ('model', else the first): what the card records."""
        comp = self.components.get(SINGLE) or next(iter(self.components.values()))
        return comp.runtime_options

    @classmethod
    def load(cls, folder: Path) -> ExportManifest:
        folder = Path(folder)
        path = folder / MANIFEST
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder}: is a file; --artifacts takes the export folder (the one holding {MANIFEST})")
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                raise ConfigError(f"{path}: {path.stat().st_size} bytes is too large for an export manifest")
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ConfigError(f"{folder}: no {MANIFEST}; this is not a zoo export folder (run zoo export)") from err
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"{path}: unreadable export manifest ({str(err).splitlines()[0][:160]}); delete the folder and export again"
            ) from err
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise ConfigError(
                f"{path}: key '{key}': {first['msg']}; this export folder is damaged or from another zoo — export again"
            ) from err

    def save(self, folder: Path) -> None:
        from zoo.paths import atomic_write_text

        atomic_write_text(Path(folder) / MANIFEST, self.model_dump_json(indent=2) + "\n")
