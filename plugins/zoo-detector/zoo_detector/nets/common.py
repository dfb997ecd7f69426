"""Pieces shared by the detector networks: deterministic random initialisation."""

from __future__ import annotations

import torch
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.FrozenBatchNorm2d: BatchNorm with fixed statistics and affine terms.

    Same buffers (weight, bias, running_mean, running_var; no num_batches_tracked), so torchvision
    detection checkpoints load strictly. The forward is ``F.batch_norm`` in eval mode, which pnnx
    recognises and folds into the preceding convolution.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.num_features = num_features
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, training=False, eps=self.eps
        )


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights that behave like a trained network's, deterministic in ``seed``.

    A freshly initialised detector gives near-constant outputs whatever the input (FACTS.md):
    PyTorch's default conv init shrinks the signal layer after layer, and BN (mean 0, var 1,
    weight 1, bias 0) does not restore it. So every trainable convolution gets variance-preserving
    Kaiming-normal weights (He, fan-in) and every normalisation layer random statistics and affine
    terms. Biases (the heads' class priors) are left as the upstream initialisation sets them.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.weight.requires_grad:
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            elif isinstance(m, nn.GroupNorm) and m.affine:
                n = m.num_channels
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    return model


def count_params(model: nn.Module) -> int:
    """Parameters only (buffers excluded), as Ultralytics, Megvii and torchvision count them."""
    return sum(p.numel() for p in model.parameters())
