from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.compress.lowrank import choose_rank, factorise_layer, factorise_model
from zoo.errors import ConfigError, InputError


def test_full_rank_linear_reproduces_outputs() -> None:
    layer = nn.Linear(12, 7)
    x = torch.randn(5, 12)
    pair, info = factorise_layer(layer, rank=7)
    assert info.rank == info.full_rank == 7
    torch.testing.assert_close(pair(x), layer(x), atol=1e-5, rtol=1e-5)


def test_full_rank_1x1_conv_with_stride_and_padding_reproduces_outputs() -> None:
    conv = nn.Conv2d(6, 10, 1, stride=2, padding=1)
    x = torch.randn(2, 6, 7, 7)
    pair, info = factorise_layer(conv, rank=6)
    assert all(isinstance(m, nn.Conv2d) for m in pair)
    torch.testing.assert_close(pair(x), conv(x), atol=1e-5, rtol=1e-5)


def test_truncation_error_is_the_dropped_singular_values() -> None:
    layer = nn.Linear(20, 16, bias=False)
    s = torch.linalg.svdvals(layer.weight.detach())
    pair, info = factorise_layer(layer, rank=5)
    approx = pair[1].weight @ pair[0].weight
    err = torch.linalg.matrix_norm(approx - layer.weight.detach())
    torch.testing.assert_close(err, s[5:].square().sum().sqrt(), atol=1e-5, rtol=1e-4)
    assert info.params_before == 320 and info.params_after == 5 * 36


def test_energy_picks_the_smallest_rank_reaching_it() -> None:
    s = torch.tensor([3.0, 2.0, 1.0, 0.5])
    energy = torch.cumsum(s**2, 0) / (s**2).sum()
    assert choose_rank(s, None, float(energy[1])) == 2
    assert choose_rank(s, None, float(energy[1]) + 1e-3) == 3
    assert choose_rank(s, None, 1.0) == 4
    assert choose_rank(s, 10, None) == 4


def test_model_replaces_only_layers_that_shrink_and_reports_params(model: nn.Module, images: torch.Tensor) -> None:
    out, done = factorise_model(model, rank=4)
    # 3x3 conv never; 1x1 conv 8->16 at rank 4: 96 < 128 weights; Linear 256->32 and 32->10 too.
    assert set(done) == {"2", "6", "8"}
    assert isinstance(out[6], nn.Sequential)
    assert done["6"].params_before == 256 * 32 + 32
    assert done["6"].params_after == 4 * 256 + 32 * 4 + 32
    assert sum(p.numel() for p in out.parameters()) < sum(p.numel() for p in model.parameters())
    assert out(images).shape == (6, 10)
    torch.jit.trace(out, images)
    same, none = factorise_model(model, rank=1000)
    assert none == {}


def test_errors() -> None:
    with pytest.raises(InputError, match="1x1"):
        factorise_layer(nn.Conv2d(3, 4, 3), rank=2)
    with pytest.raises(ConfigError, match="exactly one"):
        choose_rank(torch.ones(3), 2, 0.5)
    with pytest.raises(ConfigError, match="energy"):
        factorise_model(nn.Linear(3, 3), energy=1.5)
