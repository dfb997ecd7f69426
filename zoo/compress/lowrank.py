"""Low-rank factorisation of Linear and 1x1 Conv2d layers by truncated SVD.

A weight ``W`` (out x in) becomes ``(U_r sqrt(S_r)) (sqrt(S_r) V_r^T)``: two standard layers of
rank ``r`` with ``r * (in + out)`` weights instead of ``in * out``. Splitting ``sqrt(S)`` evenly
keeps both factors at similar magnitudes, which matters if they are quantized afterwards. The
rank is given directly or as the smallest one keeping an ``energy`` fraction of ``sum(S^2)``.
A layer is only replaced when the factorised form has fewer parameters.

Only 1x1 convolutions factorise this way (a k x k conv needs a spatial split, which is a
different method), and only with ``groups == 1``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from zoo.errors import ConfigError, InputError


@dataclass(frozen=True)
class Factorisation:
    """What happened to one layer."""

    rank: int
    full_rank: int
    params_before: int
    params_after: int
    energy_kept: float


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _matrix(layer: nn.Module) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return layer.weight.detach()
    if isinstance(layer, nn.Conv2d):
        if layer.kernel_size != (1, 1) or layer.groups != 1:
            raise InputError(
                f"only 1x1 Conv2d with groups=1 can be factorised, got kernel {layer.kernel_size} groups {layer.groups}"
            )
        return layer.weight.detach().reshape(layer.out_channels, layer.in_channels)
    raise InputError(f"cannot factorise a {type(layer).__name__}; use Linear or 1x1 Conv2d")


def choose_rank(singular: torch.Tensor, rank: int | None, energy: float | None) -> int:
    """The rank to keep: ``rank`` as given (capped at full rank) or the smallest reaching ``energy``."""
    if (rank is None) == (energy is None):
        raise ConfigError("give exactly one of rank or energy")
    full = int(singular.numel())
    if rank is not None:
        if rank < 1:
            raise ConfigError(f"rank must be >= 1, got {rank}")
        return min(rank, full)
    if energy is None or not 0.0 < energy <= 1.0:
        raise ConfigError(f"energy must be in (0, 1], got {energy}")
    cumulative = torch.cumsum(singular**2, 0) / torch.sum(singular**2).clamp(min=1e-30)
    reached = torch.nonzero(cumulative >= energy - 1e-9)
    return int(reached[0]) + 1 if reached.numel() else full


@torch.no_grad()
def factorise_layer(
    layer: nn.Module, rank: int | None = None, energy: float | None = None
) -> tuple[nn.Sequential, Factorisation]:
    """Two standard layers computing the rank-``r`` approximation of ``layer``.

    Linear becomes ``Linear(in, r, bias=False) -> Linear(r, out)``; a 1x1 conv becomes
    ``Conv2d(in, r, 1, stride, padding) -> Conv2d(r, out, 1)``. The bias goes on the second layer.
    """
    w = _matrix(layer).float()
    if not isinstance(layer, (nn.Linear, nn.Conv2d)):  # _matrix raised already; narrows the type
        raise InputError(f"cannot factorise a {type(layer).__name__}")
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    r = choose_rank(s, rank, energy)
    root = torch.sqrt(s[:r])
    first_w = root[:, None] * vh[:r]  # r x in
    second_w = u[:, :r] * root[None, :]  # out x r
    has_bias = layer.bias is not None
    first: nn.Linear | nn.Conv2d
    second: nn.Linear | nn.Conv2d
    if isinstance(layer, nn.Linear):
        first = nn.Linear(layer.in_features, r, bias=False)
        second = nn.Linear(r, layer.out_features, bias=has_bias)
        first.weight.copy_(first_w)
        second.weight.copy_(second_w)
    else:
        first = nn.Conv2d(
            layer.in_channels,
            r,
            1,
            stride=(layer.stride[0], layer.stride[1]),
            padding=layer.padding if isinstance(layer.padding, str) else (layer.padding[0], layer.padding[1]),
            padding_mode=layer.padding_mode,
            bias=False,
        )
        second = nn.Conv2d(r, layer.out_channels, 1, bias=has_bias)
        first.weight.copy_(first_w.reshape(r, layer.in_channels, 1, 1))
        second.weight.copy_(second_w.reshape(layer.out_channels, r, 1, 1))
    if layer.bias is not None and second.bias is not None:
        second.bias.copy_(layer.bias)
    replacement = nn.Sequential(first, second).to(layer.weight.dtype)
    kept = float(torch.sum(s[:r] ** 2) / torch.sum(s**2).clamp(min=1e-30))
    info = Factorisation(
        rank=r,
        full_rank=int(s.numel()),
        params_before=_count(layer),
        params_after=_count(replacement),
        energy_kept=kept,
    )
    return replacement, info


def _factorisable(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.groups == 1


def factorise_model(
    model: nn.Module,
    rank: int | None = None,
    energy: float | None = None,
    inplace: bool = False,
) -> tuple[nn.Module, dict[str, Factorisation]]:
    """Factorise every Linear and 1x1 Conv2d where that saves parameters.

    Returns the model (a copy unless ``inplace``) and, per replaced layer name, its
    ``Factorisation``; layers where the factors would be larger are left unchanged and absent.
    """
    choose_rank(torch.ones(1), rank, energy)  # validate options before any work
    target = model if inplace else copy.deepcopy(model)
    done: dict[str, Factorisation] = {}
    for parent_name, parent in list(target.named_modules()):
        for name, child in list(parent.named_children()):
            if not _factorisable(child):
                continue
            replacement, info = factorise_layer(child, rank, energy)
            if info.params_after < info.params_before:
                setattr(parent, name, replacement)
                done[f"{parent_name}.{name}" if parent_name else name] = info
    return target, done
