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


@pytest.fixture
def one_thread():
    """Training sums in a thread-count-dependent order; one thread makes the figures reproducible
    (the same ones benchmarks/compression_table.py writes into docs/compression.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_fp32_cnn_learns_digits_and_qat_beats_ptq_at_low_bits(one_thread) -> None:
    data = load_digits_split()
    model = train_fp32(data, seed=0)
    fp32 = accuracy(model, data.x_test, data.y_test)
    assert fp32 > 0.95
    # 8 bits: PTQ is already lossless within a couple of test images.
    assert ptq_accuracy(model, data, 8) >= fp32 - 0.005
    one_image = 1 / len(data.y_test)
    # 4 bits: PTQ is within a point of fp32 here, and QAT lands within a test image or two of it
    # (above or below, by seed): no worse than PTQ beyond that noise, and close to fp32.
    ptq4, qat4 = ptq_accuracy(model, data, 4), qat_accuracy(model, data, 4, seed=0)
    assert qat4 >= ptq4 - 2 * one_image and qat4 >= fp32 - 0.01, (ptq4, qat4)
    # 3 and 2 bits, where PTQ really loses: QAT wins by a margin, not by a test image
    for bits in (3, 2):
        ptq = ptq_accuracy(model, data, bits)
        qat = qat_accuracy(model, data, bits, seed=0)
        assert qat > ptq + 3 * one_image, f"W{bits}A{bits}: QAT {qat:.4f} does not beat PTQ {ptq:.4f}"
