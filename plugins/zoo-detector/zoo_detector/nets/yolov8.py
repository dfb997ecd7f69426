"""YOLOv8 in Ultralytics' module layout (``model.0.conv.weight`` ... ``model.22.dfl.conv.weight``).

Written here rather than imported: ultralytics needs torchvision, which does not import beside
the pinned torch (FACTS.md), and a Pi needs neither. The layer list follows Ultralytics'
``yolov8.yaml`` with the legacy (v8) Detect head; ``forward`` stops before the DFL decode and
returns the raw head: (1, 4*reg_max + nc, anchors), box-distribution logits first.

``yolov8-seg.yaml`` is the same layer list with a Segment head (layer 22): the Detect branches plus
a mask-coefficient branch per level (``cv4``: 32 coefficients per anchor) and ``proto``, which turns
the stride-8 features into 32 prototype masks at stride 4 (32×160×160 for a 640×640 input). Its
``forward`` returns (raw head with the 32 coefficients appended, prototypes).

Every op is shape-agnostic (convolutions, nearest 2× upsampling, concatenation, ``flatten``), so
one exported graph runs at any input whose sides are multiples of 32 (rectangular inference).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d (eps 1e-3, as Ultralytics' initialize_weights sets) + SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 3, 1)
        self.cv2 = Conv(c_, c2, 3, 1)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, e: float = 0.5) -> None:
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, e=1.0) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Concat(nn.Module):
    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)


class DFL(nn.Module):
    """Holds Ultralytics' fixed DFL projection (arange(reg_max)); the decode itself is numpy."""

    def __init__(self, c1: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(c1, dtype=torch.float32).view(1, c1, 1, 1))


class Detect(nn.Module):
    """The v8 (legacy) Detect head: per level a box branch (cv2) and a class branch (cv3)."""

    def __init__(self, nc: int, ch: tuple[int, ...], reg_max: int = 16) -> None:
        super().__init__()
        self.nc, self.reg_max = nc, reg_max
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for x in ch
        )
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(reg_max)

    def bias_init(self, strides: tuple[int, ...], image_size: int = 640) -> None:
        """Ultralytics' prior: box logits 1, class logits log(5 / nc / (640 / s)^2)."""
        with torch.no_grad():
            for a, b, s in zip(self.cv2, self.cv3, strides, strict=True):
                a[-1].bias.fill_(1.0)
                b[-1].bias.fill_(math.log(5 / self.nc / (image_size / s) ** 2))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        outs = [torch.cat((box(x), cls(x)), 1).flatten(2) for x, box, cls in zip(xs, self.cv2, self.cv3, strict=True)]
        return torch.cat(outs, 2)


class Proto(nn.Module):
    """Ultralytics' mask prototypes: 3×3 conv, 2× transposed-conv upsampling, 3×3 conv, 1×1 conv to nm."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c_, 3)
        self.upsample = nn.ConvTranspose2d(c_, c_, 2, 2, 0, bias=True)
        self.cv2 = Conv(c_, c_, 3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Segment(Detect):
    """The v8 Segment head: Detect, plus per level a mask-coefficient branch (cv4) and the prototypes.

    ``npr`` is the prototype width after the model's width multiplier (64 for the n scale: Ultralytics'
    parse_model scales Segment's 256 like any channel count)."""

    def __init__(self, nc: int, ch: tuple[int, ...], nm: int = 32, npr: int = 256, reg_max: int = 16) -> None:
        super().__init__(nc, ch, reg_max)
        self.nm, self.npr = nm, npr
        self.proto = Proto(ch[0], npr, nm)
        c4 = max(ch[0] // 4, nm)
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, nm, 1)) for x in ch)

    def forward(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        outs = [
            torch.cat((box(x), cls(x), coef(x)), 1).flatten(2)
            for x, box, cls, coef in zip(xs, self.cv2, self.cv3, self.cv4, strict=True)
        ]
        return torch.cat(outs, 2), self.proto(xs[0])


# (from, module builder) per layer of yolov8.yaml; channels are filled in by the width multiplier.
def _yolov8_layers(
    width: float, depth: float, max_ch: int, nc: int, head: str = "detect"
) -> tuple[nn.ModuleList, list[object]]:
    def ch(c: int) -> int:
        c = min(c, max_ch) * width
        return int(math.ceil(c / 8) * 8)

    def n(k: int) -> int:
        return max(round(k * depth), 1) if k > 1 else k

    c = [ch(x) for x in (64, 128, 256, 512, 1024)]
    layers: list[nn.Module] = [
        Conv(3, c[0], 3, 2),  # 0 P1/2
        Conv(c[0], c[1], 3, 2),  # 1 P2/4
        C2f(c[1], c[1], n(3), True),  # 2
        Conv(c[1], c[2], 3, 2),  # 3 P3/8
        C2f(c[2], c[2], n(6), True),  # 4
        Conv(c[2], c[3], 3, 2),  # 5 P4/16
        C2f(c[3], c[3], n(6), True),  # 6
        Conv(c[3], c[4], 3, 2),  # 7 P5/32
        C2f(c[4], c[4], n(3), True),  # 8
        SPPF(c[4], c[4], 5),  # 9
        nn.Upsample(None, 2, "nearest"),  # 10
        Concat(),  # 11 cat 10, 6
        C2f(c[4] + c[3], c[3], n(3)),  # 12
        nn.Upsample(None, 2, "nearest"),  # 13
        Concat(),  # 14 cat 13, 4
        C2f(c[3] + c[2], c[2], n(3)),  # 15 P3 out
        Conv(c[2], c[2], 3, 2),  # 16
        Concat(),  # 17 cat 16, 12
        C2f(c[2] + c[3], c[3], n(3)),  # 18 P4 out
        Conv(c[3], c[3], 3, 2),  # 19
        Concat(),  # 20 cat 19, 9
        C2f(c[3] + c[4], c[4], n(3)),  # 21 P5 out
        Detect(nc, (c[2], c[3], c[4])) if head == "detect" else Segment(nc, (c[2], c[3], c[4]), 32, ch(256)),  # 22
    ]
    sources: list[object] = [-1] * 11 + [[-1, 6], -1, -1, [-1, 4], -1, -1, [-1, 12], -1, -1, [-1, 9], -1, [15, 18, 21]]
    return nn.ModuleList(layers), sources


class YOLOv8(nn.Module):
    """Ultralytics DetectionModel equivalent: ``self.model`` is the layer list of yolov8.yaml."""

    strides = (8, 16, 32)

    def __init__(
        self, scale: tuple[float, float, int] = (0.33, 0.25, 1024), nc: int = 80, head: str = "detect"
    ) -> None:
        super().__init__()
        depth, width, max_ch = scale
        layers, self.sources = _yolov8_layers(width, depth, max_ch, nc, head)
        self.model = nn.Sequential(*layers)
        self.save = {i for s in self.sources if isinstance(s, list) for i in s if i != -1}
        self.model[-1].bias_init(self.strides)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        saved: dict[int, torch.Tensor] = {}
        for i, (layer, src) in enumerate(zip(self.model, self.sources, strict=True)):
            x = layer([x if j == -1 else saved[j] for j in src]) if isinstance(src, list) else layer(x)
            if i in self.save:
                saved[i] = x
        return x


def yolov8n(nc: int = 80) -> YOLOv8:
    return YOLOv8((0.33, 0.25, 1024), nc)


def yolov8n_seg(nc: int = 80) -> YOLOv8:
    """yolov8n-seg: 3,409,968 parameters (Ultralytics' count)."""
    return YOLOv8((0.33, 0.25, 1024), nc, head="segment")
