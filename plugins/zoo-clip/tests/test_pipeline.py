"""The predictor's plumbing with stand-in sessions (no model): cache use, missing towers, truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.errors import InputError
from zoo_clip.pipeline import ClipPredictor
from zoo_clip.tokenizer import Tokenizer


class CountingText:
    """Text session whose embedding is a fixed function of the token ids."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        ids, onehot = inputs["in0"], inputs["in1"]
        assert ids.shape == (1, 77) and ids.dtype == np.int64 and onehot.shape == (1, 77) and onehot.sum() == 1.0
        rng = np.random.default_rng(int(ids.sum()) % 2**32)
        return {"out0": rng.normal(size=(1, 8)).astype(np.float32)}


class MeanImage:
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["in0"]
        assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
        return {"out0": np.tile(x.mean(axis=(2, 3)), (1, 3))[:, :8].astype(np.float32)}


@pytest.fixture(scope="module")
def tok(vocabulary: Path) -> Tokenizer:
    return Tokenizer(vocabulary)


def test_zero_shot_uses_the_label_cache(tok: Tokenizer, tmp_path: Path) -> None:
    text = CountingText()
    pred = ClipPredictor(MeanImage(), text, tok, logit_scale=np.log(100.0), text_artifact_sha256="x" * 64)
    image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    first = pred.zero_shot(image, ["cat", "dog", "rocket"], cache_dir=tmp_path)
    assert text.calls == 3 and len(list(tmp_path.rglob("*.npz"))) == 1
    again = pred.zero_shot(image, ["cat", "dog", "rocket"], cache_dir=tmp_path)
    assert text.calls == 3  # served from the cache
    np.testing.assert_allclose(again.probabilities, first.probabilities, rtol=1e-6)
    assert abs(float(first.probabilities.sum()) - 1.0) < 1e-5 and first.template == "a photo of a {}"
    pred.zero_shot(image, ["cat", "dog", "rocket"], template="a drawing of a {}", cache_dir=tmp_path)
    assert text.calls == 6  # another template is another cache entry


def test_missing_tower_and_bad_labels(tok: Tokenizer) -> None:
    image_only = ClipPredictor(MeanImage(), None, tok, logit_scale=0.0, model_id="clip-vit-b32")
    with pytest.raises(InputError, match="text tower was not exported"):
        image_only.texts(["a cat"])
    text_only = ClipPredictor(None, CountingText(), tok, logit_scale=0.0)
    with pytest.raises(InputError, match="image tower was not exported"):
        text_only.images([np.zeros((224, 224, 3), np.uint8)])
    with pytest.raises(InputError, match="needs labels"):
        image_only.zero_shot(np.zeros((224, 224, 3), np.uint8), [])


def test_long_label_is_truncated_and_said(tok: Tokenizer) -> None:
    pred = ClipPredictor(MeanImage(), CountingText(), tok, logit_scale=np.log(100.0))
    long_label = "very " * 80 + "long label"
    result = pred.zero_shot(np.zeros((224, 224, 3), np.uint8), ["cat", long_label])
    assert result.truncated == (f"a photo of a {long_label}",)
    assert "truncated" in result.summary() and result.to_dict()["truncated"]
    emb = pred.texts(["short", long_label])
    assert emb.truncated == (False, True) and "1 text truncated" in emb.summary()
    assert np.allclose(np.linalg.norm(emb.vectors, axis=1), 1.0)
