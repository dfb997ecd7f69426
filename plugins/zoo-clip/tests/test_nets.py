"""The CLIP modules: checkpoint layout, sizes, strict loading, and the export forms of the towers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.errors import CheckpointError  # noqa: E402
from zoo_clip.nets.clip import CLIP, VIT_B_32, VIT_S_32, TextTower, build, towers  # noqa: E402

BLOCK_KEYS = ("ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
              "attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
              "mlp.c_proj.weight", "mlp.c_proj.bias")


@pytest.fixture(scope="module")
def clip() -> CLIP:
    torch.set_num_threads(1)
    return build(VIT_B_32)


def test_state_dict_layout_is_open_clips(clip: CLIP) -> None:
    keys = set(clip.state_dict())
    top = {"positional_embedding", "text_projection", "logit_scale", "token_embedding.weight", "ln_final.weight",
           "ln_final.bias", "visual.class_embedding", "visual.positional_embedding", "visual.proj",
           "visual.conv1.weight", "visual.ln_pre.weight", "visual.ln_pre.bias", "visual.ln_post.weight",
           "visual.ln_post.bias"}
    blocks = {f"{p}transformer.resblocks.{i}.{k}" for p in ("", "visual.") for i in range(12) for k in BLOCK_KEYS}
    assert keys == top | blocks and len(keys) == 302  # open_clip 3.3.0 ViT-B-32: 302 keys
    assert "attn_mask" not in keys  # non-persistent, as upstream


def test_parameter_counts_match_open_clip(clip: CLIP) -> None:
    image = sum(p.numel() for p in clip.visual.parameters())
    text = sum(p.numel() for n, p in clip.named_parameters() if not n.startswith("visual"))
    assert (image, text) == (87_849_216, 63_428_097)  # open_clip ViT-B-32, counted there
    small = CLIP(VIT_S_32)
    assert sum(p.numel() for p in small.visual.parameters()) < image / 3


def test_random_weights_are_deterministic_and_input_dependent(clip: CLIP) -> None:
    again = build(VIT_B_32)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = clip.encode_image(x), again.encode_image(x)
    assert torch.equal(a, b)
    cos = torch.nn.functional.cosine_similarity(a[0], a[1], dim=0)
    assert a.shape == (2, 512) and cos < 0.99  # different images, different embeddings


def test_text_tower_one_hot_gather_equals_argmax_pooling(clip: CLIP) -> None:
    ids = torch.zeros(2, 77, dtype=torch.long)
    ids[0, :5] = torch.tensor([49406, 320, 1125, 539, 49407])
    ids[1, :3] = torch.tensor([49406, 2368, 49407])
    eot = torch.nn.functional.one_hot(ids.argmax(-1), 77).float()
    with torch.no_grad():
        ref = clip.encode_text(ids)
        got = TextTower(clip.text)(ids, eot)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    assert torch.nn.functional.cosine_similarity(ref[0], ref[1], dim=0) < 0.99


def test_strict_loading(clip: CLIP, tmp_path: Path) -> None:
    state = clip.state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "wrapped.pt")
    loaded = build(VIT_B_32, str(tmp_path / "wrapped.pt"))
    assert torch.equal(loaded.visual.proj, clip.visual.proj)
    openai = dict(state) | {"input_resolution": torch.tensor(224), "context_length": torch.tensor(77),
                            "vocab_size": torch.tensor(49408)}
    torch.save(openai, tmp_path / "openai.pt")
    build(VIT_B_32, str(tmp_path / "openai.pt"))
    torch.save({k: v for k, v in state.items() if k != "visual.proj"}, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="1 missing"):
        build(VIT_B_32, str(tmp_path / "missing.pt"))
    with pytest.raises(CheckpointError, match="shape"):
        torch.save(CLIP(VIT_S_32).state_dict(), tmp_path / "small.pt")
        build(VIT_B_32, str(tmp_path / "small.pt"))


def test_towers_trace_at_batch_one(clip: CLIP) -> None:
    parts = towers(clip)
    assert set(parts) == {"image", "text"}
    x = torch.randn(1, 3, 224, 224)
    ids = torch.zeros(1, 77, dtype=torch.long)
    ids[0, :2] = torch.tensor([49406, 49407])
    eot = torch.zeros(1, 77)
    eot[0, 1] = 1
    with torch.no_grad():
        traced = torch.jit.trace(parts["text"], (ids, eot), check_trace=False)
        np.testing.assert_allclose(traced(ids, eot).numpy(), parts["text"](ids, eot).numpy(), atol=1e-5)
        assert parts["image"](x).shape == (1, 512)
