"""Binary and ternary weights with one scale per output channel.

- Binary (XNOR-Net / BWN): ``w ~ alpha * sign(w)`` with ``alpha = mean |w|`` per output channel,
  the scale that minimises ``||w - alpha * sign(w)||^2``. One bit per weight.
- Ternary (TWN, Li & Liu 2016): ``w ~ alpha * t`` with ``t`` in {-1, 0, +1}; ``t = 0`` where
  ``|w| <= delta``, ``delta = 0.7 * mean |w|`` (their approximation of the optimal threshold
  for Gaussian-like weights) and ``alpha`` the mean of ``|w|`` above the threshold. Two bits.

First and last layers are kept in float by default, as both papers do: the first layer sees raw
pixels with few input channels and the last one produces the logits, and binarising either costs
far more accuracy than it saves bytes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from zoo.compress.fake_quant import Layer, quantizable_layers
from zoo.errors import ConfigError, InputError


def _per_channel_dims(w: torch.Tensor) -> list[int]:
    return list(range(1, w.dim()))


def binarize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(signs, alpha)``: signs in {-1, +1} (0 maps to +1) and a per-output-channel scale."""
    if w.dim() < 1 or w.numel() == 0:
        raise InputError("binarize needs a non-empty weight with an output-channel axis")
    signs = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
    dims = _per_channel_dims(w)
    alpha = w.abs().mean(dim=dims, keepdim=True) if dims else w.abs()
    return signs, alpha


def ternarize(w: torch.Tensor, threshold: float = 0.7) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ternary, alpha)``: ternary in {-1, 0, +1} and a per-output-channel scale (TWN)."""
    if not 0.0 < threshold < 2.0:
        raise ConfigError(f"threshold must be in (0, 2) (TWN uses 0.7), got {threshold}")
    if w.dim() < 1 or w.numel() == 0:
        raise InputError("ternarize needs a non-empty weight with an output-channel axis")
    dims = _per_channel_dims(w)
    mag = w.abs()
    mean_abs = mag.mean(dim=dims, keepdim=True) if dims else mag
    delta = threshold * mean_abs
    keep = mag > delta
    ternary = torch.sign(w) * keep
    kept = keep.sum(dim=dims, keepdim=True) if dims else keep.to(w.dtype)
    total = (mag * keep).sum(dim=dims, keepdim=True) if dims else mag * keep
    alpha = total / kept.clamp(min=1)
    return ternary.to(w.dtype), alpha


def _layers(model: nn.Module) -> list[tuple[str, Layer]]:
    return quantizable_layers(model)


def select_layers(
    model: nn.Module, keep_first_last: bool, exclude: Iterable[str] = ()
) -> tuple[list[tuple[str, Layer]], list[str]]:
    """Conv2d/Linear layers to transform, and the names left in float (first/last, excluded)."""
    layers = _layers(model)
    if not layers:
        raise InputError("the model has no Conv2d or Linear layer")
    skipped = set(exclude)
    unknown = skipped - {n for n, _ in layers}
    if unknown:
        raise ConfigError(f"exclude names unknown layers: {', '.join(sorted(unknown))}")
    if keep_first_last:
        skipped |= {layers[0][0], layers[-1][0]}
    chosen = [(n, m) for n, m in layers if n not in skipped]
    return chosen, [n for n, _ in layers if n in skipped]


@torch.no_grad()
def binarize_weights(
    model: nn.Module,
    keep_first_last: bool = True,
    exclude: Iterable[str] = (),
    inplace: bool = False,
) -> tuple[nn.Module, list[str]]:
    """Replace weights by ``alpha * sign(w)`` per output channel; returns (model, float layers)."""
    target = model if inplace else copy.deepcopy(model)
    chosen, skipped = select_layers(target, keep_first_last, exclude)
    for _, module in chosen:
        signs, alpha = binarize(module.weight)
        module.weight.copy_(signs * alpha)
    return target, skipped


@torch.no_grad()
def ternarize_weights(
    model: nn.Module,
    threshold: float = 0.7,
    keep_first_last: bool = True,
    exclude: Iterable[str] = (),
    inplace: bool = False,
) -> tuple[nn.Module, list[str]]:
    """Replace weights by TWN ternary values per output channel; returns (model, float layers)."""
    target = model if inplace else copy.deepcopy(model)
    chosen, skipped = select_layers(target, keep_first_last, exclude)
    for _, module in chosen:
        ternary, alpha = ternarize(module.weight, threshold)
        module.weight.copy_(ternary * alpha)
    return target, skipped


class BinaryWeightSTE(nn.Module):
    """Parametrization for fine-tuning: forward uses the binary weight, backward is identity.

    ``w + (b(w) - w).detach()`` is the straight-through estimator without a custom autograd
    Function; the latent float weight keeps learning and is re-binarised every step.
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        signs, alpha = binarize(weight.detach())
        return weight + (signs * alpha - weight).detach()


class TernaryWeightSTE(nn.Module):
    """Ternary counterpart of ``BinaryWeightSTE``."""

    def __init__(self, threshold: float = 0.7) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        ternary, alpha = ternarize(weight.detach(), self.threshold)
        return weight + (ternary * alpha - weight).detach()
