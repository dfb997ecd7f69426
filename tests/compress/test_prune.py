from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.compress.parametrize import bake
from zoo.compress.prune import attach_masks, channel_prune, magnitude_prune, sparsity
from zoo.errors import ConfigError, InputError


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_sparsity_counts_zero_conv_and_linear_weights_only() -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    with torch.no_grad():
        model[0].weight.zero_()  # 20 of 30 weights
        model[0].bias.zero_()  # biases do not count
        model[1].weight.zero_()  # norms do not count
    assert sparsity(model) == pytest.approx(20 / 30)


@pytest.mark.parametrize("amount", [0.0, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_magnitude_prune_hits_requested_sparsity(model: nn.Module, amount: float, scope: str) -> None:
    pruned, masks = magnitude_prune(model, amount, scope)  # type: ignore[arg-type]
    assert sparsity(pruned) == pytest.approx(amount, abs=2e-3)
    if scope == "layer":
        for w in _weights(pruned):
            assert float((w == 0).float().mean()) == pytest.approx(amount, abs=0.02)
    assert set(masks) == {"0.weight", "2.weight", "6.weight", "8.weight"}
    assert sparsity(model) == 0.0  # input untouched


def test_global_prunes_the_smallest_magnitudes_overall(model: nn.Module) -> None:
    pruned, _ = magnitude_prune(model, 0.6, "global")
    kept = torch.cat([w[w != 0].detach().abs() for w in _weights(pruned)])
    orig = torch.cat([w.detach().abs().reshape(-1) for w in _weights(model)])
    removed = orig[torch.cat([(w == 0).reshape(-1) for w in _weights(pruned)])]
    assert float(kept.min()) >= float(removed.max())


def test_channel_prune_zeroes_whole_output_channels(model: nn.Module) -> None:
    pruned, masks = channel_prune(model, 0.5)
    for name, layer in pruned.named_children():
        if not isinstance(layer, (nn.Conv2d, nn.Linear)):
            continue
        rows = layer.weight.reshape(layer.weight.shape[0], -1)
        dead = (rows == 0).all(dim=1)
        if name == "8":
            assert not dead.any()  # the output layer is kept whole
            continue
        assert int(dead.sum()) == layer.weight.shape[0] // 2
        assert torch.all(layer.bias[dead] == 0)
        # Only whole channels: a live channel keeps all its weights.
        assert torch.all(rows[~dead] != 0)
        # The dropped channels had the smallest L1 norms.
        norms = model.get_submodule(name).weight.detach().abs().reshape(len(dead), -1).sum(1)
        assert float(norms[~dead].min()) >= float(norms[dead].max())
    assert "6.bias" in masks


def test_masks_keep_zeros_through_finetuning(model: nn.Module, images: torch.Tensor) -> None:
    pruned, masks = magnitude_prune(model, 0.8)
    attach_masks(pruned, masks)
    opt = torch.optim.Adam([p for p in pruned.parameters() if p.requires_grad], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        pruned(images).square().mean().backward()
        opt.step()
    bake(pruned)
    assert sparsity(pruned) >= 0.8 - 2e-3
    assert all(isinstance(w, nn.Parameter) for w in _weights(pruned))
    # Without the masks the same steps revive pruned weights.
    unmasked, _ = magnitude_prune(model, 0.8)
    opt = torch.optim.Adam(unmasked.parameters(), lr=0.1)
    opt.zero_grad()
    unmasked(images).square().mean().backward()
    opt.step()
    assert sparsity(unmasked) < 0.5


def test_bad_amount_and_mask_errors(model: nn.Module) -> None:
    with pytest.raises(ConfigError, match="sparsity must be in"):
        magnitude_prune(model, 1.0)
    with pytest.raises(ConfigError, match="scope"):
        magnitude_prune(model, 0.5, "row")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no parameter named 'x.weight'"):
        attach_masks(model, {"x.weight": torch.ones(1)})
    with pytest.raises(InputError, match="shape"):
        attach_masks(model, {"0.weight": torch.ones(1)})
