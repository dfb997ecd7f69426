"""Specs are frozen and strict; cards round-trip and render a Hugging Face model card."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from zoo.card import BenchResult, Hardware, Latency, Metric, ModelCard, Stability, load_cards
from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec


def test_specs_are_frozen_and_forbid_extra_keys() -> None:
    spec = ModelSpec(
        id="m",
        task="t",
        inputs=(TensorSpec(name="in0", shape=(1, 3, 8, 8)),),
        pre=PreSpec(kind="resize", size=(8, 8)),
        post=PostSpec(decoder="topk"),
    )
    with pytest.raises(ValidationError):
        spec.id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        ModelSpec.model_validate({**spec.model_dump(), "colour": "red"})
    copy = spec.with_overlay({"description": "x"})
    assert copy.description == "x" and spec.description == ""
    assert spec.unsupported_reason("int4") is not None and spec.unsupported_reason("fp16") is None
    with pytest.raises(ValidationError, match="static and positive"):
        TensorSpec(name="in0", shape=(1, -1, 8))


def _card(**kw) -> ModelCard:  # type: ignore[no-untyped-def]
    hw = Hardware(name="Raspberry Pi 5 Model B", cpu="Cortex-A76", cores=4, arch="aarch64", os="Linux")
    lat = Latency(median_ms=20.0, p90_ms=21.0, min_ms=19.5, mean_ms=20.2, stdev_ms=0.4, runs=50, warmup=5)
    res = BenchResult(
        threads=4,
        latency=lat,
        fps=50.0,
        stability=Stability(unstable=False, cv=0.02),
        peak_rss_mb=80.0,
        load_time_ms=30.0,
        date="2026-11-23T00:00:00+00:00",
    )
    return ModelCard(
        model="resnet18",
        task="classifier",
        hardware=hw,
        input_resolution="3x224x224",
        dtype="fp32",
        params=11689512,
        macs=1814073344,
        results=[res],
        **kw,
    )


def test_card_round_trip_and_rows(tmp_path: Path) -> None:
    card = _card()
    folder = card.save(tmp_path)
    assert folder.name == "resnet18__ncnn-fp32__raspberry-pi-5-model-b-aarch64"
    loaded = load_cards(tmp_path)
    assert loaded == [card]
    row = card.rows()[0]
    assert row["params_m"] == 11.689512 and row["gmacs"] == 1.814 and row["fps"] == 50.0
    assert row["accuracy"].startswith("—")


def test_rows_name_the_task_probes_beside_model_and_pipeline() -> None:
    from zoo.card import Measure

    card = _card()
    lat = card.results[0].latency
    measures = {
        "model": Measure(latency=lat, unit="frame"),
        "pipeline": Measure(latency=lat.model_copy(update={"median_ms": 25.0}), unit="frame"),
        "tracker": Measure(latency=lat.model_copy(update={"median_ms": 0.4123}), unit="frame"),
        "template": Measure(latency=lat.model_copy(update={"median_ms": 3.0}), unit="video"),
    }
    card.results = [card.results[0].model_copy(update={"measures": measures})]
    comments = card.rows()[0]["comments"]
    assert "tracker 0.412 ms/frame" in comments and "template 3 ms/video" in comments
    assert "pipeline" not in comments and "model" not in comments


def test_a_solutions_hub_card_points_at_its_parts(tmp_path: Path) -> None:
    from zoo.card import ComponentInfo

    card = _card(
        components={"detector": ComponentInfo(model="yolox-s", precision="fp32", runtime="ncnn")},
        accuracy=[Metric(name="HOTA", value=0.1, dataset="mot")],
        accuracy_reason="random weights: the metric is measured but not meaningful",
    )
    card.model, card.task = "bytetrack", "tracker"
    text = (card.save(tmp_path) / "README.md").read_text()
    assert "zoo pull yolox-s" in text and "zoo pull bytetrack" not in text
    assert "**Weights**: none of its own" in text and "published file" not in text
    assert "model-index" not in text.split("---")[1]  # a random part's accuracy is not claimed


def test_merge_result_replaces_same_thread_count() -> None:
    card = _card()
    newer = card.results[0].model_copy(update={"fps": 60.0})
    card.merge_result(newer)
    card.merge_result(newer.model_copy(update={"threads": 1}))
    assert [(r.threads, r.fps) for r in card.results] == [(1, 60.0), (4, 60.0)]


def test_hf_readme_has_yaml_header_and_model_index(tmp_path: Path) -> None:
    card = _card(accuracy=[Metric(name="top1", value=0.697, dataset="imagenet-1k", split="val", n=50000)])
    text = (card.save(tmp_path) / "README.md").read_text()
    header = text.split("---")[1]
    assert "library_name: ncnn" in header and "model-index" in header and "0.697" in header
    from huggingface_hub import ModelCard as HFCard

    parsed = HFCard(text)
    assert parsed.data.eval_results[0].metric_value == 0.697


def test_broken_card_is_one_clear_error(tmp_path: Path) -> None:
    from zoo.errors import ConfigError

    bad = tmp_path / "x__fp32__h" / "card.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"model": 3}')
    with pytest.raises(ConfigError, match=r"card.json: key"):
        load_cards(tmp_path)


def test_agreement_figures_are_formatted_by_kind() -> None:
    from zoo.card import fmt_agreement as _fmt_agreement

    assert _fmt_agreement("top1_agreement", 0.917) == "92%"
    assert _fmt_agreement("reference_boxes", 150.0) == "150"
    assert _fmt_agreement("map_vs_reference", 0.5434) == "0.543"
    assert _fmt_agreement("max_score_diff", 1.8e-05) == "1.8e-05"


def test_int8_method_comes_from_the_int8_recipe() -> None:
    from zoo.specs import ExportRecipe, ModelSpec, PostSpec, PrecisionRecipe, PreSpec, TensorSpec, default_recipes

    base = {"id": "m", "task": "t", "inputs": (TensorSpec(name="in0", shape=(1, 3, 8, 8)),),
            "pre": PreSpec(kind="resize", size=(8, 8)), "post": PostSpec(decoder="topk")}
    assert ModelSpec(**base).int8_method == "kl"
    assert ModelSpec(**base, recipes=default_recipes(int8_method="minmax")).int8_method == "minmax"
    fp32_only = ExportRecipe(steps=("trace", "pnnx"), precisions={"fp32": PrecisionRecipe()})
    assert ModelSpec(**base, recipes={"ncnn": fp32_only}).int8_method == "kl"
