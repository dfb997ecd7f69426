"""RTMPose (Jiang et al., 2023) as mmpose builds it, in mmpose's checkpoint key layout.

``rtmpose_s()`` is ``configs/body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py``:
a CSPNeXt-s backbone (mmdet's ``CSPNeXt``, arch P5, deepen 0.33, widen 0.5, expand ratio 0.5,
channel attention, SPP bottleneck in the last stage, SiLU, BatchNorm with the config's plain
``SyncBN`` defaults: eps 1e-5) and an ``RTMCCHead`` (7×7 conv to 17 keypoint maps, flatten, ScaleNorm
+ linear to 256, one gated attention unit, SimCC x/y linear classifiers at split ratio 2.0).

Every module attribute carries the name mmcv/mmdet/mmpose give it (``ConvModule`` → ``conv``,
``bn``; ``DepthwiseSeparableConvModule`` → ``depthwise_conv``, ``pointwise_conv``; the GAU's
``uv``, ``o``, ``gamma``, ``beta``, ``ln.g``, ``res_scale.scale``), so the state dict of
``TopdownPoseEstimator`` (``backbone.*``, ``head.*``) loads key for key. The network stops at the
two SimCC vectors; decoding and the inverse affine map are numpy (``zoo_pose.simcc``,
``zoo_pose.topdown``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class ConvModule(nn.Module):
    """mmcv ``ConvModule`` with a norm layer and SiLU: conv (no bias) → BN → SiLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1,
                 eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps, momentum=momentum)
        self.activate = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class DepthwiseSeparableConvModule(nn.Module):
    """mmcv ``DepthwiseSeparableConvModule``: depthwise k×k ConvModule, then pointwise 1×1 ConvModule
    (both with norm and activation, mmcv's 'default' dw/pw configs)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, eps: float = 1e-5) -> None:
        super().__init__()
        self.depthwise_conv = ConvModule(cin, cin, k, stride, padding, groups=cin, eps=eps)
        self.pointwise_conv = ConvModule(cin, cout, 1, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class ChannelAttention(nn.Module):
    """mmdet ``ChannelAttention``: x · hardsigmoid(conv1×1(global average pool(x)))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, 1, 0, bias=True)
        self.act = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.act(self.fc(self.global_avgpool(x)))


class CSPNeXtBlock(nn.Module):
    """3×3 ConvModule, then a 5×5 depthwise-separable ConvModule, plus the identity when asked."""

    def __init__(self, cin: int, cout: int, expansion: float, add_identity: bool, eps: float,
                 kernel_size: int = 5) -> None:
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = ConvModule(cin, hidden, 3, 1, 1, eps=eps)
        self.conv2 = DepthwiseSeparableConvModule(hidden, cout, kernel_size, 1, kernel_size // 2, eps=eps)
        self.add_identity = add_identity and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross-stage partial layer with CSPNeXt blocks: cat(blocks(main_conv(x)), short_conv(x)) →
    channel attention → final_conv."""

    def __init__(self, cin: int, cout: int, expand_ratio: float, num_blocks: int, add_identity: bool,
                 channel_attention: bool, eps: float) -> None:
        super().__init__()
        mid = int(cout * expand_ratio)
        self.channel_attention = channel_attention
        self.main_conv = ConvModule(cin, mid, 1, eps=eps)
        self.short_conv = ConvModule(cin, mid, 1, eps=eps)
        self.final_conv = ConvModule(2 * mid, cout, 1, eps=eps)
        self.blocks = nn.Sequential(*[CSPNeXtBlock(mid, mid, 1.0, add_identity, eps) for _ in range(num_blocks)])
        if channel_attention:
            self.attention = ChannelAttention(2 * mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = self.short_conv(x)
        main = self.blocks(self.main_conv(x))
        y = torch.cat((main, short), dim=1)
        if self.channel_attention:
            y = self.attention(y)
        return self.final_conv(y)


class SPPBottleneck(nn.Module):
    """mmdet ``SPPBottleneck`` (YOLOv3-SPP): 1×1 conv to half the channels, the concatenation of
    it and its stride-1 max-pools at kernels 5, 9 and 13, then a 1×1 conv back."""

    def __init__(self, cin: int, cout: int, kernel_sizes: Sequence[int], eps: float) -> None:
        super().__init__()
        mid = cin // 2
        self.conv1 = ConvModule(cin, mid, 1, eps=eps)
        self.poolings = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes)
        self.conv2 = ConvModule(mid * (len(kernel_sizes) + 1), cout, 1, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.poolings], dim=1))


# in_channels, out_channels, num_blocks, add_identity, use_spp (mmdet CSPNeXt.arch_settings['P5'])
P5 = ((64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
      (512, 1024, 3, False, True))


class CSPNeXt(nn.Module):
    """mmdet ``CSPNeXt`` (P5), returning the last stage only (RTMPose's ``out_indices=(4,)``)."""

    def __init__(self, deepen_factor: float, widen_factor: float, expand_ratio: float = 0.5,
                 channel_attention: bool = True, spp_kernel_sizes: Sequence[int] = (5, 9, 13),
                 eps: float = 1e-5) -> None:
        super().__init__()
        stem = int(P5[0][0] * widen_factor)
        self.stem = nn.Sequential(
            ConvModule(3, stem // 2, 3, 2, 1, eps=eps),
            ConvModule(stem // 2, stem // 2, 3, 1, 1, eps=eps),
            ConvModule(stem // 2, stem, 3, 1, 1, eps=eps),
        )
        for i, (cin, cout, blocks, add_identity, use_spp) in enumerate(P5):
            cin, cout = int(cin * widen_factor), int(cout * widen_factor)
            n = max(round(blocks * deepen_factor), 1)
            stage: list[nn.Module] = [ConvModule(cin, cout, 3, 2, 1, eps=eps)]
            if use_spp:
                stage.append(SPPBottleneck(cout, cout, spp_kernel_sizes, eps))
            stage.append(CSPLayer(cout, cout, expand_ratio, n, add_identity, channel_attention, eps))
            self.add_module(f"stage{i + 1}", nn.Sequential(*stage))
        self.out_channels = int(P5[-1][1] * widen_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i in range(len(P5)):
            x = getattr(self, f"stage{i + 1}")(x)
        return x


class ScaleNorm(nn.Module):
    """mmpose ``ScaleNorm``: x / max(‖x‖₂ · dim^-½, eps) · g over the last axis, one learnt scalar g."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """mmpose ``Scale``: element-wise learnt per-channel scale."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class RTMCCBlock(nn.Module):
    """mmpose ``RTMCCBlock``, the gated attention unit (Hua et al., 2022) as RTMPose configures it:
    self-attention over the K keypoint tokens, no relative position bias, no rotary encoding, no
    bias in the linear layers, SiLU; residual ``res_scale(x) + o(u · (relu(q kᵀ / √s))² v)``.
    """

    def __init__(self, num_token: int, in_dims: int, out_dims: int, expansion_factor: int = 2, s: int = 128,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.s = s
        self.num_token = num_token
        self.e = int(in_dims * expansion_factor)
        self.o = nn.Linear(self.e, out_dims, bias=False)
        self.uv = nn.Linear(in_dims, 2 * self.e + self.s, bias=False)
        self.gamma = nn.Parameter(torch.rand((2, self.s)))
        self.beta = nn.Parameter(torch.rand((2, self.s)))
        self.ln = ScaleNorm(in_dims, eps=eps)
        nn.init.xavier_uniform_(self.uv.weight)
        self.act_fn = nn.SiLU(inplace=True)
        self.shortcut = in_dims == out_dims
        if self.shortcut:
            self.res_scale = Scale(in_dims)
        self.sqrt_s = math.sqrt(s)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln(x)
        uv = self.act_fn(self.uv(x))  # B, K, 2e + s
        u, v, base = torch.split(uv, [self.e, self.e, self.s], dim=2)
        base = base.unsqueeze(2) * self.gamma[None, None, :] + self.beta  # B, K, 2, s
        q, k = torch.unbind(base, dim=2)
        qk = torch.bmm(q, k.permute(0, 2, 1))  # B, K, K
        kernel = torch.square(torch.relu(qk / self.sqrt_s))
        return self.o(u * torch.bmm(kernel, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._attend(x)
        return self.res_scale(x) + out if self.shortcut else out


class RTMCCHead(nn.Module):
    """mmpose ``RTMCCHead`` forward: SimCC logits (B, K, W·r) and (B, K, H·r), no decoding."""

    def __init__(self, in_channels: int, out_channels: int, input_size: tuple[int, int],
                 simcc_split_ratio: float = 2.0, final_layer_kernel_size: int = 7, hidden_dims: int = 256,
                 s: int = 128, expansion_factor: int = 2) -> None:
        super().__init__()
        w, h = input_size
        featuremap = (w // 32, h // 32)
        flatten_dims = featuremap[0] * featuremap[1]
        self.final_layer = nn.Conv2d(in_channels, out_channels, final_layer_kernel_size, 1,
                                     final_layer_kernel_size // 2)
        self.mlp = nn.Sequential(ScaleNorm(flatten_dims), nn.Linear(flatten_dims, hidden_dims, bias=False))
        self.gau = RTMCCBlock(out_channels, hidden_dims, hidden_dims, expansion_factor=expansion_factor, s=s)
        self.cls_x = nn.Linear(hidden_dims, int(w * simcc_split_ratio), bias=False)
        self.cls_y = nn.Linear(hidden_dims, int(h * simcc_split_ratio), bias=False)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.flatten(self.final_layer(feats), 2)  # B, K, h·w
        x = self.gau(self.mlp(x))
        return self.cls_x(x), self.cls_y(x)


class RTMPose(nn.Module):
    """``TopdownPoseEstimator`` without its data preprocessor: normalised RGB crop (B, 3, H, W) →
    (simcc_x (B, K, W·r), simcc_y (B, K, H·r))."""

    def __init__(self, deepen_factor: float, widen_factor: float, num_keypoints: int = 17,
                 input_size: tuple[int, int] = (192, 256), simcc_split_ratio: float = 2.0) -> None:
        super().__init__()
        self.input_size = input_size
        self.simcc_split_ratio = simcc_split_ratio
        self.backbone = CSPNeXt(deepen_factor, widen_factor)
        self.head = RTMCCHead(self.backbone.out_channels, num_keypoints, input_size, simcc_split_ratio)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.backbone(x))


def rtmpose_s(num_keypoints: int = 17) -> RTMPose:
    """RTMPose-s, COCO 17 keypoints, 256×192 input (w 192, h 256), SimCC split ratio 2.0."""
    return RTMPose(deepen_factor=0.33, widen_factor=0.5, num_keypoints=num_keypoints)


def randomize(model: nn.Module, seed: int = 0, calibration: torch.Tensor | None = None) -> nn.Module:
    """Deterministic random weights (seeded, independent of torch's global RNG) that give
    input-dependent outputs, for latency and parity runs without a checkpoint.

    Convolutions get He-normal weights (variance-preserving through SiLU stacks), BatchNorm random
    statistics and affine terms, linear layers N(0, 1/fan_in), and the GAU's gamma/beta, the
    ScaleNorm gains and the residual scale values near the upstream initialisation but not equal to
    it, so a test can tell whether a loader really set them. BatchNorm statistics are then set
    from the activations of ``calibration`` (preprocessed crops, e.g. real photos) or, without it,
    of smooth random images.
    """
    gen = torch.Generator().manual_seed(seed)

    def rand(shape: Sequence[int] | torch.Size, low: float, high: float) -> torch.Tensor:
        return torch.rand(tuple(shape), generator=gen) * (high - low) + low

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None:
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(rand((n,), 0.5, 1.0))
                m.weight.copy_(rand((n,), 0.5, 1.0))
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * m.in_features**-0.5)
            elif isinstance(m, ScaleNorm):
                m.g.copy_(rand(m.g.shape, 0.8, 1.2))
            elif isinstance(m, Scale):
                m.scale.copy_(rand(m.scale.shape, 0.5, 1.0))
            elif isinstance(m, RTMCCBlock):
                m.gamma.copy_(rand(m.gamma.shape, 0.0, 1.0))
                m.beta.copy_(rand(m.beta.shape, 0.0, 1.0))
    if isinstance(model, RTMPose):
        _calibrate_batchnorm(model, gen, calibration)
    return model


def _calibrate_batchnorm(model: RTMPose, gen: torch.Generator, images: torch.Tensor | None) -> None:
    """Set each BatchNorm's running statistics to those of its input on a fixed random batch, in
    forward order (a data-dependent initialisation, as a trained network's statistics would be).

    With arbitrary statistics the signal of a random CSPNeXt shrinks stage by stage and the last
    stage no longer depends on the input (measured: 0.07 % relative difference between two inputs
    at stage 4); calibrated, every normalised activation has unit scale and the outputs differ
    from input to input as a trained network's do.
    """
    w, h = model.input_size
    if images is not None:
        x = images.float()
    else:
        # image-like inputs: smooth random fields (structure at 1/16 of the crop) plus fine
        # texture; white noise alone calibrates the deep stages to statistics no photo has
        coarse = torch.randn((4, 3, h // 16, w // 16), generator=gen)
        x = nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
        x = x + 0.3 * torch.randn((4, 3, h, w), generator=gen)

    def match_input(bn: nn.BatchNorm2d, args: tuple[torch.Tensor, ...]) -> None:
        inp = args[0]
        if bn.running_mean is not None and bn.running_var is not None:
            bn.running_mean.copy_(inp.mean((0, 2, 3)))
            bn.running_var.copy_(inp.var((0, 2, 3), unbiased=False))

    handles = [m.register_forward_pre_hook(match_input) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
