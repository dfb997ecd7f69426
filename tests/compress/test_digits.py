"""The digits benchmark: the data split is fixed, and QAT beats PTQ at low bit widths."""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")


def _benchmark_module():  # type: ignore[no-untyped-def]
    """benchmarks/digits.py: an experiment, not part of the installed package."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "digits.py"
    spec = importlib.util.spec_from_file_location("zoo_benchmarks_digits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_digits = _benchmark_module()
DigitsCNN, DigitsStudent, accuracy = _digits.DigitsCNN, _digits.DigitsStudent, _digits.accuracy
load_digits_split, ptq_accuracy, qat_accuracy = _digits.load_digits_split, _digits.ptq_accuracy, _digits.qat_accuracy
train_fp32 = _digits.train_fp32


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


SEEDS = (0, 1, 2)


@pytest.mark.slow
def test_fp32_cnn_learns_digits_and_qat_beats_ptq_at_low_bits(one_thread) -> None:
    """Over three training seeds, because one seed's ranking at 3 bits depends on how the CPU
    rounds: on AMD EPYC, seed 0 gives QAT 0.9556 vs PTQ 0.9593 at W3, every time, while Intel
    gives QAT ahead. The mean over seeds is what holds on both (margins measured on both, see
    docs/compression.md): QAT ahead by several points at W3 and by tens of points at W2."""
    data = load_digits_split()
    gains: dict[int, list[float]] = {4: [], 3: [], 2: []}
    for seed in SEEDS:
        model = train_fp32(data, seed=seed)
        fp32 = accuracy(model, data.x_test, data.y_test)
        assert fp32 > 0.95, (seed, fp32)
        # 8 bits: PTQ is lossless within a couple of test images, whatever the seed.
        assert ptq_accuracy(model, data, 8) >= fp32 - 0.01, seed
        for bits in gains:
            gains[bits].append(qat_accuracy(model, data, bits, seed=seed) - ptq_accuracy(model, data, bits))
    mean = {bits: statistics.fmean(g) for bits, g in gains.items()}
    # 4 bits: PTQ is already close to fp32; QAT no worse on average beyond a point of noise.
    assert mean[4] > -0.01, gains
    # 3 and 2 bits, where PTQ really loses: QAT wins on average by a margin.
    assert mean[3] > 0.02, gains
    assert mean[2] > 0.20, gains
