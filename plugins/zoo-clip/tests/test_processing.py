"""Pure-numpy pre/post-processing, the label cache and the result types: no model, no torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.results import Embeddings, ZeroShot
from zoo_clip import processing
from zoo_clip.agreement import cosine_rows, embeddings_agreement, zero_shot_agreement

zero_shot_result = ZeroShot.from_probabilities


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(("h", "w", "expected"), [(480, 640, (224, 298)), (640, 480, (298, 224)), (224, 224, (224, 224)),
                                                    (100, 333, (224, 745)), (301, 300, (224, 224))])
def test_resize_shorter_side_truncates_like_torchvision(h: int, w: int, expected: tuple[int, int]) -> None:
    assert processing.resize_shorter(_image(h, w), 224).shape[:2] == expected


def test_preprocess_shape_range_and_normalisation() -> None:
    x = processing.preprocess_image(_image(300, 400), 224)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32 and x.flags.c_contiguous
    grey = np.full((224, 224, 3), 128, np.uint8)  # already at size: no resampling
    y = processing.preprocess_image(grey, 224)
    want = (128 / 255 - np.asarray(processing.OPENAI_MEAN)) / np.asarray(processing.OPENAI_STD)
    np.testing.assert_allclose(y[0, :, 0, 0], want, rtol=1e-6)


def test_center_crop_offsets_round_like_torchvision() -> None:
    img = np.arange(5 * 8 * 3, dtype=np.uint8).reshape(5, 8, 3)
    out = processing.center_crop(img, 3)
    assert np.array_equal(out, img[1:4, 2:5])  # round(2/2)=1, round(5/2)=2 (half to even)
    with pytest.raises(InputError):
        processing.center_crop(img, 6)


def test_preprocess_rejects_non_rgb() -> None:
    with pytest.raises(InputError, match="RGB uint8"):
        processing.preprocess_image(np.zeros((10, 10), np.uint8))


def test_l2_normalize_and_zero_rows() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    n = processing.l2_normalize(x)
    np.testing.assert_allclose(n, [[0.6, 0.8], [0.0, 0.0]])
    assert n.dtype == np.float32


def test_zero_shot_logits_scale_and_softmax() -> None:
    img = np.array([[1.0, 0.0]])
    txt = np.array([[2.0, 0.0], [0.0, 5.0]])
    logits = processing.zero_shot_logits(img, txt, np.log(100.0))
    np.testing.assert_allclose(logits, [[100.0, 0.0]], rtol=1e-5)
    p = processing.softmax(logits)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    assert p[0, 0] > 0.999


def test_prompts_and_bad_labels() -> None:
    assert processing.prompts(["cat", " dog "]) == ["a photo of a cat", "a photo of a dog"]
    assert processing.prompts(["cat"], "{} in the wild") == ["cat in the wild"]
    with pytest.raises(InputError, match="label list is empty"):
        processing.prompts([])
    with pytest.raises(InputError, match="label list is empty"):
        processing.prompts("cat")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="label 2 of 2 is empty"):
        processing.prompts(["cat", " "])
    with pytest.raises(InputError, match="twice"):
        processing.prompts(["cat", "cat"])
    with pytest.raises(InputError, match="exactly once"):
        processing.prompts(["cat"], "a photo")


def test_labels_from_options(tmp_path: Path) -> None:
    assert processing.labels_from("a cat, a dog ,a rocket", None) == ["a cat", "a dog", "a rocket"]
    (tmp_path / "labels.txt").write_text("a cat\n\n  a dog  \n", encoding="utf-8")
    assert processing.labels_from(None, tmp_path / "labels.txt") == ["a cat", "a dog"]
    assert processing.labels_problem("") is not None and processing.labels_problem("a,,b") is not None
    assert processing.labels_problem("a cat") is None
    for labels, labels_file, message in ((None, None, "needs labels"), ("a", tmp_path / "labels.txt", "not both"),
                                         (None, tmp_path / "none.txt", "no such labels file")):
        with pytest.raises(InputError, match=message):
            processing.labels_from(labels, labels_file)
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no labels"):
        processing.labels_from(None, tmp_path / "blank.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="UTF-8"):
        processing.labels_from(None, tmp_path / "bin.txt")


def test_text_cache_round_trip_and_refusals(tmp_path: Path) -> None:
    key = processing.CacheKey("clip-vit-b32", "ab" * 32, ("cat", "dog"), "a photo of a {}")
    path = key.path(tmp_path)
    assert path.parent.name == "clip-vit-b32" and path.suffix == ".npz"
    assert processing.load_text_cache(path, key) is None
    vecs = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    processing.save_text_cache(path, key, vecs, truncated=("a photo of a dog",))
    got = processing.load_text_cache(path, key)
    assert got is not None and got[1] == ("a photo of a dog",)
    np.testing.assert_allclose(got[0], processing.l2_normalize(vecs), rtol=1e-6)
    # every part of the key changes the file name
    for other in (processing.CacheKey("clip-vit-s32", key.artifact_sha256, key.labels, key.template),
                  processing.CacheKey(key.model_id, "cd" * 32, key.labels, key.template),
                  processing.CacheKey(key.model_id, key.artifact_sha256, ("dog", "cat"), key.template),
                  processing.CacheKey(key.model_id, key.artifact_sha256, key.labels, "{}")):
        assert other.path(tmp_path) != path
    # a file written for another model, found where this key points, is refused in one line
    other = processing.CacheKey("clip-vit-s32", key.artifact_sha256, key.labels, key.template)
    with pytest.raises(InputError, match="written for model_id") as err:
        processing.load_text_cache(path, other)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a zoo CLIP"):
        processing.load_text_cache(tmp_path / "junk.npz", key)
    with pytest.raises(InputError, match="labels"):
        processing.save_text_cache(path, key, vecs[:1])


def test_zero_shot_result_order_dict_summary_draw() -> None:
    r = zero_shot_result(np.array([0.1, 0.7, 0.2]), ["cat", "dog", "rocket"], top_k=2, template="a photo of a {}")
    assert isinstance(r, ZeroShot) and r.top1 == 1 and r.names == ("dog", "rocket")
    d = r.to_dict()
    json.dumps(d)
    assert d["top"][0] == {"label": "dog", "index": 1, "score": 0.7}
    assert set(d["probabilities"]) == {"cat", "dog", "rocket"} and "truncated" not in d
    assert r.summary() == "dog 70.0%, rocket 20.0%" and "embedding" not in d
    t = zero_shot_result(np.array([1.0]), ["a very long label"], truncated=("a photo of a very long label",))
    assert "truncated" in t.summary() and t.to_dict()["truncated"] == ["a photo of a very long label"]
    img = np.zeros((120, 200, 3), np.uint8)
    drawn = r.draw(img)
    assert drawn.shape == img.shape and drawn.dtype == np.uint8 and drawn.any() and not img.any()


def test_embeddings_result(tmp_path: Path) -> None:
    v = processing.l2_normalize(np.random.default_rng(0).normal(size=(2, 4)))
    e = Embeddings(vectors=v, kind="text", sources=("a", "b"), truncated=(False, True))
    d = e.to_dict()
    json.dumps(d)
    assert d["count"] == 2 and d["dim"] == 4 and d["truncated"] == ["b"]
    assert "2 text embeddings of dimension 4" in e.summary() and "1 text truncated" in e.summary()
    e.save(str(tmp_path / "e.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy"), v)
    both = Embeddings.stack([Embeddings(vectors=v[:1], kind="text", sources=("a",)), e])
    assert len(both) == 3 and both.sources == ("a", "a", "b") and both.truncated == (False, False, True)
    with pytest.raises(ValueError, match="cannot stack"):
        Embeddings.stack([e, Embeddings(vectors=v, kind="image", sources=("x", "y"))])


def test_agreement_functions() -> None:
    rng = np.random.default_rng(0)
    v = processing.l2_normalize(rng.normal(size=(6, 16)))
    ref = [Embeddings(vectors=v[:3]), Embeddings(vectors=v[3:])]
    same = embeddings_agreement(ref, ref)
    assert same["min_cosine"] > 0.999999 and same["rank1_agreement"] == 1.0 and same["max_abs_diff"] == 0.0
    noisy = [Embeddings(vectors=processing.l2_normalize(e.vectors + rng.normal(size=e.vectors.shape) * 2)) for e in ref]
    worse = embeddings_agreement(ref, noisy)
    assert worse["min_cosine"] < 0.9 and worse["centered_min_cosine"] < 0.9
    # a shared offset hides an error from the plain cosine, not from the centred one
    shared = processing.l2_normalize(v + 20.0)
    bent = processing.l2_normalize(v * 1.5 + 20.0 + rng.normal(size=v.shape) * 0.5)
    hidden = embeddings_agreement([Embeddings(vectors=shared)], [Embeddings(vectors=bent)])
    assert hidden["min_cosine"] > 0.99 and hidden["centered_min_cosine"] < 0.95, hidden
    assert cosine_rows(np.zeros((1, 3)), np.zeros((1, 3)))[0] == 1.0
    assert cosine_rows(np.zeros((1, 3)), np.ones((1, 3)))[0] == 0.0
    labels = ["a", "b", "c"]
    a = [zero_shot_result(np.array([0.6, 0.3, 0.1]), labels), zero_shot_result(np.array([0.2, 0.5, 0.3]), labels)]
    b = [zero_shot_result(np.array([0.6, 0.3, 0.1]), labels), zero_shot_result(np.array([0.5, 0.2, 0.3]), labels)]
    agree = zero_shot_agreement(a, b)
    assert agree["top1_agreement"] == 0.5 and agree["max_prob_diff"] == pytest.approx(0.3, abs=1e-6)
    assert agree["min_top1_margin"] == pytest.approx(0.2, abs=1e-6)
    assert zero_shot_agreement(a, a)["mean_kl"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        zero_shot_agreement(a, [zero_shot_result(np.array([1.0, 0.0]), ["a", "b"])] * 2)
    # with the image embeddings kept, the images' own cosines come too
    emb = processing.l2_normalize(rng.normal(size=(2, 8)))
    ea = [zero_shot_result(np.array([0.6, 0.3, 0.1]), labels, embedding=e) for e in emb]
    eb = [zero_shot_result(np.array([0.6, 0.3, 0.1]), labels, embedding=-e) for e in emb]
    assert zero_shot_agreement(ea, ea)["image_min_cosine"] == pytest.approx(1.0)
    assert zero_shot_agreement(ea, eb)["image_min_cosine"] == pytest.approx(-1.0)
