"""Real accuracy numbers, offline: every compression method on scikit-learn's digits set.

``load_digits`` ships with scikit-learn (1,797 real 8x8 handwritten digits), so this runs
anywhere in seconds with no download. A small CNN is trained on a fixed stratified split with a
fixed seed; each method is then applied to that same trained model and scored on the same test
set. The numbers are small-model, small-data numbers: they show the *relative* cost of each
method (what 4-bit PTQ loses, what QAT wins back, how far pruning goes), not ImageNet accuracies.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from zoo.compress.api import CompressionReport, compress
from zoo.compress.binary import (
    BinaryWeightSTE,
    TernaryWeightSTE,
    binarize_weights,
    select_layers,
    ternarize_weights,
)
from zoo.compress.distill import distillation_loss
from zoo.compress.fake_quant import calibrate, prepare_qat, set_observing
from zoo.compress.kmeans import attach_codebooks, cluster_weights
from zoo.compress.parametrize import bake
from zoo.compress.prune import attach_masks, channel_prune, magnitude_prune, sparsity
from zoo.compress.ptq import simulate_ptq
from zoo.deps import require


@dataclass(frozen=True)
class DigitsData:
    """Train/test tensors: images ``(N, 1, 8, 8)`` scaled to [0, 1], labels ``(N,)`` int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(test_fraction: float = 0.3, seed: int = 0) -> DigitsData:
    """The fixed split: stratified, ``seed`` 0, 30 % test (540 of 1,797 images)."""
    datasets = require("sklearn.datasets", "dev", "for the digits compression benchmark")
    selection = require("sklearn.model_selection", "dev", "for the digits compression benchmark")
    bunch = datasets.load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    idx_train, idx_test = selection.train_test_split(
        list(range(len(y))), test_size=test_fraction, random_state=seed, stratify=bunch.target
    )
    return DigitsData(x[idx_train], y[idx_train], x[idx_test], y[idx_test])


class DigitsCNN(nn.Module):
    """The teacher: two 3x3 convs, a 1x1 conv, two Linear layers.

    ``width`` 8 (the default, about 10k parameters) is deliberately edge-sized: thin models are
    the ones that suffer from low-bit quantization, as MobileNets do next to ResNets.
    """

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        c1, c2, hidden = width, 2 * width, 4 * width
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c2, 1),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 4 * 4, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class DigitsStudent(nn.Module):
    """The distillation student: one 3x3 conv and one Linear (about 1.4k parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * 4 * 4, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled mini-batches, reproducible through ``generator``."""
    order = torch.randperm(len(y), generator=generator)
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def train(
    model: nn.Module,
    data: DigitsData,
    epochs: int,
    lr: float,
    seed: int = 0,
    batch_size: int = 32,
    loss_fn: LossFn | None = None,
    on_epoch: Callable[[int], None] | None = None,
) -> nn.Module:
    """Adam with cosine decay over ``epochs``; ``loss_fn(logits, labels, x)`` defaults to CE.

    Only parameters that require grad are optimised, so frozen weights under a parametrization
    (k-means codebooks, masks) stay as they are.
    """
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    steps = epochs * -(-len(data.y_train) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    model.train()
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        for xb, yb in batches(data.x_train, data.y_train, batch_size, generator):
            logits = model(xb)
            loss = F.cross_entropy(logits, yb) if loss_fn is None else loss_fn(logits, yb, xb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1]."""
    model.eval()
    return float((model(x).argmax(dim=1) == y).float().mean())


def train_fp32(data: DigitsData, seed: int = 0, epochs: int = 30, width: int = 8) -> DigitsCNN:
    """The float baseline every method starts from."""
    torch.manual_seed(seed)
    model = DigitsCNN(width)
    train(model, data, epochs=epochs, lr=3e-3, seed=seed)
    return model


def _calibration(data: DigitsData, batch_size: int = 128) -> list[torch.Tensor]:
    return list(data.x_train.split(batch_size))


def ptq_accuracy(model: nn.Module, data: DigitsData, bits: int, observer: str = "minmax") -> float:
    """Weights per channel and activations per tensor at ``bits``, calibrated on the train set."""
    simulated = simulate_ptq(model, _calibration(data), bits=bits, act_observer=observer)
    return accuracy(simulated, data.x_test, data.y_test)


def qat_accuracy(model: nn.Module, data: DigitsData, bits: int, epochs: int = 10, seed: int = 0) -> float:
    """Fine-tune with fake quantization (clipped STE) from the trained float model.

    Starts from the same calibrated ranges as PTQ; EMA observers follow the activations while
    the weights move, and are frozen for the last quarter of the epochs so the final epochs
    train against the ranges that evaluation will use. The learning rate is a third of the float
    run's, decaying to zero: QAT refines a trained model, it does not retrain it.
    """
    prepared = prepare_qat(model, bits=bits, act_observer="ema")
    calibrate(prepared, _calibration(data))
    freeze_at = max(1, epochs - max(1, epochs // 4))

    def on_epoch(epoch: int) -> None:
        set_observing(prepared, epoch < freeze_at)

    train(prepared, data, epochs=epochs, lr=1e-3, seed=seed + 1, on_epoch=on_epoch)
    set_observing(prepared, False)
    return accuracy(prepared, data.x_test, data.y_test)


FINETUNE_LR = 1e-3


def finetune(model: nn.Module, data: DigitsData, epochs: int, seed: int = 0) -> nn.Module:
    """A short recovery fine-tune after a compression step (cosine decay from ``FINETUNE_LR``)."""
    return train(model, data, epochs=epochs, lr=FINETUNE_LR, seed=seed + 2)


def pruned_accuracy(
    model: nn.Module, data: DigitsData, amount: float, finetune_epochs: int = 0, seed: int = 0
) -> tuple[float, float]:
    """Global magnitude pruning, optionally fine-tuned with the masks held; (accuracy, sparsity)."""
    pruned, masks = magnitude_prune(model, amount, "global")
    if finetune_epochs:
        attach_masks(pruned, masks)
        finetune(pruned, data, finetune_epochs, seed)
        bake(pruned)
    return accuracy(pruned, data.x_test, data.y_test), sparsity(pruned)


def channel_pruned_accuracy(
    model: nn.Module, data: DigitsData, amount: float, finetune_epochs: int = 0, seed: int = 0
) -> float:
    """Channel pruning (L1), optionally fine-tuned with weight and bias masks held."""
    pruned, masks = channel_prune(model, amount)
    if finetune_epochs:
        attach_masks(pruned, masks)
        finetune(pruned, data, finetune_epochs, seed)
        bake(pruned)
    return accuracy(pruned, data.x_test, data.y_test)


def kmeans_accuracy(model: nn.Module, data: DigitsData, k: int, finetune_epochs: int = 0, seed: int = 0) -> float:
    """k-means sharing, optionally with the centroids fine-tuned (indices fixed)."""
    clustered, clusterings = cluster_weights(model, k)
    if finetune_epochs:
        attach_codebooks(clustered, clusterings)
        finetune(clustered, data, finetune_epochs, seed)
        bake(clustered)
    return accuracy(clustered, data.x_test, data.y_test)


def low_bit_accuracy(
    model: nn.Module,
    data: DigitsData,
    method: Literal["binary", "ternary"],
    keep_first_last: bool,
    finetune_epochs: int = 0,
    seed: int = 0,
) -> float:
    """Binary or ternary weights; the fine-tune trains latent float weights through an STE."""
    if not finetune_epochs:
        transform = binarize_weights if method == "binary" else ternarize_weights
        out, _ = transform(model, keep_first_last=keep_first_last)
        return accuracy(out, data.x_test, data.y_test)
    tuned = copy.deepcopy(model)
    chosen, _ = select_layers(tuned, keep_first_last)
    for _, layer in chosen:
        ste = BinaryWeightSTE() if method == "binary" else TernaryWeightSTE()
        parametrize.register_parametrization(layer, "weight", ste)
    finetune(tuned, data, finetune_epochs, seed)
    bake(tuned)
    return accuracy(tuned, data.x_test, data.y_test)


def distill_student(
    teacher: nn.Module,
    data: DigitsData,
    epochs: int = 30,
    temperature: float = 4.0,
    alpha: float = 0.9,
    seed: int = 0,
) -> tuple[float, float]:
    """Accuracy of the small student trained alone and distilled from ``teacher``, same seed."""
    torch.manual_seed(seed)
    alone = DigitsStudent()
    torch.manual_seed(seed)
    distilled = DigitsStudent()
    train(alone, data, epochs=epochs, lr=3e-3, seed=seed)
    teacher.eval()

    def kd(logits: torch.Tensor, labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(x)
        return distillation_loss(logits, teacher_logits, labels, temperature, alpha)

    train(distilled, data, epochs=epochs, lr=3e-3, seed=seed, loss_fn=kd)
    return (
        accuracy(alone, data.x_test, data.y_test),
        accuracy(distilled, data.x_test, data.y_test),
    )


@dataclass(frozen=True)
class ResultRow:
    """One line of the results table; size columns come from ``compress``'s report."""

    method: str
    setting: str
    accuracy: float
    params: int
    sparsity: float
    bits_per_weight: float
    size_bytes: int
    finetune_epochs: int = 0
    note: str = ""

    @classmethod
    def from_report(
        cls,
        method: str,
        setting: str,
        acc: float,
        report: CompressionReport,
        finetune_epochs: int = 0,
        note: str = "",
    ) -> ResultRow:
        return cls(
            method,
            setting,
            acc,
            report.params_after,
            report.sparsity,
            report.bits_per_weight,
            report.estimated_size_bytes,
            finetune_epochs,
            note,
        )


@dataclass(frozen=True)
class SeedRow:
    """PTQ against QAT for one training seed and bit width (the robustness table)."""

    seed: int
    bits: int
    fp32: float
    ptq: float
    qat: float


@dataclass
class Results:
    """All rows plus the run's conditions."""

    rows: list[ResultRow] = field(default_factory=list)
    seed_rows: list[SeedRow] = field(default_factory=list)
    fp32_accuracy: float = 0.0
    train_size: int = 0
    test_size: int = 0
    qat_epochs: int = 0
    finetune_epochs: int = 0
    seconds: float = 0.0


def quantization_rows(
    model: nn.Module, data: DigitsData, bits_list: tuple[int, ...], qat_epochs: int, seed: int
) -> list[tuple[int, float, float]]:
    """``(bits, ptq accuracy, qat accuracy)`` for each bit width, weights and activations."""
    return [
        (bits, ptq_accuracy(model, data, bits), qat_accuracy(model, data, bits, qat_epochs, seed)) for bits in bits_list
    ]


def run_experiments(
    seed: int = 0,
    ptq_bits: tuple[int, ...] = (8, 4, 3, 2),
    qat_epochs: int = 10,
    sparsities: tuple[float, ...] = (0.5, 0.7, 0.9),
    finetune_epochs: int = 5,
    kmeans_ks: tuple[int, ...] = (2, 4, 8, 16),
    lowrank_energies: tuple[float, ...] = (0.9, 0.7),
    robustness_seeds: tuple[int, ...] = (1, 2),
    robustness_bits: tuple[int, ...] = (4, 3, 2),
    progress: Callable[[str], None] | None = None,
) -> Results:
    """Train the float CNN once, then score every method on it (about a minute on one core).

    ``robustness_seeds`` retrains the float model with other seeds and repeats only PTQ and QAT
    at ``robustness_bits``, to show the QAT-versus-PTQ gap is not one seed's luck.
    """
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    data = load_digits_split()
    model = train_fp32(data, seed=seed)
    fp32 = accuracy(model, data.x_test, data.y_test)
    results = Results(
        fp32_accuracy=fp32,
        train_size=len(data.y_train),
        test_size=len(data.y_test),
        qat_epochs=qat_epochs,
        finetune_epochs=finetune_epochs,
    )
    rows = results.rows
    test = (data.x_test, data.y_test)
    ft = finetune_epochs
    _, base = compress(model, "prune", sparsity=0.0)
    rows.append(ResultRow("fp32", "baseline", fp32, base.params_after, base.sparsity, 32.0, base.size_bytes_fp32))
    say(f"fp32 {fp32:.4f}")

    for bits, ptq, qat in quantization_rows(model, data, ptq_bits, qat_epochs, seed):
        _, rep = compress(model, "ptq", bits=bits)
        setting = f"W{bits}A{bits}"
        rows.append(ResultRow.from_report("PTQ", setting, ptq, rep, note="min-max calibration"))
        rows.append(ResultRow.from_report("QAT", setting, qat, rep, qat_epochs, "fake quant + clipped STE"))
        results.seed_rows.append(SeedRow(seed, bits, fp32, ptq, qat))
        say(f"{setting} ptq {ptq:.4f} qat {qat:.4f}")

    for amount in sparsities:
        _, rep = compress(model, "prune", sparsity=amount)
        for epochs in (0, ft):
            acc, _sp = pruned_accuracy(model, data, amount, epochs, seed)
            rows.append(
                ResultRow.from_report(
                    "prune (global magnitude)", f"{amount:.0%}", acc, rep, epochs, "masks held" if epochs else ""
                )
            )
    say("prune")

    _, rep = compress(model, "prune-channels", sparsity=0.5)
    for epochs in (0, ft):
        acc = channel_pruned_accuracy(model, data, 0.5, epochs, seed)
        rows.append(
            ResultRow.from_report("prune channels (L1)", "50% of channels", acc, rep, epochs, "last layer kept whole")
        )
    say("prune-channels")

    for k in kmeans_ks:
        _, rep = compress(model, "kmeans", k=k)
        for epochs in (0, ft) if k <= 4 else (0,):
            acc = kmeans_accuracy(model, data, k, epochs, seed)
            rows.append(
                ResultRow.from_report("k-means", f"k={k}", acc, rep, epochs, "centroids trained" if epochs else "")
            )
    say("kmeans")

    for method in ("ternary", "binary"):
        for keep in (True, False):
            _, rep = compress(model, method, keep_first_last=keep)
            setting = "first/last float" if keep else "all layers"
            for epochs in (0, ft):
                acc = low_bit_accuracy(model, data, method, keep, epochs, seed)  # type: ignore[arg-type]
                rows.append(ResultRow.from_report(method, setting, acc, rep, epochs, "STE" if epochs else ""))
    say("ternary/binary")

    for energy in lowrank_energies:
        out, rep = compress(model, "lowrank", energy=energy)
        ranks = ", ".join(n.split(",")[0] for n in rep.notes)
        rows.append(ResultRow.from_report("low-rank SVD", f"energy {energy:.0%}", accuracy(out, *test), rep, 0, ranks))
        finetune(out, data, ft, seed)
        rows.append(ResultRow.from_report("low-rank SVD", f"energy {energy:.0%}", accuracy(out, *test), rep, ft, ranks))
    say("lowrank")

    alone, distilled = distill_student(model, data, seed=seed)
    _, rep = compress(DigitsStudent(), "prune", sparsity=0.0)
    student = f"{rep.params_after:,}-param CNN"
    rows.append(ResultRow.from_report("student alone", student, alone, rep, 0, "cross-entropy only"))
    rows.append(ResultRow.from_report("student + KD", student, distilled, rep, 0, "T=4, alpha=0.9, teacher = fp32 CNN"))
    say(f"kd alone {alone:.4f} distilled {distilled:.4f}")

    for other in robustness_seeds:
        other_model = train_fp32(data, seed=other)
        other_fp32 = accuracy(other_model, *test)
        for bits, ptq, qat in quantization_rows(other_model, data, robustness_bits, qat_epochs, other):
            results.seed_rows.append(SeedRow(other, bits, other_fp32, ptq, qat))
        say(f"seed {other}")
    results.seconds = time.perf_counter() - start
    return results
