from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.compress.fake_quant import (
    FakeQuantize,
    QuantWrapper,
    activation_ranges,
    calibrate,
    fake_quantize_ste,
    prepare_qat,
    strip_fake_quant,
)
from zoo.compress.linear import QuantScheme, compute_qparams, qparams_from_range
from zoo.compress.ptq import quantize_weights, simulate_ptq
from zoo.errors import ConfigError, InputError


def test_ste_gradient_is_identity_inside_and_zero_outside_the_range() -> None:
    scheme = QuantScheme(bits=4, symmetric=False)
    qp = qparams_from_range(torch.tensor(-1.0), torch.tensor(2.0), scheme)
    x = torch.tensor([-5.0, -1.2, -0.5, 0.0, 0.3, 1.7, 2.5, 9.0], requires_grad=True)
    upstream = torch.arange(1.0, 9.0)
    fake_quantize_ste(x, qp).backward(upstream)
    lo = float(qp.scale * (qp.qmin - qp.zero_point))
    hi = float(qp.scale * (qp.qmax - qp.zero_point))
    inside = (x.detach() >= lo) & (x.detach() <= hi)
    assert inside.tolist() == [False, False, True, True, True, True, False, False]
    torch.testing.assert_close(x.grad, upstream * inside)


def test_ste_forward_equals_quantize_dequantize() -> None:
    x = torch.randn(50)
    qp = compute_qparams(x, QuantScheme(bits=3))
    out = fake_quantize_ste(x, qp)
    assert out.unique().numel() <= 7  # symmetric 3-bit: -3..3
    assert torch.all((out - x).abs() <= qp.scale / 2 + 1e-6)


def test_prepare_qat_wraps_every_conv_and_linear(model: nn.Module) -> None:
    prepared = prepare_qat(model, bits=4)
    wrappers = [m for m in prepared.modules() if isinstance(m, QuantWrapper)]
    assert len(wrappers) == 4
    assert not any(isinstance(m, QuantWrapper) for m in model.modules())  # copy, not in place
    assert all(w.weight_fq.scheme.granularity == "channel" for w in wrappers)


def test_qat_model_at_8_bits_is_close_to_float_and_trains(model: nn.Module, images: torch.Tensor) -> None:
    prepared = prepare_qat(model, bits=8)
    calibrate(prepared, [images])
    with torch.no_grad():
        diff = (prepared(images) - model(images)).abs().max()
    assert float(diff) < 0.05
    prepared.train()
    loss = prepared(images).square().mean()
    loss.backward()
    grads = [p.grad for p in prepared.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_low_bits_change_outputs_more(model: nn.Module, images: torch.Tensor) -> None:
    errors = []
    for bits in (8, 4, 2):
        sim = simulate_ptq(model, [images], bits=bits)
        with torch.no_grad():
            errors.append(float((sim(images) - model(images)).abs().mean()))
    assert errors[0] < errors[1] < errors[2]


def test_calibration_records_input_ranges(model: nn.Module, images: torch.Tensor) -> None:
    prepared = prepare_qat(model, act_observer="minmax")
    calibrate(prepared, [images])
    ranges = activation_ranges(prepared)
    assert set(ranges) == {"0", "2", "6", "8"}
    assert ranges["0"] == pytest.approx((float(images.min()), float(images.max())))
    assert ranges["2"][0] == 0.0  # after ReLU


def test_strip_fake_quant_gives_plain_traceable_model(model: nn.Module, images: torch.Tensor) -> None:
    prepared = prepare_qat(model, bits=4)
    calibrate(prepared, [images])
    plain = strip_fake_quant(prepared)
    assert not any(isinstance(m, (QuantWrapper, FakeQuantize)) for m in plain.modules())
    baked, _ = quantize_weights(model, bits=4)
    for a, b in zip(plain.parameters(), baked.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    traced = torch.jit.trace(plain, images)
    torch.testing.assert_close(traced(images), plain(images))


def test_quantize_weights_puts_each_channel_on_its_grid(model: nn.Module) -> None:
    baked, params = quantize_weights(model, bits=3)
    w = baked[0].weight
    for c in range(w.shape[0]):
        assert w[c].unique().numel() <= 7
    assert params["0"].scale.shape == (8, 1, 1, 1)


def test_group_weights(model: nn.Module) -> None:
    baked, params = quantize_weights(model, bits=4, granularity="group", group_size=16)
    assert params["6"].scale.shape == (32, 16)  # 256 inputs / 16 per group
    row = baked[6].weight[0, :16]
    assert row.unique().numel() <= 15


def test_bad_arguments(model: nn.Module) -> None:
    with pytest.raises(ConfigError, match="bits"):
        prepare_qat(model, bits=1)
    with pytest.raises(ConfigError, match="unknown observer"):
        prepare_qat(model, act_observer="kl")
    with pytest.raises(InputError, match="no Conv2d or Linear"):
        prepare_qat(nn.Sequential(nn.ReLU()))
    with pytest.raises(InputError, match="no batches"):
        calibrate(prepare_qat(model), [])
