"""Bake torch parametrizations back into plain parameters.

Pruning masks and shared k-means codebooks are attached with ``torch.nn.utils.parametrize`` while
fine-tuning, so every forward sees the constrained weight and gradients flow through the
constraint. Before export they must go: ``bake`` writes the constrained value into a plain
``weight`` parameter and removes the parametrization, leaving a standard module.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize


def bake(model: nn.Module) -> nn.Module:
    """Remove every parametrization in ``model`` in place, keeping the parametrized values."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            names = list(getattr(module, "parametrizations").keys())  # noqa: B009 - untyped attribute
            for name in names:
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return model
