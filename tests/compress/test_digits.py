"""The digits benchmark: the data split is fixed, and QAT beats PTQ at low bit widths."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("sklearn")

from zoo.compress.digits import (  # noqa: E402
    DigitsCNN,
    DigitsStudent,
    accuracy,
    load_digits_split,
    ptq_accuracy,
    qat_accuracy,
    train_fp32,
)


def test_split_is_fixed_stratified_and_scaled() -> None:
    a = load_digits_split()
    b = load_digits_split()
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert len(a.y_train) + len(a.y_test) == 1797
    assert len(a.y_test) == 540
    assert a.x_train.shape[1:] == (1, 8, 8)
    assert float(a.x_train.min()) >= 0.0 and float(a.x_train.max()) <= 1.0
    counts = torch.bincount(a.y_test, minlength=10)
    assert int(counts.min()) >= 50  # every class in the test set, about equally


def test_models_are_the_documented_sizes() -> None:
    def count(m: torch.nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    assert count(DigitsCNN()) == 10_074
    assert count(DigitsStudent()) == 1_370
    assert DigitsCNN()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.slow
def test_fp32_cnn_learns_digits_and_qat_beats_ptq_at_low_bits() -> None:
    data = load_digits_split()
    model = train_fp32(data, seed=0)
    fp32 = accuracy(model, data.x_test, data.y_test)
    assert fp32 > 0.95
    # 8 bits: PTQ is already lossless within a couple of test images.
    assert ptq_accuracy(model, data, 8) >= fp32 - 0.005
    for bits in (4, 3, 2):
        ptq = ptq_accuracy(model, data, bits)
        qat = qat_accuracy(model, data, bits, seed=0)
        assert qat > ptq, f"W{bits}A{bits}: QAT {qat:.4f} does not beat PTQ {ptq:.4f}"
