"""MobileCLIP2-S0 in open_clip's ``CustomTextCLIP`` layout (``visual.trunk.*``, ``text.*``,
``logit_scale``): a FastViT-MCi0 image trunk (timm layout, :mod:`zoo_clip.nets.fastvit`) whose
classifier is the projection to the 512-d embedding, and open_clip's text transformer without a
causal mask (MobileCLIP's ``no_causal_mask``), pooled at the EOT token like CLIP's.

Checkpoints (``timm/MobileCLIP2-S0-OpenCLIP``) hold the train-time branches; :func:`towers`
reparameterizes a copy of the image trunk for export, so the loaded module keeps its layout.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from zoo_clip.nets.clip import TextConfig, TextTower, TextTransformer
from zoo_clip.nets.fastvit import FASTVIT_MCI0, FastVit, FastVitConfig, reparameterize


@dataclass(frozen=True)
class MobileCLIPConfig:
    embed_dim: int = 512
    image_size: int = 256
    trunk: FastVitConfig = field(default_factory=lambda: FASTVIT_MCI0)
    text: TextConfig = field(default_factory=lambda: TextConfig(causal=False))


MOBILECLIP2_S0 = MobileCLIPConfig()


class TimmVisual(nn.Module):
    """open_clip's ``TimmModel`` with ``timm_proj=None``: the trunk's own head is the projection."""

    def __init__(self, cfg: MobileCLIPConfig) -> None:
        super().__init__()
        self.image_size = cfg.image_size
        self.trunk = FastVit(cfg.trunk)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.trunk(image)


class MobileCLIP(nn.Module):
    def __init__(self, cfg: MobileCLIPConfig = MOBILECLIP2_S0) -> None:
        super().__init__()
        self.cfg = cfg
        self.visual = TimmVisual(cfg)
        self.text = TextTransformer(cfg.text, cfg.embed_dim, quick_gelu=False)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text.encode_text(tokens)


def randomize(model: MobileCLIP, seed: int = 0) -> MobileCLIP:
    """Deterministic, input-dependent random weights: variance-preserving convs and linears,
    random BN statistics and affine terms (a fresh BN would make every branch alike), layer
    scales at 0.1 rather than 1e-5 so the blocks contribute, the head's bias centred (below), and
    the text transformer as CLIP's."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in model.visual.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            elif name.endswith(("layer_scale", "layer_scale_1", "layer_scale_2")):
                m.gamma.fill_(0.1)
        # A random trunk with made-up BN statistics collapses: every image ends up with nearly
        # the same embedding (cosine 0.999 between any two photos), and agreement figures say
        # nothing. A trained network's BN statistics are those of its activations; measure them
        # the same way, on seeded noise images, so each BN really normalises and images differ.
        noise = torch.rand((4, 3, model.cfg.image_size, model.cfg.image_size), generator=gen)
        norms = [m for m in model.visual.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the pass
            m.train()
        model.visual(noise)
        for m in norms:
            m.momentum = 0.1
            m.eval()
        for name, p in model.text.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_final.weight")):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.75)
            elif p.ndim == 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            else:
                std = 0.02 if "embedding" in name else (p.shape[0] if name == "text_projection" else p.shape[-1]) ** -0.5
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def build(cfg: MobileCLIPConfig = MOBILECLIP2_S0, weights: str | None = None, seed: int = 0) -> MobileCLIP:
    """MobileCLIP with the checkpoint at ``weights`` loaded strictly (train-time form), or random."""
    from zoo.checkpoints import load_state_dict, load_strict

    torch.manual_seed(seed)
    model = MobileCLIP(cfg)
    if weights is None:
        return randomize(model, seed).eval()
    state = load_state_dict(weights, key="state_dict")
    load_strict(model, state, source=str(weights))
    return model.eval()


def towers(model: MobileCLIP) -> dict[str, nn.Module]:
    """{"image": reparameterized copy of the image trunk, "text": TextTower} for export."""
    return {"image": reparameterize(copy.deepcopy(model.visual)).eval(), "text": TextTower(model.text, float(model.logit_scale.detach())).eval()}
