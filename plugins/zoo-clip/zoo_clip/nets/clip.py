"""CLIP (ViT image tower + causal text transformer) in OpenAI's / open_clip's checkpoint layout.

Written here rather than imported: open_clip needs torchvision, which does not import beside the
pinned torch (FACTS.md), and a Pi needs neither. Keys match OpenAI's ``ViT-B-32.pt`` state dict
and open_clip's ``CLIP`` (``visual.conv1`` ... ``visual.proj``, ``token_embedding``,
``positional_embedding``, ``transformer.resblocks.N.*``, ``ln_final``, ``text_projection``,
``logit_scale``), so their checkpoints load strictly. The causal mask is a non-persistent buffer,
as in open_clip, and is not in the state dict.

Two separately traceable towers, each converted by pnnx into its own ncnn model:

- :class:`ImageTower` (``clip.visual``): (1, 3, S, S) normalised pixels -> (1, D) embedding.
- :class:`TextTower`: (1, 77) token ids and (1, 77) one-hot EOT position -> (1, D) embedding.
  open_clip pools the text features at ``text.argmax(-1)`` (the EOT token has the largest id);
  that data-dependent gather has no ncnn equivalent, so the EOT position comes in as a one-hot
  row computed by the tokenizer (``zoo_clip.tokenizer``) and the gather is a matmul, which is
  exact (one 1.0, the rest 0.0). :meth:`CLIP.encode_text` keeps open_clip's argmax form for the
  equivalence tests.

Embeddings are *not* L2-normalised here (open_clip's ``normalize=False``); normalisation and the
zero-shot logits run in numpy (``zoo_clip.processing``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class VisionConfig:
    image_size: int = 224
    patch_size: int = 32
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    attention: str = "mha"
    """How attention is written, see :class:`ResidualAttentionBlock`."""


@dataclass(frozen=True)
class TextConfig:
    context_length: int = 77
    vocab_size: int = 49408
    width: int = 512
    heads: int = 8
    layers: int = 12
    mlp_ratio: float = 4.0
    causal: bool = True
    """open_clip's ``no_causal_mask`` inverted (MobileCLIP2's text tower has no causal mask)."""
    attention: str = "explicit"
    """How attention is written, see :class:`ResidualAttentionBlock`."""


@dataclass(frozen=True)
class CLIPConfig:
    embed_dim: int = 512
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    quick_gelu: bool = False
    """OpenAI's checkpoints were trained with QuickGELU (x * sigmoid(1.702 x)); open_clip's
    LAION/DataComp ones with nn.GELU. Same weights layout, different activation: open_clip names
    the OpenAI variant ``ViT-B-32-quickgelu``."""


VIT_B_32 = CLIPConfig()
"""open_clip ``ViT-B-32`` (GELU): 87.8 M image + 63.2 M text parameters, 512-d embeddings."""
VIT_B_32_QUICKGELU = CLIPConfig(quick_gelu=True)
"""OpenAI's ViT-B/32 (open_clip ``ViT-B-32-quickgelu``)."""
VIT_S_32 = CLIPConfig(
    embed_dim=384,
    vision=VisionConfig(width=384, layers=12, heads=6),
    text=TextConfig(width=384, heads=6, layers=12),
)
"""open_clip ``ViT-S-32``: a ViT-B/32 with 384-wide towers (open_clip publishes no weights for it)."""


class QuickGELU(nn.Module):
    """OpenAI's activation: x * sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ExplicitAttention(nn.Module):
    """Self-attention with nn.MultiheadAttention's parameters (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``), written as linear -> split heads -> matmul -> softmax."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (L, D) or (B, L, D), as nn.MultiheadAttention(batch_first=True) takes it."""
        n, d = x.shape[-2], x.shape[-1]
        hd = d // self.heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        heads = x.shape[:-2] + (n, self.heads, hd)
        q, k, v = (t.reshape(heads).transpose(-3, -2) for t in (q, k, v))  # (..., H, L, hd)
        attn = torch.matmul(q * (hd**-0.5), k.transpose(-2, -1))
        if attn_mask is not None:
            attn = attn + attn_mask
        out = torch.matmul(attn.softmax(dim=-1), v).transpose(-3, -2)
        return self.out_proj(out.reshape(x.shape))


class ResidualAttentionBlock(nn.Module):
    """open_clip's block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) (c_fc, GELU or QuickGELU, c_proj).

    ``attention`` says how attention is written, with the same parameters either way:
    'mha' is nn.MultiheadAttention, which pnnx fuses into one ncnn ``MultiHeadAttention`` layer
    (used by the image tower, which has no mask); 'explicit' is linear -> heads -> matmul ->
    +mask -> softmax -> matmul, which pnnx keeps as Gemm/MatMul/Softmax. The text tower uses
    'explicit': with the causal mask, pnnx 20261020 gives ncnn's MultiHeadAttention its inputs in
    the wrong order (mask first: NaN outputs), and ncnn 1.0.20261020's MultiHeadAttention is wrong
    for a (1, L, D) query with an (L, L) mask even in the right order (measured).
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float, quick_gelu: bool, attention: str) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attention_form = attention
        if attention == "mha":
            self.attn: nn.Module = nn.MultiheadAttention(width, heads, batch_first=True)
        elif attention == "explicit":
            self.attn = ExplicitAttention(width, heads)
        else:
            raise ValueError(f"attention must be 'mha' or 'explicit', got {attention!r}")
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden)),
            ("gelu", QuickGELU() if quick_gelu else nn.GELU()),
            ("c_proj", nn.Linear(hidden, width)),
        ]))

    def _attention(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        if self.attention_form == "mha":
            return self.attn(x, x, x, need_weights=False, attn_mask=attn_mask)[0]
        return self.attn(x, attn_mask)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self._attention(self.ln_1(x), attn_mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float, quick_gelu: bool,
                 attention: str) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, mlp_ratio, quick_gelu, attention) for _ in range(layers)
        )

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class ImageTower(nn.Module):
    """open_clip's ``VisionTransformer`` (class-token pooling, ln_post before the pool, ``proj``)."""

    def __init__(self, cfg: VisionConfig, embed_dim: int, quick_gelu: bool) -> None:
        super().__init__()
        grid = cfg.image_size // cfg.patch_size
        scale = cfg.width**-0.5
        self.image_size = cfg.image_size
        self.conv1 = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(cfg.width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, cfg.width))
        self.ln_pre = nn.LayerNorm(cfg.width)
        self.transformer = Transformer(cfg.width, cfg.layers, cfg.heads, cfg.mlp_ratio, quick_gelu, cfg.attention)
        self.ln_post = nn.LayerNorm(cfg.width)
        self.proj = nn.Parameter(scale * torch.randn(cfg.width, embed_dim))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.conv1(image)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.reshape(1, 1, -1).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        x = self.ln_post(x)
        return x[:, 0] @ self.proj


def causal_mask(n: int) -> torch.Tensor:
    """open_clip's ``build_causal_mask``: 0 on and below the diagonal, -inf above."""
    return torch.full((n, n), float("-inf")).triu_(1)


class TextTransformer(nn.Module):
    """open_clip's ``TextTransformer``: token + positional embedding, transformer (causal mask as
    a non-persistent buffer), ``ln_final``, EOT pooling, ``text_projection``.

    OpenAI's layout keeps these at the top of the CLIP state dict (:class:`CLIP` inherits this
    class); open_clip's ``CustomTextCLIP`` (MobileCLIP) nests them under ``text.``.
    """

    def __init__(self, t: TextConfig, embed_dim: int, quick_gelu: bool) -> None:
        super().__init__()
        self.text_cfg = t
        self.transformer = Transformer(t.width, t.layers, t.heads, t.mlp_ratio, quick_gelu, t.attention)
        self.context_length = t.context_length
        self.vocab_size = t.vocab_size
        self.token_embedding = nn.Embedding(t.vocab_size, t.width)
        self.positional_embedding = nn.Parameter(torch.empty(t.context_length, t.width))
        self.ln_final = nn.LayerNorm(t.width)
        self.text_projection = nn.Parameter(torch.empty(t.width, embed_dim))
        self.register_buffer("attn_mask", causal_mask(t.context_length) if t.causal else None, persistent=False)
        self.init_text_parameters()

    def init_text_parameters(self) -> None:
        """open_clip's initialisation of the text transformer."""
        t = self.text_cfg
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = (t.width**-0.5) * ((2 * t.layers) ** -0.5)
        attn_std = t.width**-0.5
        fc_std = (2 * t.width) ** -0.5
        for module in self.transformer.resblocks:
            block: Any = module
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=t.width**-0.5)

    def text_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, width) after ln_final, before pooling and projection."""
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x, self.attn_mask)
        return self.ln_final(x)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """open_clip's form: features at the EOT position (``tokens.argmax(-1)``), projected."""
        x = self.text_features(tokens)
        pooled = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
        return pooled @ self.text_projection


class CLIP(TextTransformer):
    """open_clip's ``CLIP``: ``visual`` + the text transformer's parts at the top level."""

    def __init__(self, cfg: CLIPConfig = VIT_B_32) -> None:
        super().__init__(cfg.text, cfg.embed_dim, cfg.quick_gelu)
        self.cfg = cfg
        self.visual = ImageTower(cfg.vision, cfg.embed_dim, cfg.quick_gelu)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    @property
    def text(self) -> TextTransformer:
        return self

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


class TextTower(nn.Module):
    """The text transformer as its own traceable module, sharing the parameters (and only those
    of the text side: OpenAI's layout keeps them at the top of the whole CLIP).

    ``forward(tokens, eot)``: tokens (B, L) integer ids, eot (B, L) float one-hot of the EOT
    position -> (B, D) embedding. ``eot @ features`` is open_clip's argmax gather written as a
    matmul, which ncnn runs (ncnn has no gather by a computed index).
    """

    def __init__(self, text: TextTransformer, logit_scale: float = math.log(1 / 0.07)) -> None:
        super().__init__()
        self.token_embedding = text.token_embedding
        self.positional_embedding = text.positional_embedding
        self.transformer = text.transformer
        self.ln_final = text.ln_final
        self.text_projection = text.text_projection
        self.register_buffer("attn_mask", text.attn_mask, persistent=False)
        self.logit_scale = float(logit_scale)

    def export_facts(self) -> dict[str, float]:
        """What the predictor needs beside this network: the checkpoint's (log-space) logit scale,
        recorded in the export's manifest (``Predictor.facts('text')``)."""
        return {"logit_scale": self.logit_scale}

    def forward(self, tokens: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.attn_mask))
        pooled = torch.matmul(eot.unsqueeze(1), x).squeeze(1)
        return pooled @ self.text_projection


def towers(clip: CLIP) -> dict[str, nn.Module]:
    """The two components the exporter traces separately: {"image": ..., "text": ...}."""
    return {"image": clip.visual.eval(), "text": TextTower(clip.text, float(clip.logit_scale.detach())).eval()}


def randomize(clip: CLIP, seed: int = 0) -> CLIP:
    """Deterministic random weights in ``seed`` whose embeddings depend on the input.

    open_clip's own initialisation already gives input-dependent outputs (LayerNorm keeps every
    block's scale); this redraws it from a seeded generator so the result does not depend on the
    global RNG, and randomises the LayerNorm affine terms so they are not the identity.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in clip.named_parameters():
            if name == "logit_scale":
                continue
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.75)
            elif p.ndim == 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            else:
                fan_in = p.shape[-1] if name.endswith("weight") and "token_embedding" not in name else p.shape[0]
                if name.endswith("conv1.weight"):
                    fan_in = p[0].numel()
                std = 0.02 if "embedding" in name else fan_in**-0.5
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return clip


OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")
"""Integers OpenAI's original state dicts carry beside the tensors (open_clip drops them too)."""


def build(cfg: CLIPConfig, weights: str | None = None, seed: int = 0) -> CLIP:
    """A CLIP of ``cfg``: the checkpoint at ``weights`` loaded strictly, or (None) seeded random weights.

    ``weights`` is a plain state dict (open_clip's ``open_clip_pytorch_model.bin``, or OpenAI's
    weights re-saved as a state dict); open_clip's ``{"state_dict": ...}`` wrapping and a
    ``module.`` prefix from DDP training are unwrapped as open_clip's ``load_checkpoint`` does.
    """
    from zoo.checkpoints import load_state_dict, load_strict

    torch.manual_seed(seed)
    clip = CLIP(cfg)
    if weights is None:
        return randomize(clip, seed).eval()
    state = load_state_dict(weights, key="state_dict")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if k not in OPENAI_EXTRA_KEYS}
    load_strict(clip, state, source=str(weights))
    return clip.eval()
