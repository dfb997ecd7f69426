"""The model card: every column of the benchmark table plus where each figure came from.

One card per model × dtype × hardware; each thread count benchmarked is one ``BenchResult`` in it
and one row of ``zoo table``. Unknown values are null *with a reason*, never invented. Cards are
stored as ``card.json`` and rendered as a Hugging Face README.md through huggingface_hub's
``ModelCard`` (YAML header with model-index where accuracy is known).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import ConfigError
from zoo.paths import atomic_write_text, cards_dir

CARD_SCHEMA = 1


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Unknown(Data):
    """A value that is not known, and why."""

    reason: str


class Hardware(Data):
    name: str = Field(description="Short board or host name, e.g. 'Raspberry Pi 5' or 'x86_64 host'.")
    cpu: str = Field(description="CPU model as the OS reports it.")
    cores: int = Field(description="Logical CPUs available to the process.")
    arch: str
    os: str
    memory_gb: float | None = None
    cpu_flags: list[str] = Field(default_factory=list, description="SIMD features that change ncnn kernels.")

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.name}-{self.arch}".lower()).strip("-")


class Latency(Data):
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    stdev_ms: float
    runs: int
    warmup: int


class Stability(Data):
    unstable: bool
    reasons: list[str] = Field(default_factory=list)
    cv: float = Field(description="Coefficient of variation of the timed runs.")
    other_cpu_load: float | None = Field(
        None, description="Busy fraction of the cores by other processes during the run."
    )


class Metric(Data):
    name: str = Field(description="e.g. top1, mAP@[.5:.95], AP")
    value: float
    dataset: str
    split: str | None = None
    n: int | None = Field(None, description="Number of samples the metric was computed on.")


class Parity(Data):
    reference: str = Field(description="What the ncnn outputs were compared against, e.g. 'pytorch fp32'.")
    n_inputs: int
    inputs: str = Field(description="Where the inputs came from.")
    max_abs_diff: float
    mean_abs_diff: float
    min_cosine: float
    agreement: dict[str, float] = Field(default_factory=dict, description="Task-level agreement, e.g. top1_agreement.")
    ncnn_options: dict[str, bool] = Field(default_factory=dict)


class Artifact(Data):
    file: str
    sha256: str
    size: int


class WeightsInfo(Data):
    source: str = Field(description="URI or path of the checkpoint, or 'random'.")
    sha256: str | None = None
    random: bool = False
    seed: int | None = None


class BenchResult(Data):
    threads: int
    latency: Latency
    fps: float
    pipeline_latency: Latency | None = Field(None, description="Pre + inference + post per image, as a user feels it.")
    stability: Stability
    peak_rss_mb: float
    load_time_ms: float
    energy_j_per_inference: float | None = None
    energy_reason: str | None = Field(None, description="Why energy is null.")
    date: str


class ModelCard(Data):
    card_schema: int = CARD_SCHEMA
    model: str
    task: str
    plugin: str | None = None
    hardware: Hardware
    input_resolution: str = Field(description="Input shape without batch, e.g. 3x224x224.")
    batch: int = 1
    dtype: str
    sparsity: float | None = None
    sparsity_reason: str | None = None
    params: int | None = None
    macs: int | None = Field(
        None, description="Multiply-accumulates for one batch-1 inference, counted from the model."
    )
    gflops: float | None = Field(None, description="2 × MACs / 1e9 (the seed table's 1.81 for resnet18 is GMACs).")
    accuracy: list[Metric] = Field(default_factory=list)
    accuracy_reason: str | None = Field(None, description="Why accuracy is empty (e.g. random weights).")
    results: list[BenchResult] = Field(default_factory=list)
    cost: float | None = None
    cost_reason: str | None = "no price or energy source for this hardware"
    comments: list[str] = Field(default_factory=list)
    # provenance
    runtime: str = "ncnn"
    runtime_version: str | None = None
    ncnn_options: dict[str, bool] = Field(default_factory=dict)
    recipe: dict[str, Any] = Field(default_factory=dict)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    artifacts: list[Artifact] = Field(default_factory=list)
    weights: WeightsInfo | None = None
    parity: Parity | None = None
    parity_reason: str | None = None
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Task- or dtype-specific facts (int8 method, calibration set...)."
    )
    updated: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    # -- identity and storage -------------------------------------------------------------------
    @property
    def card_id(self) -> str:
        return f"{self.model}__{self.dtype}__{self.hardware.slug}"

    def path(self, root: Path | None = None) -> Path:
        return (root or cards_dir()) / self.card_id

    def merge_result(self, result: BenchResult) -> None:
        """Replace the result for the same thread count, keep the others, sort by threads."""
        self.results = sorted(
            [r for r in self.results if r.threads != result.threads] + [result], key=lambda r: r.threads
        )

    def save(self, root: Path | None = None) -> Path:
        folder = self.path(root)
        atomic_write_text(folder / "card.json", self.model_dump_json(indent=2) + "\n")
        atomic_write_text(folder / "README.md", render_hf_readme(self))
        return folder

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: key '{key}': {first['msg']}; fix or delete this card") from err
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: not a readable card ({err}); delete it and run zoo bench again") from err

    # -- table ----------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One benchmark-table row per thread count, in the seed's column order."""
        acc = "; ".join(
            f"{m.name} {m.value:.4g} ({m.dataset}{'/' + m.split if m.split else ''}, n={m.n})" for m in self.accuracy
        )
        base = {
            "hardware": self.hardware.name,
            "model": self.model,
            "input": self.input_resolution,
            "batch": self.batch,
            "dtype": self.dtype,
            "sparsity": "n/a" if self.sparsity is None else f"{self.sparsity:.1%}",
            "params_m": None if self.params is None else round(self.params / 1e6, 6),
            "gmacs": None if self.macs is None else round(self.macs / 1e9, 3),
            "accuracy": acc or f"— ({self.accuracy_reason or 'not measured'})",
            "cost": "—" if self.cost is None else f"{self.cost:.4g}",
        }
        out = []
        for r in self.results or []:
            comments = list(self.comments)
            if r.stability.unstable:
                comments.append("UNSTABLE: " + "; ".join(r.stability.reasons))
            if self.parity:
                comments.append(
                    f"parity max abs diff {self.parity.max_abs_diff:.2g}"
                    + "".join(f", {k} {_fmt_agreement(k, v)}" for k, v in self.parity.agreement.items())
                )
            out.append(
                {
                    **base,
                    "threads": r.threads,
                    "fps": round(r.fps, 2),
                    "latency_ms": round(r.latency.median_ms, 2),
                    "pipeline_ms": None if r.pipeline_latency is None else round(r.pipeline_latency.median_ms, 2),
                    "energy_j": "—" if r.energy_j_per_inference is None else f"{r.energy_j_per_inference:.3g}",
                    "comments": "; ".join(comments),
                }
            )
        return out


TABLE_COLUMNS = [
    "hardware",
    "model",
    "input",
    "batch",
    "dtype",
    "threads",
    "sparsity",
    "params_m",
    "gmacs",
    "accuracy",
    "fps",
    "latency_ms",
    "pipeline_ms",
    "energy_j",
    "cost",
    "comments",
]
TABLE_HEADERS = {
    "hardware": "Hardware",
    "model": "Model",
    "input": "Input",
    "batch": "Batch",
    "dtype": "Data type",
    "threads": "Threads",
    "sparsity": "Sparsity",
    "params_m": "Params (M)",
    "gmacs": "GMACs",
    "accuracy": "Accuracy",
    "fps": "FPS",
    "latency_ms": "Latency (ms)",
    "pipeline_ms": "Pipeline (ms)",
    "energy_j": "Energy (J/inf)",
    "cost": "Cost",
    "comments": "Comments",
}


def load_cards(root: Path | None = None) -> list[ModelCard]:
    root = root or cards_dir()
    if not root.is_dir():
        return []
    return [ModelCard.load(p) for p in sorted(root.glob("*/card.json"))]


def find_card(model: str, dtype: str, hardware: Hardware, root: Path | None = None) -> ModelCard | None:
    root = root or cards_dir()
    path = root / f"{model}__{dtype}__{hardware.slug}" / "card.json"
    return ModelCard.load(path) if path.is_file() else None


def render_hf_readme(card: ModelCard) -> str:
    """A Hugging Face model card: YAML header built by huggingface_hub, body from the table."""
    from huggingface_hub import EvalResult, ModelCardData
    from huggingface_hub import ModelCard as HFCard

    eval_results = [
        EvalResult(
            task_type={"classifier": "image-classification", "detector": "object-detection"}.get(card.task, card.task),
            dataset_type=m.dataset,
            dataset_name=m.dataset,
            dataset_split=m.split,
            metric_type=m.name,
            metric_value=m.value,
        )
        for m in card.accuracy
    ]
    data = ModelCardData(
        library_name="ncnn",
        tags=["zoo", "ncnn", card.task, card.dtype, "edge", "raspberry-pi"],
        model_name=f"{card.model}-{card.dtype}" if eval_results else None,
        eval_results=eval_results or None,
        pipeline_tag={"classifier": "image-classification", "detector": "object-detection"}.get(card.task),
    )
    rows = card.rows()
    table = ""
    if rows:
        cols = [c for c in TABLE_COLUMNS]
        table = "| " + " | ".join(TABLE_HEADERS[c] for c in cols) + " |\n|" + "---|" * len(cols) + "\n"
        table += "\n".join("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |" for r in rows)
    weights = card.weights.source if card.weights else "unknown"
    if card.weights and card.weights.random:
        weights = f"random (seed {card.weights.seed}) — latency only, accuracy not meaningful"
    parity = (
        f"max |Δ| {card.parity.max_abs_diff:.3g}, min cosine {card.parity.min_cosine:.6f} over "
        f"{card.parity.n_inputs} inputs ({card.parity.inputs}); "
        + ", ".join(f"{k} {_fmt_agreement(k, v)}" for k, v in card.parity.agreement.items())
        if card.parity
        else (card.parity_reason or "not measured")
    )
    body = f"""
# {card.model} ({card.dtype}, ncnn) on {card.hardware.name}

Measured by zoo with `zoo bench {card.model} --dtype {card.dtype}`.

{table}

- **Hardware**: {card.hardware.cpu}, {card.hardware.cores} cores, {card.hardware.arch}, {card.hardware.os}
- **Weights**: {weights}
- **Runtime**: {card.runtime} {card.runtime_version or ""}, options `{json.dumps(card.ncnn_options)}`
- **Export**: {" → ".join(card.recipe.get("steps", [])) or "n/a"}; tools {json.dumps(card.tool_versions)}
- **Parity against PyTorch**: {parity}
- **Params**: {card.params if card.params is not None else "n/a"}; **MACs**: {card.macs if card.macs is not None else "n/a"}

Artifacts:
{chr(10).join(f"- `{a.file}` sha256 `{a.sha256}` ({a.size} bytes)" for a in card.artifacts) or "- none recorded"}
"""
    return str(HFCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body))


def _fmt_agreement(key: str, value: float) -> str:
    """Agreement figures are fractions (shown as %), except differences, mAPs and counts."""
    if "diff" in key:
        return f"{value:.2g}"
    if "map" in key:
        return f"{value:.3f}"
    if key.endswith(("boxes", "count")) or value > 1:
        return f"{value:g}"
    return f"{value:.0%}"
