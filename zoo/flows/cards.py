"""The only place cards are written: found or made for this host, filled from an export's
manifest, rendered for the Hub with the task's tags, saved atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.card import ComponentInfo, Hardware, ModelCard, find_card, render_hf_readme
from zoo.convert.manifest import ExportManifest
from zoo.registry import Registry, get_registry
from zoo.specs import ModelSpec

RUN_EXAMPLES = {"image": "photo.jpg", "text": '"Why is the sky blue?"', "image+text": 'photo.jpg "What is in the picture?"'}
"""What the card's 'Use it' section passes to zoo run, by the task's input kind."""


def this_host() -> Hardware:
    from zoo.measure.host import probe

    return probe()


def find_or_new_card(
    spec: ModelSpec,
    runtime: str,
    precision: str,
    cards_root: Path | None = None,
    hardware: Hardware | None = None,
    card_model: str | None = None,
) -> ModelCard:
    """This host's card for the model/runtime/precision, or a new empty one (not saved)."""
    hardware = hardware or this_host()
    model = card_model or spec.id
    return find_card(model, runtime, precision, hardware, cards_root) or ModelCard(
        model=model,
        task=spec.task,
        plugin=spec.plugin,
        hardware=hardware,
        input_resolution=spec.input_resolution,
        precision=precision,
        runtime=runtime,
        license=spec.license or (spec.weights.license if spec.weights else None),
        datasets=list(spec.datasets),
        base_model=spec.base_model,
    )


def fill_from_manifest(card: ModelCard, m: ExportManifest, runtime_version: str | None) -> None:
    """What the export knows: counts, provenance, parity, weights, artifacts."""
    card.params, card.macs = m.params, m.macs
    card.gflops = None if m.macs is None else round(2 * m.macs / 1e9, 3)
    card.sparsity = m.sparsity
    card.sparsity_reason = None if m.sparsity is not None else "not measured"
    card.runtime, card.runtime_version = m.runtime, runtime_version
    card.runtime_options = dict(m.runtime_options)
    card.recipe = {"name": m.recipe, "steps": m.recipe_steps, "options": m.recipe_options} if m.recipe else {}
    card.tool_versions = dict(m.tool_versions)
    card.artifacts = list(m.artifacts)
    card.weights = m.weights
    if m.weights.license:
        card.license = m.weights.license
    card.parity, card.parity_reason = m.parity, m.parity_reason
    card.extra = {**card.extra, **m.extra}
    facts = m.extra.get("model_facts")
    if isinstance(facts, dict) and facts.get("input"):
        card.input_resolution = str(facts["input"])  # what the artifact says (a GGUF's context)
    if len(m.components) > 1:
        card.components = {
            role: ComponentInfo(precision=c.precision, input=",".join("x".join(map(str, t.shape[1:])) for t in c.inputs),
                                params=c.params, macs=c.macs)
            for role, c in m.components.items()
        }  # fmt: skip
    if m.weights.random:
        card.accuracy, card.accuracy_reason = [], "random weights"
    elif not card.accuracy:
        card.accuracy_reason = "not evaluated yet (zoo eval)"


def save_card(card: ModelCard, cards_root: Path | None = None, registry: Registry | None = None) -> Path:
    """card.json + the Hub README.md with the task's pipeline tag."""
    reg = registry or get_registry()
    task = reg.tasks[card.task].value if card.task in reg.tasks else None
    hub = task.hub if task else None
    readme = render_hf_readme(card, hub.pipeline_tag if hub else None, hub.tags if hub else (),
                              run_args=RUN_EXAMPLES.get(task.input if task else "image", "photo.jpg"))  # fmt: skip
    return card.save(cards_root, readme=readme)



def update_card(
    spec: ModelSpec,
    runtime: str,
    precision: str,
    manifest: ExportManifest | None,
    cards_root: Path | None = None,
    registry: Registry | None = None,
    **fields: Any,
) -> ModelCard:
    """Set fields (accuracy, ARM parity...) on this host's card, creating it if needed."""
    reg = registry or get_registry()
    card = find_or_new_card(spec, runtime, precision, cards_root)
    if manifest is not None and card.params is None:
        fill_from_manifest(card, manifest, reg.runtime(runtime, usable=False).version())
    for key, value in fields.items():
        setattr(card, key, value)
    save_card(card, cards_root, reg)
    return card
