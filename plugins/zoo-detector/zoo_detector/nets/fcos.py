"""FCOS ResNet-50-FPN in torchvision's module layout (``backbone.body.*``, ``backbone.fpn.*``,
``head.classification_head.*``, ``head.regression_head.*``).

Follows ``torchvision.models.detection.fcos`` (fcos_resnet50_fpn: ResNet-50 with frozen
BatchNorm, FPN on C3–C5 with P6/P7 from P5, GroupNorm heads, 91 COCO categories as torchvision
numbers them). torchvision's GeneralizedRCNNTransform (normalise, resize, pad) is replaced by the
numpy preprocessing; ``forward`` takes the normalised image and returns the raw head,
(1, 4 + 1 + 91, anchors): ReLU'd ltrb distances in stride units, centerness logit, class logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from zoo_detector.nets.common import FrozenBatchNorm2d


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50Body(nn.Module):
    """torchvision's resnet50 as IntermediateLayerGetter keeps it (no avgpool/fc); returns C3–C5."""

    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(64, 3, 1)
        self.layer2 = self._stage(128, 4, 2)
        self.layer3 = self._stage(256, 6, 2)
        self.layer4 = self._stage(512, 3, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False), FrozenBatchNorm2d(planes * 4)
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


class LastLevelP6P7(nn.Module):
    def __init__(self, in_channels: int = 256, out_channels: int = 256) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        for module in (self.p6, self.p7):
            nn.init.kaiming_uniform_(module.weight, a=1)
            nn.init.constant_(module.bias, 0)

    def forward(self, p5: torch.Tensor) -> list[torch.Tensor]:
        p6 = self.p6(p5)
        return [p6, self.p7(F.relu(p6))]


def _conv_block(cin: int, cout: int, k: int) -> nn.Sequential:
    """torchvision's Conv2dNormActivation without norm or activation: keys ``N.0.weight``."""
    conv = nn.Conv2d(cin, cout, k, padding=(k - 1) // 2)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    nn.init.constant_(conv.bias, 0)
    return nn.Sequential(conv)


class FeaturePyramidNetwork(nn.Module):
    def __init__(self, in_channels_list: tuple[int, ...] = (512, 1024, 2048), out_channels: int = 256) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(_conv_block(c, out_channels, 1) for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(_conv_block(out_channels, out_channels, 3) for _ in in_channels_list)
        self.extra_blocks = LastLevelP6P7(out_channels, out_channels)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        last_inner = self.inner_blocks[-1](xs[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(xs) - 2, -1, -1):
            lateral = self.inner_blocks[idx](xs[idx])
            last_inner = lateral + F.interpolate(last_inner, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[idx](last_inner))
        return results + self.extra_blocks(results[-1])


class BackboneWithFPN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = ResNet50Body()
        self.fpn = FeaturePyramidNetwork()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.fpn(self.body(x))


def _tower(channels: int = 256, num_convs: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(channels, channels, 3, 1, 1), nn.GroupNorm(32, channels), nn.ReLU()]
    return nn.Sequential(*layers)


def _init_normal(*convs: nn.Conv2d, bias: float = 0.0) -> None:
    for conv in convs:
        nn.init.normal_(conv.weight, std=0.01)
        nn.init.constant_(conv.bias, bias)


class FCOSClassificationHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, prior_probability: float = 0.01) -> None:
        super().__init__()
        self.conv = _tower(in_channels)
        self.cls_logits = nn.Conv2d(in_channels, num_classes, 3, 1, 1)
        _init_normal(*(m for m in self.conv if isinstance(m, nn.Conv2d)))
        _init_normal(self.cls_logits, bias=-math.log((1 - prior_probability) / prior_probability))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_logits(self.conv(x))


class FCOSRegressionHead(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = _tower(in_channels)
        self.bbox_reg = nn.Conv2d(in_channels, 4, 3, 1, 1)
        self.bbox_ctrness = nn.Conv2d(in_channels, 1, 3, 1, 1)
        _init_normal(*(m for m in self.conv if isinstance(m, nn.Conv2d)), self.bbox_reg, self.bbox_ctrness)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tower = self.conv(x)
        return F.relu(self.bbox_reg(tower)), self.bbox_ctrness(tower)


class FCOSHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.classification_head = FCOSClassificationHead(in_channels, num_classes)
        self.regression_head = FCOSRegressionHead(in_channels)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        outs = []
        for x in feats:
            reg, ctr = self.regression_head(x)
            outs.append(torch.cat((reg, ctr, self.classification_head(x)), 1).flatten(2))
        return torch.cat(outs, 2)


class FCOS(nn.Module):
    strides = (8, 16, 32, 64, 128)

    def __init__(self, num_classes: int = 91) -> None:
        super().__init__()
        self.backbone = BackboneWithFPN()
        self.head = FCOSHead(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def fcos_resnet50_fpn(num_classes: int = 91) -> FCOS:
    return FCOS(num_classes)


def upgrade_fpn_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision < 0.13 saved FPN convs as ``inner_blocks.N.weight``; 0.13+ as ``inner_blocks.N.0.weight``.

    torchvision itself renames old keys on load (FeaturePyramidNetwork._load_from_state_dict);
    this is the same, explicit rename, so checkpoints of either vintage load strictly.
    """
    import re

    pattern = re.compile(r"^(backbone\.fpn\.(?:inner|layer)_blocks\.\d+)\.(weight|bias)$")
    return {pattern.sub(r"\1.0.\2", k): v for k, v in state_dict.items()}
