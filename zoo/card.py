"""The model card: every column of the benchmark table plus where each figure came from.

One card per model × runtime × precision × hardware; each thread count benchmarked is one
``BenchResult`` in it and one row of ``zoo table``. Unknown values are null *with a reason*, never
invented. Cards are stored as ``card.json`` and rendered as a Hugging Face README.md whose YAML
header huggingface_hub's ``ModelCardData`` writes (model-index only for measured accuracy).
Schema 1 cards (ncnn only, 'dtype') are read and upgraded.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zoo.errors import ConfigError
from zoo.paths import atomic_write_text, cards_dir

CARD_SCHEMA = 2
MAX_CARD_BYTES = 8 << 20


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hardware(Data):
    name: str = Field(description="Board or host name, e.g. 'Raspberry Pi 5 Model B Rev 1.0' or 'AMD EPYC host'.")
    cpu: str = Field(description="CPU model as the OS reports it.")
    cores: int = Field(description="Logical CPUs available to the process.")
    arch: str
    os: str
    memory_gb: float | None = None
    cpu_flags: list[str] = Field(default_factory=list, description="SIMD features that change kernels.")

    @model_validator(mode="before")
    @classmethod
    def _name_hosts_by_cpu(cls, data: Any) -> Any:
        """Schema 1 named every x86 machine 'x86_64 host', so an Intel and an AMD card collided;
        a host without a board name is named after its CPU."""
        if isinstance(data, dict) and data.get("name") == f"{data.get('arch')} host" and data.get("cpu"):
            data = {**data, "name": host_name(str(data["cpu"]), str(data["arch"]))}
        return data

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.name}-{self.arch}".lower()).strip("-")

    @property
    def is_raspberry_pi(self) -> bool:
        return "raspberry pi" in self.name.lower()


def host_name(cpu: str, arch: str) -> str:
    """'Intel(R) Xeon(R) Processor' → 'Intel Xeon host': the CPU family without trademarks,
    frequencies and generic words."""
    words = re.sub(r"\((R|TM|tm|r)\)|@.*|\bCPU\b|\bProcessor\b|\d+-Core", " ", cpu).split()
    short = " ".join(words[:3]) or arch
    return f"{short} host"


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
    name: str = Field(description="e.g. top1, mAP@[.5:.95], AP, HOTA")
    value: float
    dataset: str
    split: str | None = None
    n: int | None = Field(None, description="Number of samples the metric was computed on.")


class Parity(Data):
    reference: str = Field(description="What the outputs were compared against, e.g. 'pytorch fp32'.")
    n_inputs: int
    inputs: str = Field(description="Where the inputs came from.")
    max_abs_diff: float
    mean_abs_diff: float
    min_cosine: float
    agreement: dict[str, float] = Field(default_factory=dict, description="Task-level agreement, e.g. top1_agreement.")
    runtime_options: dict[str, Any] = Field(default_factory=dict)
    components: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per component: max_abs_diff, min_cosine (several networks)."
    )

    @model_validator(mode="before")
    @classmethod
    def _v1(cls, data: Any) -> Any:
        if isinstance(data, dict) and "ncnn_options" in data:
            data = dict(data)
            data["runtime_options"] = data.pop("ncnn_options")
        return data


class Artifact(Data):
    file: str
    sha256: str
    size: int


class WeightsInfo(Data):
    source: str = Field(description="URI or path of the checkpoint, or 'random'.")
    sha256: str | None = None
    random: bool = False
    seed: int | None = None
    license: str | None = None


class Measure(Data):
    """One timed probe: the networks alone ('model'), the whole pipeline, or a task's own."""

    latency: Latency
    items: float = Field(1.0, description="Items one call processes (1 frame; 128 tokens).")
    unit: str = Field("inference", description="What an item is: inference, frame, token, prompt...")
    description: str = ""
    input_shapes: list[list[int]] = Field(
        default_factory=list,
        description="Shapes of the network inputs one call fed, in call order (a model taking several input "
        "shapes, e.g. rectangular letterboxes, is measured at these).",
    )

    @property
    def throughput(self) -> float:
        """Items per second at the median."""
        return self.items * 1000.0 / self.latency.median_ms if self.latency.median_ms else 0.0


class BenchResult(Data):
    threads: int
    primary_probe: str = Field(
        "model", description="The probe behind latency and fps: 'model' (the networks alone) unless the task names "
        "another (an LLM's 'tg128').",
    )  # fmt: skip
    latency: Latency = Field(description="The primary probe's latency per call.")
    fps: float = Field(description="Items per second of the primary probe (frames; tokens for an LLM).")
    pipeline_latency: Latency | None = Field(None, description="Pre + inference + post per item, as a user feels it.")
    measures: dict[str, Measure] = Field(default_factory=dict, description="Every probe timed, by name.")
    stability: Stability
    peak_rss_mb: float
    load_time_ms: float
    energy_j_per_inference: float | None = None
    energy_reason: str | None = Field(None, description="Why energy is null.")
    date: str


class ComponentInfo(Data):
    """A network of this model, or (for a solution or a model with roles) another model it runs."""

    model: str | None = Field(None, description="For a role: the model id filling it.")
    precision: str | None = None
    runtime: str | None = None
    input: str | None = None
    params: int | None = None
    macs: int | None = None


class ModelCard(Data):
    card_schema: int = CARD_SCHEMA
    model: str
    task: str
    plugin: str | None = None
    hardware: Hardware
    input_resolution: str = Field(description="Input shape without batch, e.g. 3x224x224.")
    batch: int = 1
    precision: str = Field(description="fp32, fp16, int8, or a GGUF file type such as q4_k_m.")
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
    runtime_options: dict[str, Any] = Field(default_factory=dict)
    recipe: dict[str, Any] = Field(
        default_factory=dict, description="name, steps, options; empty with export 'none' (a prebuilt GGUF)."
    )
    components: dict[str, ComponentInfo] = Field(default_factory=dict)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    artifacts: list[Artifact] = Field(default_factory=list)
    weights: WeightsInfo | None = None
    license: str | None = None
    datasets: list[str] = Field(default_factory=list)
    base_model: str | None = None
    parity: Parity | None = None
    parity_reason: str | None = None
    command: str | None = Field(None, description="The command that reproduces the latest figures.")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Task- or precision-specific facts (int8 method, calibration set...)."
    )
    updated: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @model_validator(mode="before")
    @classmethod
    def _upgrade_schema_1(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "dtype" not in data or "precision" in data:
            return data
        data = dict(data)
        data["card_schema"] = CARD_SCHEMA
        data["precision"] = data.pop("dtype", None)
        data["runtime_options"] = data.pop("ncnn_options", {})
        if data.get("recipe") and "name" not in data["recipe"]:
            data["recipe"] = {"name": "ncnn", **data["recipe"]}
        return data

    # -- identity and storage -------------------------------------------------------------------
    @property
    def card_id(self) -> str:
        return card_id(self.model, self.runtime, self.precision, self.hardware)

    def path(self, root: Path | None = None) -> Path:
        return (root or cards_dir()) / self.card_id

    def merge_result(self, result: BenchResult) -> None:
        """Replace the result for the same thread count, keep the others, sort by threads."""
        self.results = sorted(
            [r for r in self.results if r.threads != result.threads] + [result], key=lambda r: r.threads
        )

    def save(self, root: Path | None = None, readme: str | None = None) -> Path:
        """card.json, and README.md (the Hub card; rendered with no task knowledge if not given)."""
        folder = self.path(root)
        atomic_write_text(folder / "card.json", self.model_dump_json(indent=2) + "\n")
        atomic_write_text(folder / "README.md", readme if readme is not None else render_hf_readme(self))
        return folder

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            if path.stat().st_size > MAX_CARD_BYTES:
                raise ConfigError(f"{path}: too large for a card ({path.stat().st_size} bytes); delete it")
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: key '{key}': {first['msg']}; fix or delete this card") from err
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
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
            "runtime": self.runtime,
            "input": self.input_resolution,
            "batch": self.batch,
            "dtype": self.precision,
            "sparsity": "n/a" if self.sparsity is None else f"{self.sparsity:.1%}",
            "params_m": None if self.params is None else round(self.params / 1e6, 6),
            "gmacs": None if self.macs is None else round(self.macs / 1e9, 3),
            "accuracy": acc or f"— ({self.accuracy_reason or 'not measured'})",
            "cost": "—" if self.cost is None else f"{self.cost:.4g}",
        }
        out = []
        for r in self.results or []:
            comments = list(self.comments)
            primary = r.measures.get(r.primary_probe)
            if primary is not None and primary.unit not in ("inference", "frame"):
                comments.append(
                    f"FPS column is {primary.unit}s/s ({r.primary_probe}); latency per call of {primary.items:g} "
                    f"{primary.unit}{'s' if primary.items != 1 else ''}"
                )
                piped = r.measures.get("pipeline")
                if piped is not None and piped.description:
                    comments.append(f"Pipeline column: {piped.description}")
            measured_at = sorted({"x".join(map(str, s[1:])) for s in (primary.input_shapes if primary else [])})
            if measured_at and measured_at != [self.input_resolution]:
                comments.append(f"measured at input {', '.join(measured_at)}")
            comments += [  # the task's other probes, beside the primary and the pipeline
                f"{name} {m.latency.median_ms:.3g} ms"
                + (f" ({m.throughput:.3g} {m.unit}s/s)" if m.items != 1 else f"/{m.unit}")
                for name, m in r.measures.items()
                if name not in (r.primary_probe, "pipeline")
            ]
            if r.stability.unstable:
                comments.append("UNSTABLE: " + "; ".join(r.stability.reasons))
            if self.parity:
                comments.append(
                    f"parity max abs diff {self.parity.max_abs_diff:.2g}"
                    + "".join(f", {k} {fmt_agreement(k, v)}" for k, v in self.parity.agreement.items())
                )
            out.append(
                {
                    **base,
                    "threads": r.threads,
                    "fps": round(r.fps, 2),
                    "latency_ms": round(r.latency.median_ms, 2),
                    "pipeline_ms": None if r.pipeline_latency is None else round(r.pipeline_latency.median_ms, 2),
                    "energy_j": "—" if r.energy_j_per_inference is None else f"{r.energy_j_per_inference:.3g}",
                    "measured": r.date[:10],
                    "comments": "; ".join(comments),
                }
            )
        return out


def card_id(model: str, runtime: str, precision: str, hardware: Hardware) -> str:
    return f"{model}__{runtime}-{precision}__{hardware.slug}"


TABLE_COLUMNS = [
    "hardware",
    "model",
    "runtime",
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
    "measured",
    "comments",
]
TABLE_HEADERS = {
    "hardware": "Hardware",
    "model": "Model",
    "runtime": "Runtime",
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
    "measured": "Measured",
    "comments": "Comments",
}


def load_cards(root: Path | None = None) -> list[ModelCard]:
    root = root or cards_dir()
    if not root.is_dir():
        return []
    return [ModelCard.load(p) for p in sorted(root.glob("*/card.json"))]


def find_card(
    model: str, runtime: str, precision: str, hardware: Hardware, root: Path | None = None
) -> ModelCard | None:
    root = root or cards_dir()
    path = root / card_id(model, runtime, precision, hardware) / "card.json"
    return ModelCard.load(path) if path.is_file() else None


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    cols = columns or TABLE_COLUMNS

    def cell(v: Any) -> str:
        return "" if v is None else str(v).replace("|", "/")

    head = "| " + " | ".join(TABLE_HEADERS[c] for c in cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "\n".join("| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in rows)


def render_hf_readme(
    card: ModelCard,
    pipeline_tag: str | None = None,
    task_tags: tuple[str, ...] = (),
    rows: list[dict[str, Any]] | None = None,
    repo_id: str | None = None,
    run_args: str = "photo.jpg",
) -> str:
    """A Hugging Face model card: YAML header written by huggingface_hub's ``ModelCardData``
    (no Jinja2 needed), body from the card. ``rows`` (several cards' rows) makes a front page.

    model-index is written only for accuracy measured on trained weights; tags never claim a
    board the card was not measured on."""
    from huggingface_hub import EvalResult, ModelCardData

    # a solution has no weights of its own; its accuracy is "random weights" when a part's are
    random = bool(card.weights and card.weights.random) or (card.accuracy_reason or "").startswith("random weights")
    solution = card.weights is None and any(c.model for c in card.components.values())
    eval_results = [
        EvalResult(
            task_type=pipeline_tag or card.task,
            dataset_type=m.dataset,
            dataset_name=m.dataset,
            dataset_split=m.split,
            metric_type=m.name,
            metric_value=m.value,
        )
        for m in ([] if random else card.accuracy)
    ]
    tags = ["zoo", card.runtime, card.task, *task_tags, card.precision, "edge"]
    if card.hardware.is_raspberry_pi:
        tags.append("raspberry-pi")
    data = ModelCardData(
        library_name=card.runtime,
        license=_hub_license(card.license),
        datasets=card.datasets or None,
        base_model=card.base_model,
        tags=list(dict.fromkeys(tags)),
        model_name=f"{card.model}-{card.runtime}-{card.precision}" if eval_results else None,
        eval_results=eval_results or None,
        pipeline_tag=pipeline_tag,
    )
    table = markdown_table(rows if rows is not None else card.rows())
    weights = card.weights.source if card.weights else "unknown"
    if card.weights and card.weights.random:
        weights = f"random (seed {card.weights.seed}) — latency only, accuracy not meaningful"
    parity = (
        f"max |Δ| {card.parity.max_abs_diff:.3g}, min cosine {card.parity.min_cosine:.6f} over "
        f"{card.parity.n_inputs} inputs ({card.parity.inputs}); "
        + ", ".join(f"{k} {fmt_agreement(k, v)}" for k, v in card.parity.agreement.items())
        if card.parity
        else (card.parity_reason or "not measured")
    )
    export = " → ".join(card.recipe.get("steps", [])) or "none (the artifact is the published file)"
    if solution:
        weights = "none of its own: each model it is made of has its own (below)"
        export = "none of its own: each model it is made of is exported in its own right (see its card)"
    parts = "".join(
        f"\n- **{role}**: " + ", ".join(f"{k} {v}" for k, v in c.model_dump(exclude_none=True).items())
        for role, c in card.components.items()
    )
    pull = f"zoo pull hf://{repo_id}" if repo_id else f"zoo pull {card.model}"
    facts = card.extra.get("model_facts")
    model_facts = (
        "\n- **Model** (read from the artifact): " + ", ".join(f"{k} {v}" for k, v in facts.items() if v is not None)
        if isinstance(facts, dict) and facts
        else ""
    )
    if solution and not repo_id:
        pull = "\n".join(f"zoo pull {m}" for m in dict.fromkeys(c.model for c in card.components.values() if c.model))
    body = f"""
# {card.model} ({card.precision}, {card.runtime}) on {card.hardware.name}

Measured by zoo with:

```bash
{card.command or f"zoo bench {card.model} --dtype {card.precision} --runtime {card.runtime}"}
```

{table}

## Use it

```bash
{pull}
zoo run {card.model} {run_args} --dtype {card.precision} --runtime {card.runtime}
```

## Provenance

- **Hardware**: {card.hardware.cpu}, {card.hardware.cores} cores, {card.hardware.arch}, {card.hardware.os}
- **Weights**: {weights}{f" (licence {card.license})" if card.license else ""}
- **Runtime**: {card.runtime} {card.runtime_version or ""}, options `{json.dumps(card.runtime_options)}`
- **Export**: {export}; tools {json.dumps(card.tool_versions)}
- **Parity against PyTorch**: {parity}
- **Params**: {card.params if card.params is not None else "n/a"}; **MACs**: {card.macs if card.macs is not None else "n/a"}{parts}{model_facts}

Artifacts:
{chr(10).join(f"- `{a.file}` sha256 `{a.sha256}` ({a.size} bytes)" for a in card.artifacts) or "- none recorded"}
"""
    return f"---\n{data.to_yaml()}\n---\n{body}"


def _hub_license(spdx: str | None) -> str | None:
    """The Hub's licence ids are lower-case SPDX ('bsd-3-clause', 'agpl-3.0', 'apache-2.0')."""
    return spdx.lower() if spdx else None


def fmt_agreement(key: str, value: float) -> str:
    """Agreement figures are fractions (shown as %), except differences, margins, divergences, mAPs,
    OKS and counts."""
    if "diff" in key or "margin" in key or key.endswith("_kl"):
        return f"{value:.2g}"
    if key.endswith("_px"):
        return f"{value:.2g} px"
    if key.endswith("_ms"):
        return f"{value:.3g} ms"
    if "map" in key or "oks" in key or "cosine" in key:
        return f"{value:.3f}"
    if key.endswith(("boxes", "count", "persons", "tracks")) or value > 1:
        return f"{value:g}"
    return f"{value:.0%}"
