from __future__ import annotations

import pytest
import torch

from zoo.compress.linear import (
    QuantScheme,
    compute_qparams,
    dequantize,
    fake_quantize,
    qparams_from_range,
    qrange,
    quantize,
    quantize_tensor,
    round_tensor,
)
from zoo.errors import ConfigError, InputError

EPS = 1e-6


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("bits", [2, 3, 4, 8, 16])
@pytest.mark.parametrize("symmetric", [True, False])
def test_qrange(bits: int, symmetric: bool) -> None:
    lo, hi = qrange(bits, symmetric)
    if symmetric:
        assert (lo, hi) == (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1)
    else:
        assert (lo, hi) == (0, 2**bits - 1)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8, 12, 16])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize(
    "granularity,axis,group",
    [("tensor", 0, None), ("channel", 0, None), ("channel", 1, None), ("group", 1, 5)],
)
def test_nearest_roundtrip_error_is_at_most_half_a_step(
    bits: int, symmetric: bool, granularity: str, axis: int, group: int | None
) -> None:
    x = torch.randn(6, 23, generator=_gen()) * torch.linspace(0.1, 3, 6)[:, None] + 0.3
    scheme = QuantScheme(
        bits=bits,
        symmetric=symmetric,
        granularity=granularity,  # type: ignore[arg-type]
        axis=axis,
        group_size=group,
    )
    q, qp = quantize_tensor(x, scheme)
    scale, _ = qp.expand(x)
    err = (dequantize(q, qp) - x).abs()
    assert torch.all(err <= scale / 2 + EPS * scale.clamp(min=1))
    assert int(q.min()) >= qp.qmin and int(q.max()) <= qp.qmax


def test_asymmetric_covers_min_and_max_and_zero_is_exact() -> None:
    x = torch.tensor([-0.3, 0.0, 0.2, 0.55, 1.0])
    qp = compute_qparams(x, QuantScheme(bits=8, symmetric=False))
    lo = float(qp.scale * (qp.qmin - qp.zero_point))
    hi = float(qp.scale * (qp.qmax - qp.zero_point))
    step = float(qp.scale)
    # The grid spans [min, max] up to half a step (the rounded zero point).
    assert lo <= -0.3 + step / 2 and hi >= 1.0 - step / 2
    assert float(fake_quantize(torch.tensor([0.0]), qp)) == 0.0
    # Full 8-bit unsigned range is used: 256 levels over max - min.
    assert step == pytest.approx(1.3 / 255, rel=1e-6)


def test_asymmetric_range_is_widened_to_include_zero() -> None:
    x = torch.tensor([2.0, 3.0, 4.0])  # all positive: zero must still be representable
    qp = compute_qparams(x, QuantScheme(bits=4, symmetric=False))
    assert float(qp.zero_point) == 0.0
    assert float(qp.scale) == pytest.approx(4.0 / 15)


def test_symmetric_zero_point_is_zero_and_scale_from_absmax() -> None:
    x = torch.tensor([-2.0, 0.5, 1.0])
    qp = compute_qparams(x, QuantScheme(bits=8, symmetric=True))
    assert float(qp.zero_point) == 0.0
    assert float(qp.scale) == pytest.approx(2.0 / 127)
    q = quantize(torch.tensor([-2.0, 2.0]), qp)
    assert q.tolist() == [-127, 127]


def test_per_channel_scales_differ_per_channel() -> None:
    x = torch.randn(4, 10, generator=_gen()) * torch.tensor([0.1, 1.0, 10.0, 100.0])[:, None]
    qp = compute_qparams(x, QuantScheme(bits=8, granularity="channel", axis=0))
    assert qp.scale.shape == (4, 1)
    expected = x.abs().amax(dim=1, keepdim=True) / 127
    torch.testing.assert_close(qp.scale, expected)
    assert len(set(qp.scale.reshape(-1).tolist())) == 4


def test_per_channel_on_conv_weight_axis0() -> None:
    w = torch.randn(8, 3, 3, 3, generator=_gen())
    qp = compute_qparams(w, QuantScheme(bits=4, granularity="channel", axis=0))
    assert qp.scale.shape == (8, 1, 1, 1)
    assert qp.count == 8


@pytest.mark.parametrize("n,group,groups", [(16, 4, 4), (16, 16, 1), (17, 4, 5), (3, 8, 1)])
def test_group_sizes(n: int, group: int, groups: int) -> None:
    x = torch.randn(3, n, generator=_gen())
    scheme = QuantScheme(bits=4, granularity="group", axis=1, group_size=group)
    qp = compute_qparams(x, scheme)
    assert qp.scale.shape == (3, groups)
    # Each group's scale is the absmax of exactly that block of the row.
    for g in range(groups):
        block = x[:, g * group : (g + 1) * group]
        torch.testing.assert_close(qp.scale[:, g], block.abs().amax(dim=1) / 7)
    scale, _ = qp.expand(x)
    assert scale.shape == x.shape


def test_group_wise_beats_per_tensor_on_mixed_magnitudes() -> None:
    x = torch.randn(1, 64, generator=_gen())
    x[:, :8] *= 50  # one block of large values would blow up a single scale
    tensor_out = fake_quantize(x, compute_qparams(x, QuantScheme(bits=4)))
    group_scheme = QuantScheme(bits=4, granularity="group", axis=1, group_size=8)
    group_out = fake_quantize(x, compute_qparams(x, group_scheme))
    # The small-magnitude blocks get their own scales and keep their detail.
    small = slice(8, None)
    tensor_err = (tensor_out - x)[:, small].abs().mean()
    group_err = (group_out - x)[:, small].abs().mean()
    assert group_err < tensor_err / 5


def test_more_bits_less_error() -> None:
    x = torch.randn(1000, generator=_gen())
    errors = [
        float((fake_quantize(x, compute_qparams(x, QuantScheme(bits=b))) - x).abs().mean()) for b in (2, 4, 8, 16)
    ]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-4


def test_stochastic_rounding_is_unbiased_and_between_floor_and_ceil() -> None:
    x = torch.full((20000,), 0.3)
    r = round_tensor(x, "stochastic", _gen(3))
    assert set(r.unique().tolist()) == {0.0, 1.0}
    assert float(r.mean()) == pytest.approx(0.3, abs=0.02)
    assert float(round_tensor(torch.tensor([0.3]), "nearest")) == 0.0


def test_rounding_modes() -> None:
    x = torch.tensor([-1.5, -0.5, 0.5, 1.5, 2.7])
    assert round_tensor(x, "nearest").tolist() == [-2.0, -0.0, 0.0, 2.0, 3.0]  # half to even
    assert round_tensor(x, "floor").tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert round_tensor(x, "ceil").tolist() == [-1.0, -0.0, 1.0, 2.0, 3.0]


def test_stochastic_quantize_error_below_one_step() -> None:
    x = torch.randn(500, generator=_gen())
    scheme = QuantScheme(bits=4, rounding="stochastic")
    qp = compute_qparams(x, scheme)
    out = dequantize(quantize(x, qp, "stochastic", _gen(1)), qp)
    assert torch.all((out - x).abs() <= qp.scale + EPS)


def test_constant_tensor_does_not_divide_by_zero() -> None:
    x = torch.zeros(5)
    out = fake_quantize(x, compute_qparams(x, QuantScheme(bits=8, symmetric=False)))
    assert torch.equal(out, x)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"bits": 1}, "bits"),
        ({"bits": 17}, "bits"),
        ({"bits": 8.0}, "bits"),
        ({"granularity": "row"}, "granularity"),
        ({"granularity": "group"}, "group_size"),
        ({"granularity": "channel", "group_size": 4}, "group_size"),
        ({"rounding": "up"}, "rounding"),
    ],
)
def test_bad_scheme_is_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        QuantScheme(**kwargs)


def test_bad_inputs_are_input_errors() -> None:
    with pytest.raises(InputError, match="axis"):
        compute_qparams(torch.randn(2, 3), QuantScheme(granularity="channel", axis=2))
    with pytest.raises(InputError, match="empty"):
        compute_qparams(torch.empty(0), QuantScheme())
    with pytest.raises(InputError, match="floating"):
        compute_qparams(torch.arange(4), QuantScheme())
    with pytest.raises(InputError, match="no data"):
        qparams_from_range(torch.tensor(1.0), torch.tensor(-1.0), QuantScheme())
