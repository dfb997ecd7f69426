"""Both ViT-B/32 towers through trace -> pnnx -> ncnn: PyTorch-vs-ncnn parity, zero-shot agreement,
int8 image-tower fidelity, and what does not convert."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pnnx")

from zoo.errors import ExportError  # noqa: E402
from zoo.images import calibration_images, sample_images  # noqa: E402
from zoo_clip import processing  # noqa: E402
from zoo_clip.convert import convert, layer_types  # noqa: E402
from zoo_clip.nets.clip import VIT_B_32_QUICKGELU, CLIPConfig, TextConfig, VisionConfig, build, towers  # noqa: E402
from zoo_clip.pipeline import ClipPredictor, NcnnTower, TorchTower  # noqa: E402
from zoo_clip.result import Embeddings, embeddings_agreement, zero_shot_agreement  # noqa: E402
from zoo_clip.tokenizer import Tokenizer  # noqa: E402

LABELS = ["cat", "dog", "astronaut", "rocket", "coffee", "horse", "car", "bird", "tree", "house"]
PROMPTS = ["a photo of a cat", "", "émoji 😀 &amp; html", "word " * 100, "an astronaut riding a horse"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    torch.set_num_threads(1)
    clip = build(VIT_B_32_QUICKGELU)
    parts = towers(clip)
    tok = Tokenizer()
    t = tok(PROMPTS[:1])
    out = tmp_path_factory.mktemp("clip")
    files = {
        "image": convert(parts["image"], (torch.from_numpy(processing.preprocess_image(sample_images(1)[0])),), out,
                         "image"),
        "text": convert(parts["text"], (torch.from_numpy(t.ids), torch.from_numpy(t.eot_onehot())), out, "text"),
    }
    return {"clip": clip, "parts": parts, "files": files, "tokenizer": tok, "dir": out}


def _predictors(exported: dict, image: object = None) -> tuple[ClipPredictor, ClipPredictor]:
    clip, parts, files, tok = exported["clip"], exported["parts"], exported["files"], exported["tokenizer"]
    scale = float(clip.logit_scale.detach())
    ref = ClipPredictor(TorchTower(parts["image"]), TorchTower(parts["text"]), tok, scale)
    cand = ClipPredictor(image or NcnnTower(files["image"]["param"], files["image"]["bin"]),
                         NcnnTower(files["text"]["param"], files["text"]["bin"]), tok, scale)
    return ref, cand


@pytest.mark.slow
def test_what_pnnx_made_of_the_towers(exported: dict) -> None:
    image = layer_types(exported["files"]["image"]["param"])
    text = layer_types(exported["files"]["text"]["param"])
    # nn.MultiheadAttention (no mask) becomes ncnn's fused MultiHeadAttention, one per block
    assert image.get("MultiHeadAttention") == 12
    # the text tower's explicit attention stays matmul + softmax (the causal mask is a MemoryData add);
    # token ids go through ncnn's Embed; the EOT gather is one MatMul with the one-hot row
    assert "MultiHeadAttention" not in text and text["Softmax"] == 12 and text["Embed"] == 1
    assert text["MatMul"] == 2 * 12 + 1


@pytest.mark.slow
def test_ncnn_matches_torch_per_tower_and_zero_shot(exported: dict) -> None:
    ref, cand = _predictors(exported)
    images = sample_images()
    ref_img = [Embeddings(vectors=ref.embed_image(im)[None]) for im in images]
    cand_img = [Embeddings(vectors=cand.embed_image(im)[None]) for im in images]
    img = embeddings_agreement(ref_img, cand_img)
    txt = embeddings_agreement([ref.texts(PROMPTS)], [cand.texts(PROMPTS)])
    assert img["min_cosine"] > 0.99999 and img["max_abs_diff"] < 1e-4, img
    assert txt["min_cosine"] > 0.99999 and txt["max_abs_diff"] < 1e-4, txt
    zs_ref = [ref.zero_shot(im, LABELS) for im in images]
    zs_cand = [cand.zero_shot(im, LABELS) for im in images]
    agree = zero_shot_agreement(zs_ref, zs_cand)
    print("vit-b/32 ncnn vs torch:", img, txt, agree)
    assert agree["top1_agreement"] == 1.0 and agree["max_prob_diff"] < 1e-4, agree
    # not vacuous: the random model does not give every image the same label distribution
    assert max(abs(zs_ref[0].probabilities - r.probabilities).max() for r in zs_ref[1:]) > 1e-3
    # truncation is reported through the pipeline
    assert cand.texts(PROMPTS).truncated == (False, False, False, True, False)


@pytest.mark.slow
def test_int8_image_tower_fidelity(exported: dict) -> None:
    from zoo.export.int8 import quantize_ncnn
    from zoo.runtime.ncnn_session import INT8_OPTIONS

    files, out = exported["files"], exported["dir"]
    calib = [{"in0": processing.preprocess_image(im)} for im in calibration_images()]
    report = quantize_ncnn(files["image"]["param"], files["image"]["bin"], calib, out / "int8.param",
                           out / "int8.bin", method="minmax")
    assert {q.type for q in report.layers} >= {"Convolution"}
    int8 = NcnnTower(out / "int8.param", out / "int8.bin", 1, INT8_OPTIONS)
    fp32 = NcnnTower(files["image"]["param"], files["image"]["bin"])
    ref, cand = _predictors(exported, int8)
    _, base = _predictors(exported, fp32)
    images = sample_images()
    a = [Embeddings(vectors=base.embed_image(im)[None]) for im in images]
    b = [Embeddings(vectors=cand.embed_image(im)[None]) for im in images]
    fid = embeddings_agreement(a, b)
    print("vit-b/32 int8 vs fp32:", fid, "quantized:", [q.type for q in report.layers])
    assert fid["min_cosine"] > 0.99, fid


@pytest.mark.slow
def test_argmax_gather_does_not_convert_and_is_named(tmp_path: Path) -> None:
    cfg = CLIPConfig(vision=VisionConfig(layers=1), text=TextConfig(layers=1))
    clip = build(cfg)

    class ArgmaxText(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.clip.encode_text(ids)

    ids = torch.zeros(1, 77, dtype=torch.long)
    ids[0, :3] = torch.tensor([49406, 320, 49407])
    with pytest.raises(ExportError, match="torch.argmax"):
        convert(ArgmaxText(), (ids,), tmp_path, "argmax")
