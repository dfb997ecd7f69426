"""The zero-shot predictor's plumbing with stand-in sessions (no model, no torch): label caching
in memory and on disk, the logit scale from the export's facts, missing towers, truncation, and
the one-line refusals."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.plugins import new_plugin_manager
from zoo.registry import Registry
from zoo.results import Embeddings, ZeroShot
from zoo_clip import plugin, processing
from zoo_clip.predictor import LOG_100, ClipPredictor

LABELS = "a cat,a dog,a rocket"


class CountingText:
    """Text session whose embedding is a fixed function of the token ids."""

    input_names, output_names = ["in0", "in1"], ["out0"]

    def __init__(self) -> None:
        self.calls = 0

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        ids, onehot = inputs["in0"], inputs["in1"]
        assert ids.shape == (1, 77) and ids.dtype == np.int64 and onehot.shape == (1, 77) and onehot.sum() == 1.0
        assert ids[0, int(onehot.argmax())] == 49407  # the one-hot marks <end_of_text>
        rng = np.random.default_rng(int(ids.sum()) % 2**32)
        return {"out0": rng.normal(size=(1, 384)).astype(np.float32)}

    def close(self) -> None:
        pass


class MeanImage:
    input_names, output_names = ["in0"], ["out0"]

    def __init__(self) -> None:
        self.calls = 0

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        x = inputs["in0"]
        assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
        return {"out0": np.tile(x.mean(axis=(2, 3)), (1, 128)).astype(np.float32)}

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def registry() -> Registry:
    zpm = new_plugin_manager(autoload=False)
    zpm.pm.register(plugin, name="clip")
    return Registry.build(zpm)


def predictor(registry: Registry, sessions: dict[str, Any], facts: dict[str, Any] | None = None) -> ClipPredictor:
    pred = registry.build_predictor(registry.get("clip-vit-s32"), sessions, facts=facts)
    assert isinstance(pred, ClipPredictor)
    return pred


def fake_export(sha: str = "ab" * 32) -> Any:
    manifest = SimpleNamespace(components={"text": SimpleNamespace(files={"param": "text.ncnn.param",
                                                                          "bin": "text.ncnn.bin"})},
                               artifacts=[SimpleNamespace(file="text.ncnn.bin", sha256=sha)])  # fmt: skip
    return SimpleNamespace(manifest=manifest)


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (240, 320, 3), dtype=np.uint8)


def test_spec_and_task(registry: Registry) -> None:
    spec = registry.get("clip")
    assert spec.id == "clip-vit-b32" and set(spec.components) == {"image", "text"}
    assert spec.components["text"].export_as == {"int8": "fp16"} and spec.components["text"].inputs[0].dtype == "int64"
    task = registry.task("zero-shot")
    assert task.hub.pipeline_tag == "zero-shot-image-classification" and task.result_type is ZeroShot
    assert task.resolve_options({})["template"] == "a photo of a {}"
    assert task.options_problem({}) is not None and task.options_problem({"labels": "a"}) is None


def test_labels_are_embedded_once_per_set(registry: Registry) -> None:
    text, img = CountingText(), MeanImage()
    pred = predictor(registry, {"image": img, "text": text})
    first = pred(image(0), labels=LABELS)
    assert isinstance(first, ZeroShot) and text.calls == 3 and img.calls == 1
    assert abs(float(first.probabilities.sum()) - 1.0) < 1e-5 and first.template == "a photo of a {}"
    pred(image(1), labels=LABELS)
    assert text.calls == 3  # the same label set: its embeddings are kept
    pred(image(1), labels=LABELS, template="a drawing of a {}")
    assert text.calls == 6  # another template is another label set
    pred.text_cache = "off"
    pred(image(1), labels=LABELS)
    assert text.calls == 9
    assert {"pre", "infer", "post", "tokenize", "total"} <= set(pred.times)


def test_disk_cache_keyed_by_model_artifact_labels_template(registry: Registry, tmp_path: Path) -> None:
    text = CountingText()
    pred = predictor(registry, {"image": MeanImage(), "text": text})
    pred.export, pred.cache_root = fake_export(), tmp_path
    first = pred(image(), labels=LABELS)
    (cached,) = list(tmp_path.rglob("*.npz"))
    assert text.calls == 3 and cached.parent.name == "clip-vit-s32"
    fresh = predictor(registry, {"image": MeanImage(), "text": CountingText()})
    fresh.export, fresh.cache_root = fake_export(), tmp_path
    again = fresh(image(), labels=LABELS)
    assert fresh.sessions["text"].calls == 0  # type: ignore[attr-defined]
    np.testing.assert_allclose(again.probabilities, first.probabilities, rtol=1e-6)
    # another text artifact (re-exported weights) is another file
    other = predictor(registry, {"image": MeanImage(), "text": CountingText()})
    other.export, other.cache_root = fake_export("cd" * 32), tmp_path
    other(image(), labels=LABELS)
    assert len(list(tmp_path.rglob("*.npz"))) == 2


def test_a_cache_file_from_another_model_is_one_line(registry: Registry, tmp_path: Path) -> None:
    pred = predictor(registry, {"image": MeanImage(), "text": CountingText()})
    pred.export, pred.cache_root = fake_export(), tmp_path
    key = pred._cache_key(processing.split_labels(LABELS), processing.DEFAULT_TEMPLATE)
    assert key is not None
    theirs = processing.CacheKey("clip-vit-b32", key.artifact_sha256, key.labels, key.template)
    processing.save_text_cache(theirs.path(tmp_path), theirs, np.ones((3, 512), np.float32))
    key.path(tmp_path).parent.mkdir(parents=True)
    shutil.copy(theirs.path(tmp_path), key.path(tmp_path))
    with pytest.raises(InputError, match="written for model_id \"clip-vit-b32\", not \"clip-vit-s32\"") as err:
        pred(image(), labels=LABELS)
    assert "\n" not in str(err.value) and "delete it" in str(err.value)


def test_logit_scale_comes_from_the_export(registry: Registry) -> None:
    sessions = {"image": MeanImage(), "text": CountingText()}
    assert predictor(registry, sessions).logit_scale == pytest.approx(LOG_100)
    sharp = predictor(registry, sessions, facts={"text": {"logit_scale": LOG_100}})(image(), labels=LABELS)
    flat = predictor(registry, sessions, facts={"text": {"logit_scale": 0.0}})(image(), labels=LABELS)
    assert flat.scores[0] < sharp.scores[0]  # exp(0) = 1 flattens the softmax


def test_a_tower_not_in_the_export_is_one_line(registry: Registry) -> None:
    image_only = predictor(registry, {"image": MeanImage()})
    assert image_only.embed(image()).kind == "image"
    for call in (lambda: image_only.embed("a cat"), lambda: image_only(image(), labels=LABELS)):
        with pytest.raises(InputError, match="the text tower is not in this export \\(it holds: image\\)"):
            call()
    text_only = predictor(registry, {"text": CountingText()})
    assert text_only.embed("a cat").kind == "text"
    with pytest.raises(InputError, match="the image tower is not in this export"):
        text_only.embed(image())


def test_bad_labels_are_one_line(registry: Registry) -> None:
    pred = predictor(registry, {"image": MeanImage(), "text": CountingText()})
    for options, message in (({"labels": ""}, "label list is empty"), ({}, "needs labels"),
                             ({"labels": "a,,b"}, "label 2 of 3 is empty"), ({"labels": "a,a"}, "given twice"),
                             ({"labels": "a", "template": "no slot"}, "exactly once")):  # fmt: skip
        with pytest.raises(InputError, match=message):
            pred(image(), **options)


def test_long_label_is_truncated_and_said(registry: Registry) -> None:
    pred = predictor(registry, {"image": MeanImage(), "text": CountingText()})
    long_label = "very " * 80 + "long label"
    result = pred(image(), labels=f"a cat,{long_label}")
    assert result.truncated == (f"a photo of a {long_label}",)
    assert "truncated to the text context: 1 prompt" in result.summary() and result.to_dict()["truncated"]
    emb = Embeddings.stack([pred.embed("short"), pred.embed(long_label)])
    assert emb.truncated == (False, True) and "1 text truncated" in emb.summary()
    assert np.allclose(np.linalg.norm(emb.vectors, axis=1), 1.0)
