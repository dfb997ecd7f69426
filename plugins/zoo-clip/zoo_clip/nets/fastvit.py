"""FastViT-MCi0 (MobileCLIP2-S0's image trunk) in timm's ``fastvit`` module layout.

Written here rather than imported: timm comes with open_clip's torchvision stack, which does not
import beside the pinned torch (FACTS.md). The modules are the *train-time* form that the
published checkpoints hold (``stem.0.conv_kxk.0.conv.weight``, ``...identity.running_var``,
``token_mixer.mixer.conv_scale.bn.weight``, ``layer_scale.gamma`` ...) so they load strictly;
:func:`reparameterize` then folds every multi-branch block into one convolution, as timm's
``reparameterize_model`` does, which is the form exported to ncnn.

One change for the converter: timm's attention splits q, k, v with ``unbind``, which pnnx leaves
unconverted (measured on open_clip's MobileCLIP2-S0: ``torch.unbind`` and a ``Tensor.reshape``
stay in the .param and ncnn refuses it); here the split is a ``chunk`` of the same tensor, the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class FastVitConfig:
    layers: tuple[int, ...] = (2, 6, 10, 2)
    embed_dims: tuple[int, ...] = (64, 128, 256, 512)
    mlp_ratio: float = 3.0
    se_downsamples: tuple[bool, ...] = (False, False, True, True)
    token_mixers: tuple[str, ...] = ("repmixer", "repmixer", "repmixer", "attention")
    pos_emb: tuple[bool, ...] = (False, False, False, True)
    """RepConditionalPosEnc (7x7 depthwise + skip) at the start of the stage."""
    cls_ratio: float = 2.0
    num_classes: int = 512
    """open_clip uses timm's classifier as the projection: ``head.fc`` maps to the embedding."""


FASTVIT_MCI0 = FastVitConfig()


class ConvNorm(nn.Module):
    """timm ``ConvNormAct(apply_act=False)``: conv (no bias, symmetric padding) + BatchNorm."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, ((stride - 1) + (k - 1)) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def fuse_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A conv kernel followed by eval-mode BN as one kernel and bias."""
    assert bn.running_var is not None and bn.running_mean is not None
    std = (bn.running_var + bn.eps).sqrt()
    return kernel * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std


def identity_kernel(channels: int, groups: int, k: int) -> torch.Tensor:
    """The (grouped) k x k kernel that copies its input: 1 at the centre of each channel's own tap."""
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, k, k)
    for i in range(channels):
        kernel[i, i % per_group, k // 2, k // 2] = 1.0
    return kernel


class SqueezeExcite(nn.Module):
    """timm ``SEModule``: mean-pool, 1x1 conv, ReLU, 1x1 conv, sigmoid gate."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(s)


class Reparameterizable(nn.Module):
    """A block whose branches fold into one ``reparam_conv`` (then the only path used)."""

    reparam_conv: nn.Conv2d | None

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def make_conv(self) -> nn.Conv2d:
        raise NotImplementedError

    def reparameterize(self) -> None:
        kernel, bias = self.fused()
        conv = self.make_conv()
        with torch.no_grad():
            conv.weight.copy_(kernel)
            assert conv.bias is not None
            conv.bias.copy_(bias)
        for name in self.branch_names():
            if hasattr(self, name):
                delattr(self, name)
        self.reparam_conv = conv

    def branch_names(self) -> tuple[str, ...]:
        raise NotImplementedError


class MobileOneBlock(Reparameterizable):
    """timm ``MobileOneBlock``: identity-BN + k x k conv-BN + 1x1 conv-BN branches, SE, act."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, depthwise: bool = False, use_se: bool = False,
                 use_act: bool = True, use_scale_branch: bool = True, conv_branches: int = 1,
                 se_reduced: int = 0) -> None:
        super().__init__()
        self.cin, self.cout, self.k, self.stride = cin, cout, k, stride
        self.groups = cin if depthwise else 1
        self.se: nn.Module = SqueezeExcite(cout, se_reduced) if use_se else nn.Identity()
        self.reparam_conv = None
        self.identity = nn.BatchNorm2d(cin) if cin == cout and stride == 1 else None
        self.conv_kxk = nn.ModuleList(ConvNorm(cin, cout, k, stride, self.groups) for _ in range(conv_branches)) \
            if conv_branches else None
        self.conv_scale = ConvNorm(cin, cout, 1, stride, self.groups) if k > 1 and use_scale_branch else None
        self.act: nn.Module = nn.GELU() if use_act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reparam_conv is not None:
            return self.act(self.se(self.reparam_conv(x)))
        out = torch.zeros((), dtype=x.dtype)
        if self.identity is not None:
            out = out + self.identity(x)
        if self.conv_scale is not None:
            out = out + self.conv_scale(x)
        if self.conv_kxk is not None:
            for branch in self.conv_kxk:
                out = out + branch(x)
        return self.act(self.se(out))

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        k, b = torch.zeros(self.cout, self.cin // self.groups, self.k, self.k), torch.zeros(self.cout)
        if self.conv_scale is not None:
            ks, bs = fuse_bn(self.conv_scale.conv.weight, self.conv_scale.bn)
            pad = self.k // 2
            k, b = k + F.pad(ks, [pad, pad, pad, pad]), b + bs
        if self.identity is not None:
            ki, bi = fuse_bn(identity_kernel(self.cin, self.groups, self.k), self.identity)
            k, b = k + ki, b + bi
        for branch in self.conv_kxk or ():
            assert isinstance(branch, ConvNorm)
            kc, bc = fuse_bn(branch.conv.weight, branch.bn)
            k, b = k + kc, b + bc
        return k, b

    def make_conv(self) -> nn.Conv2d:
        return nn.Conv2d(self.cin, self.cout, self.k, self.stride, ((self.stride - 1) + (self.k - 1)) // 2,
                         groups=self.groups, bias=True)

    def branch_names(self) -> tuple[str, ...]:
        return ("identity", "conv_kxk", "conv_scale")


class ReparamLargeKernelConv(Reparameterizable):
    """timm ``ReparamLargeKernelConv``: depthwise large + small kernel conv-BN, SE, GELU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, small: int, use_se: bool) -> None:
        super().__init__()
        self.cin, self.cout, self.k, self.stride, self.small = cin, cout, k, stride, small
        self.groups = cin
        self.reparam_conv = None
        self.large_conv = ConvNorm(cin, cout, k, stride, self.groups)
        self.small_conv = ConvNorm(cin, cout, small, stride, self.groups)
        self.se: nn.Module = SqueezeExcite(cout, int(cout * 0.25)) if use_se else nn.Identity()
        self.act = nn.GELU()  # MobileCLIP's FastViT-MCi use the activation (timm lkc_use_act=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.reparam_conv(x) if self.reparam_conv is not None else self.large_conv(x) + self.small_conv(x)
        return self.act(self.se(out))

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        k, b = fuse_bn(self.large_conv.conv.weight, self.large_conv.bn)
        ks, bs = fuse_bn(self.small_conv.conv.weight, self.small_conv.bn)
        pad = (self.k - self.small) // 2
        return k + F.pad(ks, [pad] * 4), b + bs

    def make_conv(self) -> nn.Conv2d:
        return nn.Conv2d(self.cin, self.cout, self.k, self.stride, ((self.stride - 1) + (self.k - 1)) // 2,
                         groups=self.groups, bias=True)

    def branch_names(self) -> tuple[str, ...]:
        return ("large_conv", "small_conv")


class PatchEmbed(nn.Module):
    def __init__(self, cin: int, cout: int, use_se: bool) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            ReparamLargeKernelConv(cin, cout, 7, 2, 3, use_se),
            MobileOneBlock(cout, cout, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class LayerScale2d(nn.Module):
    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init * torch.ones(dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class RepMixer(Reparameterizable):
    """timm ``RepMixer``: x + gamma * (mixer(x) - norm(x)), 3x3 depthwise; folds to one conv."""

    def __init__(self, dim: int, k: int = 3) -> None:
        super().__init__()
        self.dim, self.k = dim, k
        self.reparam_conv = None
        self.norm = MobileOneBlock(dim, dim, k, depthwise=True, use_act=False, use_scale_branch=False,
                                   conv_branches=0)
        self.mixer = MobileOneBlock(dim, dim, k, depthwise=True, use_act=False)
        self.layer_scale = LayerScale2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reparam_conv is not None:
            return self.reparam_conv(x)
        return x + self.layer_scale(self.mixer(x) - self.norm(x))

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        km, bm = self.mixer.fused()
        kn, bn = self.norm.fused()
        gamma = self.layer_scale.gamma
        kernel = identity_kernel(self.dim, self.dim, self.k) + gamma.unsqueeze(-1) * (km - kn)
        return kernel, gamma.reshape(-1) * (bm - bn)

    def make_conv(self) -> nn.Conv2d:
        return nn.Conv2d(self.dim, self.dim, self.k, 1, self.k // 2, groups=self.dim, bias=True)

    def branch_names(self) -> tuple[str, ...]:
        return ("norm", "mixer", "layer_scale")


class ConvMlp(nn.Module):
    """7x7 depthwise conv-BN, 1x1 expand, GELU, 1x1 project."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.conv = ConvNorm(dim, dim, 7, groups=dim)
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.conv(x))))


class RepConditionalPosEnc(Reparameterizable):
    """x + depthwise 7x7 conv(x); folds into the conv."""

    def __init__(self, dim: int, k: int = 7) -> None:
        super().__init__()
        self.dim, self.k = dim, k
        self.reparam_conv = None
        self.pos_enc = nn.Conv2d(dim, dim, k, 1, k // 2, groups=dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reparam_conv(x) if self.reparam_conv is not None else self.pos_enc(x) + x

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.pos_enc.bias is not None
        return identity_kernel(self.dim, self.dim, self.k) + self.pos_enc.weight, self.pos_enc.bias

    def make_conv(self) -> nn.Conv2d:
        return nn.Conv2d(self.dim, self.dim, self.k, 1, self.k // 2, groups=self.dim, bias=True)

    def branch_names(self) -> tuple[str, ...]:
        return ("pos_enc",)


class RepMixerBlock(nn.Module):
    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.token_mixer = RepMixer(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio))
        self.layer_scale = LayerScale2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.token_mixer(x)
        return x + self.layer_scale(self.mlp(x))


class Attention(nn.Module):
    """timm FastViT ``Attention`` on (B, C, H, W): qkv without bias, head_dim 32, SDPA."""

    def __init__(self, dim: int, head_dim: int = 32) -> None:
        super().__init__()
        self.head_dim, self.heads = head_dim, dim // head_dim
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h * w
        x = x.flatten(2).transpose(-2, -1)
        # timm: qkv.reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4).unbind(0); chunk is the same split
        q, k, v = (t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        x = F.scaled_dot_product_attention(q, k, v)
        x = self.proj(x.transpose(1, 2).reshape(b, n, c))
        return x.transpose(-2, -1).reshape(b, c, h, w)


class AttentionBlock(nn.Module):
    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(dim)
        self.token_mixer = Attention(dim)
        self.layer_scale_1 = LayerScale2d(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio))
        self.layer_scale_2 = LayerScale2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.layer_scale_1(self.token_mixer(self.norm(x)))
        return x + self.layer_scale_2(self.mlp(x))


class FastVitStage(nn.Module):
    def __init__(self, cin: int, cout: int, depth: int, mixer: str, se_downsample: bool, pos_emb: bool,
                 mlp_ratio: float) -> None:
        super().__init__()
        self.downsample: nn.Module = PatchEmbed(cin, cout, se_downsample) if cin != cout else nn.Identity()
        self.pos_emb: nn.Module = RepConditionalPosEnc(cout) if pos_emb else nn.Identity()
        block = RepMixerBlock if mixer == "repmixer" else AttentionBlock
        self.blocks = nn.Sequential(*(block(cout, mlp_ratio) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.pos_emb(self.downsample(x)))


class ClassifierHead(nn.Module):
    """timm ``ClassifierHead(pool_type='avg')``: global average pool, flatten, ``fc``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))


class FastVit(nn.Module):
    """timm ``FastVit`` (classification form, ``num_classes`` = the CLIP embedding size)."""

    def __init__(self, cfg: FastVitConfig = FASTVIT_MCI0) -> None:
        super().__init__()
        d0 = cfg.embed_dims[0]
        self.stem = nn.Sequential(
            MobileOneBlock(3, d0, 3, stride=2),
            MobileOneBlock(d0, d0, 3, stride=2, depthwise=True),
            MobileOneBlock(d0, d0, 1),
        )
        stages, prev = [], d0
        for i, dim in enumerate(cfg.embed_dims):
            stages.append(FastVitStage(prev, dim, cfg.layers[i], cfg.token_mixers[i], cfg.se_downsamples[i],
                                       cfg.pos_emb[i], cfg.mlp_ratio))
            prev = dim
        self.stages = nn.Sequential(*stages)
        final = int(prev * cfg.cls_ratio)
        self.final_conv = MobileOneBlock(prev, final, 3, depthwise=True, use_se=True, se_reduced=final // 16)
        self.head = ClassifierHead(final, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.final_conv(self.stages(self.stem(x))))


def reparameterize(model: nn.Module) -> nn.Module:
    """Fold every reparameterizable block of ``model`` (in place, eval mode), as timm's
    ``reparameterize_model``: the network computes the same function with one conv per block."""
    model.eval()
    with torch.no_grad():
        for module in list(model.modules()):
            if isinstance(module, Reparameterizable) and module.reparam_conv is None:
                module.reparameterize()
    return model
