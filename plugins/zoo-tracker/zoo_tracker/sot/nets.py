"""NanoTrack (V3) in PyTorch, in the checkpoint layout of HonglinChu/SiamTrackers, exported as two
components: ``template`` (127x127 exemplar crop -> template features) and ``search`` (255x255 search
crop + template features -> classification and box-regression maps).

Layout, key for key with ``NanoTrack/models/pretrained/nanotrackv3.pth`` (``ModelBuilder`` with
``configv3.yaml``; checked against the published file, 438 tensors):

* ``backbone.features``: MobileNetV3-Small up to a 96-channel stride-1 last block (total stride 16):
  127 -> 8x8, 255 -> 16x16 feature maps;
* ``neck.downsample``: a 1x1 conv + BN (AdjustLayer 96 -> 96). Built and stored upstream but never
  applied (in == out channels), so it is loaded and unused here too;
* ``ban_head`` (``ban_v3.DepthwiseBAN``): per branch (cls, reg) a depth-wise cross-correlation of the
  search features with the centre 4x4 of the template features (padding 1: 15x15) and a
  pixel-wise correlation with all 8x8 template positions (64 channels, channel attention, a 2x2
  depth-wise conv: 15x15), concatenated, reduced to 96 channels, six depth-wise-separable blocks,
  then 2 class logits or exp() of 4 box distances (l, t, r, b) per position.

The depth-wise cross-correlation convolves the search features with a kernel computed at run time
(the template's). Two equal forms (``xcorr=``): ``"conv"``, upstream's ``F.conv2d(x, kernel,
groups=C)``, which pnnx 20261020 turns into ONE ncnn ConvolutionDepthWise layer with a dynamic
weight (param 19=1, the kernel as its second input blob; ncnn >= 2023 runs it); and ``"slices"``,
16 shifted multiply-adds (pad, slices, broadcast products, sums: 65 Crop and 75 BinaryOp layers),
for a runtime without dynamic-weight convolutions. Both convert and agree with PyTorch to float
precision (tests/test_sot_export.py); "conv" is the default: one layer, marginally faster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

TEMPLATE_SIZE = 127
SEARCH_SIZE = 255
FEATURE_CHANNELS = 96
TEMPLATE_FEATURE = 8
SCORE_SIZE = 15

# MobileNetV3-Small, NanoTrack V3 variant: k, expansion t, out channels c, SE, hard-swish, stride
V3_BLOCKS = (
    (3, 1, 16, True, False, 2),
    (3, 4.5, 24, False, False, 2),
    (3, 3.67, 24, False, False, 1),
    (5, 4, 40, True, True, 2),
    (5, 6, 40, True, True, 1),
    (5, 6, 40, True, True, 1),
    (5, 3, 48, True, True, 1),
    (5, 3, 48, True, True, 1),
    (5, 6, 96, True, True, 1),
)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor``, never more than 10% down (MobileNet's rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class HSigmoid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hard_sigmoid = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hard_sigmoid(x)


class HSwish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hard_swish = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hard_swish(x)


class SELayer(nn.Module):
    def __init__(self, channel: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = make_divisible(channel // reduction, 8)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channel),
                                HSigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x * self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)


def _conv_bn(inp: int, oup: int, k: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(inp, oup, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(oup)]


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, hidden: int, oup: int, k: int, stride: int, use_se: bool, use_hs: bool) -> None:
        super().__init__()
        self.identity = stride == 1 and inp == oup
        act: type[nn.Module] = HSwish if use_hs else nn.ReLU
        se = SELayer(hidden) if use_se else nn.Identity()
        if inp == hidden:  # dw, [SE], act... as upstream: dw, BN, act, SE, pw, BN
            layers = [*_conv_bn(hidden, hidden, k, stride, groups=hidden), act(), se, *_conv_bn(hidden, oup, 1, 1)]
        else:  # pw, BN, act, dw, BN, SE, act, pw, BN
            layers = [*_conv_bn(inp, hidden, 1, 1), act(), *_conv_bn(hidden, hidden, k, stride, groups=hidden), se,
                      act(), *_conv_bn(hidden, oup, 1, 1)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.identity else self.conv(x)


class MobileNetV3Small(nn.Module):
    def __init__(self, blocks: tuple[tuple[Any, ...], ...] = V3_BLOCKS) -> None:
        super().__init__()
        channels = make_divisible(16)
        layers: list[nn.Module] = [nn.Sequential(*_conv_bn(3, channels, 3, 2), HSwish())]
        for k, t, c, use_se, use_hs, s in blocks:
            out = make_divisible(c)
            layers.append(InvertedResidual(channels, make_divisible(channels * t), out, k, s, use_se, use_hs))
            channels = out
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class AdjustLayer(nn.Module):
    """Upstream's neck: stored in the checkpoint, an identity when in == out channels (NanoTrack V3)."""

    def __init__(self, in_channels: int = FEATURE_CHANNELS, out_channels: int = FEATURE_CHANNELS) -> None:
        super().__init__()
        self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))


def xcorr_depthwise_conv(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Upstream's depth-wise cross-correlation: a grouped conv whose weight is the template (padding 1).
    (b, c, H, W) x (b, c, kh, kw) -> (b, c, H - kh + 3, W - kw + 3)."""
    b, c = kernel.shape[:2]
    x = search.reshape(1, b * c, search.shape[2], search.shape[3])
    out = F.conv2d(x, kernel.reshape(b * c, 1, kernel.shape[2], kernel.shape[3]), padding=1, groups=b * c)
    return out.reshape(b, c, out.shape[2], out.shape[3])


def xcorr_depthwise_slices(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The same correlation as shifted multiply-adds: out[c, y, x] = sum_ij pad1(search)[c, y+i, x+j] * kernel[c, i, j].
    Static shapes (a 4x4 kernel: 16 terms), only slices, broadcast products and sums."""
    kh, kw = kernel.shape[2], kernel.shape[3]
    x = F.pad(search, (1, 1, 1, 1))
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = x[:, :, 0:oh, 0:ow] * kernel[:, :, 0:1, 0:1]
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out = out + x[:, :, i:i + oh, j:j + ow] * kernel[:, :, i:i + 1, j:j + 1]
    return out


def xcorr_pixelwise(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Pixel-wise correlation: one output channel per template position (b, hz*wz, hx, wx)."""
    b, c, h, w = search.shape
    k = kernel.reshape(b, c, -1).transpose(1, 2)
    return torch.matmul(k, search.reshape(b, c, h * w)).reshape(b, -1, h, w)


def _pw_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, 1), nn.BatchNorm2d(out_channels))


XCORR = {"conv": xcorr_depthwise_conv, "slices": xcorr_depthwise_slices}


class DepthwiseXCorr(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, xcorr: str = "conv") -> None:
        super().__init__()
        self.conv_kernel = _pw_bn(in_channels, out_channels)
        self.conv_search = _pw_bn(in_channels, out_channels)
        self.xcorr = XCORR[xcorr]

    def forward(self, kernel: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return self.xcorr(self.conv_search(search), self.conv_kernel(kernel))


class CAModule(nn.Module):
    """Channel attention: x * sigmoid(fc2(relu(fc1(avgpool(x)))))."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels, channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class PixelwiseXCorr(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, positions: int = TEMPLATE_FEATURE ** 2) -> None:
        super().__init__()
        self.CA_layer = CAModule(positions)  # noqa: N815 (upstream's attribute name, part of the checkpoint keys)
        self.conv_kernel = _pw_bn(in_channels, out_channels)
        self.conv_search = _pw_bn(in_channels, out_channels)
        self.conv = nn.Sequential(
            nn.Conv2d(positions, positions, 2, groups=positions, bias=False), nn.BatchNorm2d(positions),
            nn.ReLU6(inplace=True), nn.Conv2d(positions, positions, 1, 1), nn.BatchNorm2d(positions),
        )

    def forward(self, kernel: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        corr = xcorr_pixelwise(self.conv_search(search), self.conv_kernel(kernel))
        return self.conv(self.CA_layer(corr))


def _tower(channels: int, blocks: int = 6) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(blocks):
        layers += [nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False), nn.BatchNorm2d(channels),
                   nn.ReLU6(inplace=True), nn.Conv2d(channels, channels, 1, 1, 0, bias=False), nn.BatchNorm2d(channels)]
    return nn.Sequential(*layers)


class DepthwiseBAN(nn.Module):
    def __init__(self, in_channels: int = FEATURE_CHANNELS, out_channels: int = FEATURE_CHANNELS,
                 xcorr: str = "conv") -> None:
        super().__init__()
        positions = TEMPLATE_FEATURE ** 2
        self.corr_dw_reg = DepthwiseXCorr(in_channels, out_channels, xcorr)
        self.corr_pw_reg = PixelwiseXCorr(in_channels, out_channels)
        self.corr_dw_cls = DepthwiseXCorr(in_channels, out_channels, xcorr)
        self.corr_pw_cls = PixelwiseXCorr(in_channels, out_channels)
        self.cls_tower = _tower(in_channels)
        self.bbox_tower = _tower(in_channels)
        self.cls_logits = nn.Sequential(nn.Conv2d(in_channels, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(in_channels, 4, 1))
        self.down_reg = nn.Sequential(nn.Conv2d(in_channels + positions, in_channels, 1))
        self.down_cls = nn.Sequential(nn.Conv2d(in_channels + positions, in_channels, 1))

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        centre = zf[:, :, 2:6, 2:6]  # the template's centre 4x4 (upstream crops when wider than 4)
        x_reg = self.down_reg(torch.cat((self.corr_pw_reg(zf, xf), self.corr_dw_reg(centre, xf)), 1))
        x_cls = self.down_cls(torch.cat((self.corr_pw_cls(zf, xf), self.corr_dw_cls(centre, xf)), 1))
        logits = self.cls_logits(self.cls_tower(x_cls))
        reg = torch.exp(self.bbox_pred(self.bbox_tower(x_reg)))
        return logits, reg


class NanoTrackV3(nn.Module):
    """Upstream's ModelBuilder (backbone, neck, ban_head): the module the checkpoint loads into."""

    def __init__(self, xcorr: str = "conv") -> None:
        super().__init__()
        self.backbone = MobileNetV3Small()
        self.neck = AdjustLayer()
        self.ban_head = DepthwiseBAN(xcorr=xcorr)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ban_head(self.backbone(z), self.backbone(x))


class TemplateBranch(nn.Module):
    """Component ``template``: in0 = (1, 3, 127, 127) BGR 0..255 exemplar crop -> out0 = (1, 96, 8, 8)."""

    def __init__(self, model: NanoTrackV3) -> None:
        super().__init__()
        self.backbone = model.backbone

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.backbone(z)


class SearchBranch(nn.Module):
    """Component ``search``: in0 = (1, 3, 255, 255) search crop, in1 = (1, 96, 8, 8) template features ->
    out0 = (1, 2, 15, 15) class logits (background, target), out1 = (1, 4, 15, 15) box distances."""

    def __init__(self, model: NanoTrackV3) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.ban_head = model.ban_head

    def forward(self, x: torch.Tensor, zf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ban_head(zf, self.backbone(x))


def components(model: NanoTrackV3) -> dict[str, nn.Module]:
    """The two exported components by role (sharing the model's weights)."""
    return {"template": TemplateBranch(model).eval(), "search": SearchBranch(model).eval()}


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Deterministic random weights that behave like a trained network's (variance-preserving convs,
    random BN statistics), so outputs depend on the input: for latency and conversion checks only."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.0 / m.in_features) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)
            elif isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None:
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    return model


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of an upstream NanoTrack checkpoint (``{'epoch', 'state_dict', 'optimizer'}``,
    'module.' prefixes stripped), read without running pickled code.

    The published files store ``epoch`` as a NumPy scalar, which ``torch.load(weights_only=True)``
    refuses by default; NumPy's scalar constructor and numeric dtypes (which only rebuild a number
    from its bytes) are allowed for this read, nothing else."""
    import numpy as np

    from zoo.errors import CheckpointError, InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file; pass --weights PATH to an existing file")
    core = getattr(np, "_core", None) or np.core  # NumPy 2 renamed numpy.core; pickles name the old path
    scalar = core.multiarray.scalar
    numeric_dtypes = [type(np.dtype(c)) for c in "?bhilqBHILQefd"]  # NumPy 2's per-dtype classes
    allowed: list[Any] = [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"),
                          np.dtype, *numeric_dtypes]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError, zip errors...
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: not a readable NanoTrack checkpoint ({text[:160]})") from err
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{path}: expected a state_dict (or {{'state_dict': ...}}), got {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def build(weights: str | Path | None = None, seed: int = 0, xcorr: str = "conv") -> NanoTrackV3:
    """NanoTrack V3 with upstream weights loaded strictly, or deterministic random weights when None.

    Random weights get their stem scaled by 1/255: NanoTrack takes 0..255 pixels, and without it
    random activations reach 1e6 in the correlation, where float32 summation order alone moves
    the exp'd box outputs by 0.3% (the trained network's features stay near 5)."""
    from zoo.checkpoints import load_strict

    if xcorr not in XCORR:
        from zoo.errors import ConfigError

        raise ConfigError(f"NanoTrack xcorr={xcorr!r}: use one of {', '.join(XCORR)}")
    torch.manual_seed(seed)
    model = NanoTrackV3(xcorr)
    if weights is None:
        randomize(model, seed)
        stem_conv = cast(nn.Conv2d, cast(nn.Sequential, model.backbone.features[0])[0])
        with torch.no_grad():
            stem_conv.weight.mul_(1 / 255)
    else:
        load_strict(model, load_checkpoint(weights), source=str(weights))
    return model.eval()
