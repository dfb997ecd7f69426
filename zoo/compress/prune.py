"""Magnitude pruning: unstructured (global or per layer) and output-channel structured.

Masks are returned alongside the model so fine-tuning can keep the zeros: ``attach_masks``
registers ``weight = weight * mask`` as a parametrization (the masked entries then get zero
gradient and stay zero whatever the optimizer does), and ``zoo.compress.parametrize.bake``
writes the masked weights back as plain parameters before export.

Only Conv2d/Linear weights are pruned; biases, norms and embeddings are left alone (they are a
tiny share of the parameters and pruning them buys nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from zoo.compress.fake_quant import QUANTIZABLE, Layer, quantizable_layers
from zoo.errors import ConfigError, InputError

Scope = Literal["global", "layer"]


def _check_fraction(value: float, name: str) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")


def _weights(model: nn.Module) -> list[tuple[str, Layer]]:
    layers = quantizable_layers(model)
    if not layers:
        raise InputError("the model has no Conv2d or Linear layer to prune")
    return layers


def _param(module_name: str, param_name: str) -> str:
    return f"{module_name}.{param_name}" if module_name else param_name


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero entries over all Conv2d/Linear weights (the card's column)."""
    zeros = 0
    total = 0
    for module in model.modules():
        if isinstance(module, QUANTIZABLE):
            w = module.weight
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / total if total else 0.0


def _smallest_mask(scores: torch.Tensor, amount: int) -> torch.Tensor:
    """Mask (1 = keep) that zeroes exactly ``amount`` entries with the smallest scores.

    Uses a stable sort so ties (many equal magnitudes) still prune exactly ``amount``, which a
    threshold comparison would not.
    """
    flat = scores.reshape(-1)
    mask = torch.ones_like(flat)
    if amount > 0:
        order = torch.argsort(flat, stable=True)
        mask[order[:amount]] = 0.0
    return mask.reshape(scores.shape)


@torch.no_grad()
def magnitude_prune(
    model: nn.Module,
    amount: float,
    scope: Scope = "global",
    inplace: bool = False,
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """Zero the ``amount`` fraction of smallest-magnitude weights.

    ``global`` ranks all Conv2d/Linear weights together (layers with many redundant weights lose
    more), ``layer`` prunes each layer by the same fraction. Returns the model (a copy unless
    ``inplace``) and a 0/1 mask per layer name.
    """
    _check_fraction(amount, "sparsity")
    if scope not in ("global", "layer"):
        raise ConfigError(f"scope must be one of global, layer; got {scope!r}")
    target = model if inplace else copy.deepcopy(model)
    layers = _weights(target)
    masks: dict[str, torch.Tensor] = {}
    if scope == "layer":
        for name, module in layers:
            w = module.weight
            masks[name] = _smallest_mask(w.abs(), round(amount * w.numel()))
    else:
        scores = torch.cat([m.weight.abs().reshape(-1) for _, m in layers])
        flat_mask = _smallest_mask(scores, round(amount * scores.numel()))
        offset = 0
        for name, module in layers:
            n = module.weight.numel()
            masks[name] = flat_mask[offset : offset + n].reshape(module.weight.shape)
            offset += n
    for name, module in layers:
        module.weight.mul_(masks[name].to(module.weight.dtype))
    return target, {_param(name, "weight"): mask for name, mask in masks.items()}


@torch.no_grad()
def channel_prune(
    model: nn.Module,
    amount: float,
    keep_last: bool = True,
    exclude: Iterable[str] = (),
    inplace: bool = False,
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """Zero whole output channels with the smallest L1 norm, ``amount`` of them in each layer.

    The channel's bias is zeroed too, so the channel's output is exactly zero (before any
    following norm layer) and a later pass can physically remove it. The last Conv2d/Linear is
    skipped by default: its output channels are the model's outputs (class logits), and
    removing one deletes a class. Returns the model and a 0/1 mask per parameter name, biases
    included, so that fine-tuning with ``attach_masks`` cannot revive a channel through its bias.
    """
    _check_fraction(amount, "sparsity")
    target = model if inplace else copy.deepcopy(model)
    layers = _weights(target)
    skipped = set(exclude)
    unknown = skipped - {n for n, _ in layers}
    if unknown:
        raise ConfigError(f"exclude names unknown layers: {', '.join(sorted(unknown))}")
    if keep_last:
        skipped.add(layers[-1][0])
    masks: dict[str, torch.Tensor] = {}
    for name, module in layers:
        w = module.weight
        if name in skipped:
            continue
        norms = w.abs().reshape(w.shape[0], -1).sum(dim=1)
        n_prune = min(round(amount * w.shape[0]), w.shape[0] - 1)
        channel_keep = _smallest_mask(norms, n_prune)
        mask = channel_keep.reshape(-1, *([1] * (w.dim() - 1))).expand_as(w).clone()
        w.mul_(mask)
        masks[_param(name, "weight")] = mask
        if module.bias is not None:
            module.bias.mul_(channel_keep)
            masks[_param(name, "bias")] = channel_keep.clone()
    return target, masks


class Mask(nn.Module):
    """Parametrization ``weight * mask``: masked entries stay zero and get zero gradient."""

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def attach_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Register each mask (keyed by parameter name) so fine-tuning keeps the pruned zeros."""
    modules = dict(model.named_modules())
    for key, mask in masks.items():
        module_name, _, param_name = key.rpartition(".")
        module = modules.get(module_name)
        param = getattr(module, param_name, None) if module is not None else None
        if module is None or not isinstance(param, torch.Tensor):
            raise InputError(f"no parameter named {key!r} in the model")
        if tuple(mask.shape) != tuple(param.shape):
            raise InputError(f"mask for {key!r} has shape {tuple(mask.shape)}, parameter {tuple(param.shape)}")
        parametrize.register_parametrization(module, param_name, Mask(mask))
