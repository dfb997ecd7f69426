"""MobileCLIP2-S0: open_clip's CustomTextCLIP layout, FastViT-MCi0 reparameterization, conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.images import sample_images  # noqa: E402
from zoo_clip import processing  # noqa: E402
from zoo_clip.nets import fastvit  # noqa: E402
from zoo_clip.nets.mobileclip import MOBILECLIP2_S0, MobileCLIP, build, towers  # noqa: E402

PRE = {"size": 256, "mean": (0.0,) * 3, "std": (1.0,) * 3, "interpolation": "bilinear"}


@pytest.fixture(scope="module")
def model() -> MobileCLIP:
    torch.set_num_threads(1)
    return build()


def test_layout_matches_open_clip(model: MobileCLIP) -> None:
    keys = list(model.state_dict())
    assert len(keys) == 934  # open_clip 3.3.0 MobileCLIP2-S0 (timm 1.0.31 fastvit_mci0), counted there
    for key in ("visual.trunk.stem.0.conv_kxk.0.conv.weight", "visual.trunk.stem.0.conv_scale.bn.running_var",
                "visual.trunk.stem.2.identity.weight", "visual.trunk.stages.0.blocks.0.token_mixer.norm.identity.bias",
                "visual.trunk.stages.0.blocks.0.token_mixer.mixer.conv_scale.conv.weight",
                "visual.trunk.stages.1.downsample.proj.0.large_conv.conv.weight",
                "visual.trunk.stages.1.downsample.proj.0.small_conv.bn.weight",
                "visual.trunk.stages.2.downsample.proj.0.se.fc1.weight", "visual.trunk.stages.3.pos_emb.pos_enc.weight",
                "visual.trunk.stages.3.blocks.0.token_mixer.qkv.weight", "visual.trunk.stages.3.blocks.1.layer_scale_2.gamma",
                "visual.trunk.final_conv.se.fc2.bias", "visual.trunk.head.fc.weight", "text.token_embedding.weight",
                "text.transformer.resblocks.11.attn.in_proj_weight", "text.text_projection", "logit_scale"):
        assert key in keys, key
    assert model.text.attn_mask is None  # MobileCLIP's text transformer has no causal mask
    assert sum(p.numel() for p in model.visual.parameters()) == 11_406_976


def test_reparameterization_is_the_same_function(model: MobileCLIP) -> None:
    image = towers(model)["image"]
    folded = [m for m in image.modules() if isinstance(m, fastvit.Reparameterizable)]
    assert len(folded) == 3 + 3 * 2 + (2 + 6 + 10) + 1 + 1  # stem, patch embeds, repmixers, pos-enc, final conv
    assert all(m.reparam_conv is not None and not hasattr(m, "conv_kxk") for m in folded)
    assert sum(p.numel() for p in image.parameters()) == 11_357_504  # timm reparameterize_model, counted there
    x = torch.from_numpy(np.concatenate([processing.preprocess_image(im, **PRE) for im in sample_images(2)]))
    with torch.no_grad():
        a, b = model.encode_image(x), image(x)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    assert (a[0] - a[1]).abs().max() > 100 * (a - b).abs().max()  # input-dependent, so not vacuous
    cos = torch.nn.functional.cosine_similarity(a[0], a[1], dim=0)
    assert cos < 0.95  # random weights that do not collapse every image to one embedding
    # the loaded module keeps its train-time layout (towers() folds a copy)
    assert "visual.trunk.stem.0.conv_kxk.0.conv.weight" in model.state_dict()


def test_strict_load_round_trip(model: MobileCLIP, tmp_path: Path) -> None:
    torch.save(model.state_dict(), tmp_path / "mc.pt")
    again = build(MOBILECLIP2_S0, str(tmp_path / "mc.pt"))
    assert torch.equal(again.visual.trunk.head.fc.weight, model.visual.trunk.head.fc.weight)
