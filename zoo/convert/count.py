"""Params and MACs counted from the model itself (torch side, at export time)."""

from __future__ import annotations

from typing import Any

from zoo.deps import require


def count_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_macs(model: Any, example: Any) -> int:
    """Multiply-accumulates of one forward pass: convolutions, linear layers and matmuls.

    Element-wise ops (BN, activations, adds) are not counted, as in torchvision's and the seed
    table's convention (resnet18: 1.814 G).
    """
    torch = require("torch", "export", "to count MACs")
    nn = torch.nn
    total = 0

    def conv_hook(mod: Any, _inp: Any, out: Any) -> None:
        nonlocal total
        kernel = 1
        for k in mod.kernel_size:
            kernel *= k
        total += out.numel() * (mod.in_channels // mod.groups) * kernel

    def convt_hook(mod: Any, inp: Any, _out: Any) -> None:
        nonlocal total
        kernel = 1
        for k in mod.kernel_size:
            kernel *= k
        total += inp[0].numel() * (mod.out_channels // mod.groups) * kernel

    def linear_hook(mod: Any, inp: Any, out: Any) -> None:
        nonlocal total
        total += out.numel() * mod.in_features

    handles = []
    for mod in model.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
            handles.append(mod.register_forward_hook(convt_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(*example) if isinstance(example, tuple) else model(example)
    finally:
        for h in handles:
            h.remove()
    return int(total)


def count_sparsity(model: Any) -> float:
    """Fraction of exactly-zero weights over conv and linear layers (the card's sparsity column)."""
    torch = require("torch", "export", "to measure sparsity")
    zeros = total = 0
    for mod in model.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            w = mod.weight.detach()
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / total if total else 0.0
