"""export.json: what an export produced and how, written beside the ncnn files."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zoo.card import Artifact, Parity, WeightsInfo
from zoo.errors import ConfigError

MANIFEST = "export.json"


class ExportManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    task: str
    dtype: str
    input_shapes: list[list[int]]
    recipe: dict[str, Any]
    steps: list[dict[str, Any]] = Field(description="Each step's record: inputs, outputs with sha256, metadata.")
    files: dict[str, str] = Field(description="Role → file name in this folder ('param', 'bin').")
    artifacts: list[Artifact]
    weights: WeightsInfo
    params: int | None = None
    macs: int | None = None
    sparsity: float | None = None
    tool_versions: dict[str, str] = Field(default_factory=dict)
    ncnn_options: dict[str, bool] = Field(description="Option flags the artifact is meant to run with.")
    parity: Parity | None = None
    parity_reason: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def file(self, folder: Path, role: str) -> Path:
        return folder / self.files[role]

    @classmethod
    def load(cls, folder: Path) -> ExportManifest:
        path = folder / MANIFEST
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ConfigError(f"{folder}: no {MANIFEST}; this is not a zoo export folder (run zoo export)") from err
        except ValueError as err:
            raise ConfigError(
                f"{path}: unreadable export manifest ({str(err).splitlines()[0]}); delete the folder and export again"
            ) from err
