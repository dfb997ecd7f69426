"""YOLOX in Megvii's module layout (``backbone.backbone.stem.conv.conv.weight``, ``head.*``).

Follows Megvii-BaseDetection/YOLOX ``yolox/models/{network_blocks,darknet,yolo_pafpn,yolo_head}.py``
(CSPDarknet with the Focus stem, PAFPN, decoupled head). ``forward`` returns the raw head,
(1, 4 + 1 + nc, anchors): box (x, y offsets in grid units, log w, log h), objectness logit, class
logits. The grid/exp decode and the sigmoids are numpy (zoo_detector.decode.decode_yolox).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BaseConv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d (eps 1e-3, momentum 0.03, as Megvii's) + SiLU."""

    def __init__(self, cin: int, cout: int, ksize: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ksize, stride, (ksize - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Focus(nn.Module):
    """Space-to-depth (2×2 pixels → channels) then a BaseConv.

    Megvii slices ``x[..., ::2, ::2]`` etc. and concatenates (top-left, bottom-left, top-right,
    bottom-right). ncnn has no strided slice (pnnx leaves ``Tensor.slice`` unconverted), so the
    same tensor is built from ops ncnn has: ``pixel_unshuffle`` (Reorg) on the H/W-transposed
    image gives the (row, column) offsets in Megvii's order but channel-major, and a channel
    shuffle with 3 groups (ShuffleChannel) makes it offset-major. Equality is tested.
    """

    def __init__(self, cin: int, cout: int, ksize: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.conv = BaseConv(cin * 4, cout, ksize, stride)
        self.shuffle = nn.ChannelShuffle(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(space_to_depth(x, self.shuffle))


def space_to_depth(x: torch.Tensor, shuffle: nn.Module) -> torch.Tensor:
    """Megvii's Focus slicing, written with ops ncnn supports (see Focus)."""
    return shuffle(nn.functional.pixel_unshuffle(x.transpose(2, 3), 2).transpose(2, 3))


def space_to_depth_reference(x: torch.Tensor) -> torch.Tensor:
    """Megvii's original slicing, for tests."""
    return torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, shortcut: bool = True, expansion: float = 0.5) -> None:
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = BaseConv(cin, hidden, 1, 1)
        self.conv2 = BaseConv(hidden, cout, 3, 1)
        self.use_add = shortcut and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class CSPLayer(nn.Module):
    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True, expansion: float = 0.5) -> None:
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = BaseConv(cin, hidden, 1, 1)
        self.conv2 = BaseConv(cin, hidden, 1, 1)
        self.conv3 = BaseConv(2 * hidden, cout, 1, 1)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut, 1.0) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.m(self.conv1(x)), self.conv2(x)), 1))


class SPPBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_sizes: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = cin // 2
        self.conv1 = BaseConv(cin, hidden, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes)
        self.conv2 = BaseConv(hidden * (len(kernel_sizes) + 1), cout, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [m(x) for m in self.m], 1))


class CSPDarknet(nn.Module):
    def __init__(self, dep_mul: float, wid_mul: float) -> None:
        super().__init__()
        base_channels = int(wid_mul * 64)
        base_depth = max(round(dep_mul * 3), 1)
        c = base_channels
        self.stem = Focus(3, c, ksize=3)
        self.dark2 = nn.Sequential(BaseConv(c, c * 2, 3, 2), CSPLayer(c * 2, c * 2, n=base_depth))
        self.dark3 = nn.Sequential(BaseConv(c * 2, c * 4, 3, 2), CSPLayer(c * 4, c * 4, n=base_depth * 3))
        self.dark4 = nn.Sequential(BaseConv(c * 4, c * 8, 3, 2), CSPLayer(c * 8, c * 8, n=base_depth * 3))
        self.dark5 = nn.Sequential(
            BaseConv(c * 8, c * 16, 3, 2),
            SPPBottleneck(c * 16, c * 16),
            CSPLayer(c * 16, c * 16, n=base_depth, shortcut=False),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.dark2(self.stem(x))
        d3 = self.dark3(x)
        d4 = self.dark4(d3)
        return d3, d4, self.dark5(d4)


class YOLOPAFPN(nn.Module):
    def __init__(self, depth: float, width: float, in_channels: tuple[int, int, int] = (256, 512, 1024)) -> None:
        super().__init__()
        c0, c1, c2 = (int(c * width) for c in in_channels)
        n = round(3 * depth)
        self.backbone = CSPDarknet(depth, width)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c2, c1, 1, 1)
        self.C3_p4 = CSPLayer(2 * c1, c1, n, False)
        self.reduce_conv1 = BaseConv(c1, c0, 1, 1)
        self.C3_p3 = CSPLayer(2 * c0, c0, n, False)
        self.bu_conv2 = BaseConv(c0, c0, 3, 2)
        self.C3_n3 = CSPLayer(2 * c0, c1, n, False)
        self.bu_conv1 = BaseConv(c1, c1, 3, 2)
        self.C3_n4 = CSPLayer(2 * c1, c2, n, False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2, x1, x0 = self.backbone(x)
        fpn_out0 = self.lateral_conv0(x0)
        f_out0 = self.C3_p4(torch.cat([self.upsample(fpn_out0), x1], 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat([self.upsample(fpn_out1), x2], 1))
        pan_out1 = self.C3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], 1))
        pan_out0 = self.C3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], 1))
        return pan_out2, pan_out1, pan_out0


class YOLOXHead(nn.Module):
    def __init__(self, num_classes: int, width: float, in_channels: tuple[int, int, int] = (256, 512, 1024)) -> None:
        super().__init__()
        hidden = int(256 * width)
        self.stems = nn.ModuleList(BaseConv(int(c * width), hidden, 1, 1) for c in in_channels)
        self.cls_convs = nn.ModuleList(
            nn.Sequential(BaseConv(hidden, hidden, 3, 1), BaseConv(hidden, hidden, 3, 1)) for _ in in_channels
        )
        self.reg_convs = nn.ModuleList(
            nn.Sequential(BaseConv(hidden, hidden, 3, 1), BaseConv(hidden, hidden, 3, 1)) for _ in in_channels
        )
        self.cls_preds = nn.ModuleList(nn.Conv2d(hidden, num_classes, 1) for _ in in_channels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(hidden, 4, 1) for _ in in_channels)
        self.obj_preds = nn.ModuleList(nn.Conv2d(hidden, 1, 1) for _ in in_channels)

    def initialize_biases(self, prior_prob: float = 1e-2) -> None:
        """Megvii's prior: class and objectness biases -log((1 - p) / p)."""
        with torch.no_grad():
            for conv in (*self.cls_preds, *self.obj_preds):
                conv.bias.fill_(-math.log((1 - prior_prob) / prior_prob))

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        outs = []
        for k, x in enumerate(feats):
            x = self.stems[k](x)
            cls_out = self.cls_preds[k](self.cls_convs[k](x))
            reg_feat = self.reg_convs[k](x)
            outs.append(torch.cat((self.reg_preds[k](reg_feat), self.obj_preds[k](reg_feat), cls_out), 1).flatten(2))
        return torch.cat(outs, 2)


class YOLOX(nn.Module):
    strides = (8, 16, 32)

    def __init__(self, depth: float = 0.33, width: float = 0.50, num_classes: int = 80) -> None:
        super().__init__()
        self.backbone = YOLOPAFPN(depth, width)
        self.head = YOLOXHead(num_classes, width)
        self.head.initialize_biases()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def yolox_s(num_classes: int = 80) -> YOLOX:
    return YOLOX(0.33, 0.50, num_classes)
