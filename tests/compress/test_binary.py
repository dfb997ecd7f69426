from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from zoo.compress.binary import (
    BinaryWeightSTE,
    TernaryWeightSTE,
    binarize,
    binarize_weights,
    ternarize,
    ternarize_weights,
)
from zoo.compress.parametrize import bake
from zoo.errors import ConfigError


def _per_channel_values(w: torch.Tensor) -> list[set[float]]:
    return [set(w[c].unique().tolist()) for c in range(w.shape[0])]


def test_binary_is_plus_minus_alpha_with_alpha_mean_abs() -> None:
    w = torch.randn(6, 4, 3, 3)
    signs, alpha = binarize(w)
    out = signs * alpha
    for c, values in enumerate(_per_channel_values(out)):
        a = float(w[c].abs().mean())
        assert values <= {a, -a}
    assert torch.equal(torch.sign(out), torch.where(w >= 0, 1.0, -1.0))


def test_binary_alpha_is_the_least_squares_scale() -> None:
    w = torch.randn(1, 100)
    signs, alpha = binarize(w)
    best = float(((signs * alpha - w) ** 2).sum())
    for factor in (0.9, 1.1):
        assert float(((signs * alpha * factor - w) ** 2).sum()) > best


def test_ternary_gives_three_values_per_channel_with_twn_threshold() -> None:
    w = torch.randn(5, 64)
    t, alpha = ternarize(w)
    out = t * alpha
    for c, values in enumerate(_per_channel_values(out)):
        a = float(alpha[c])
        assert values == {-a, 0.0, a}
        delta = 0.7 * float(w[c].abs().mean())
        zeroed = w[c].abs() <= delta
        assert torch.equal(out[c] == 0, zeroed)
        assert a == pytest.approx(float(w[c].abs()[~zeroed].mean()))


def test_model_level_keeps_first_and_last_in_float(model: nn.Module) -> None:
    out, skipped = ternarize_weights(model)
    assert skipped == ["0", "8"]
    torch.testing.assert_close(out[0].weight, model[0].weight)
    for values in _per_channel_values(out[6].weight):
        assert len(values) <= 3
    out_all, skipped_all = binarize_weights(model, keep_first_last=False)
    assert skipped_all == []
    for values in _per_channel_values(out_all[8].weight):
        assert len(values) <= 2


def test_exclude_unknown_layer_is_config_error(model: nn.Module) -> None:
    with pytest.raises(ConfigError, match="unknown layers: nope"):
        binarize_weights(model, exclude=["nope"])
    with pytest.raises(ConfigError, match="threshold"):
        ternarize(torch.randn(2, 2), threshold=0)


@pytest.mark.parametrize("ste", [BinaryWeightSTE(), TernaryWeightSTE()])
def test_ste_parametrization_uses_quantized_forward_and_identity_gradient(
    ste: nn.Module,
) -> None:
    layer = nn.Linear(16, 4)
    parametrize.register_parametrization(layer, "weight", ste)
    x = torch.randn(3, 16)
    layer(x).sum().backward()
    latent = layer.parametrizations.weight.original
    # Gradient reaches the latent float weight unchanged: d(sum(xW^T))/dW = column sums of x.
    torch.testing.assert_close(latent.grad, x.sum(0).expand(4, 16))
    bake(layer)
    assert all(len(v) <= 3 for v in _per_channel_values(layer.weight))
