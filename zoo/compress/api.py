"""One entry point for every compression method: ``compress(model, method, **options)``.

Each method is a ``MethodSpec`` (options schema, function, one-line description) in one dict, so
the CLI can list methods and their options from data. Every method returns a *plain* ``nn.Module``
with the original forward signature and only standard layers: quantized, clustered, binary and
pruned weights are baked into ordinary float parameters and low-rank layers are ``nn.Sequential``
pairs of standard layers, so ``torch.jit.trace`` and pnnx see a normal model. The compressed
encoding that the weights would allow is estimated in the report.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import nn

from zoo.compress.binary import binarize_weights, ternarize_weights
from zoo.compress.fake_quant import Layer, activation_ranges, calibrate, prepare_qat, quantizable_layers
from zoo.compress.kmeans import cluster_weights
from zoo.compress.lowrank import factorise_model
from zoo.compress.prune import channel_prune, magnitude_prune, sparsity
from zoo.compress.ptq import quantize_weights
from zoo.errors import ConfigError, InputError

FP32_BITS = 32


class CompressionReport(BaseModel):
    """What ``compress`` did and what it would save; JSON-serialisable for cards and the CLI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = Field(description="Compression method name, e.g. 'kmeans'.")
    options: dict[str, Any] = Field(description="Resolved options, defaults included.")
    params_before: int = Field(description="Parameters of the input model.")
    params_after: int = Field(description="Parameters of the returned model.")
    nonzero_params: int = Field(description="Non-zero parameters of the returned model.")
    sparsity: float = Field(description="Fraction of zero entries over Conv2d/Linear weights of the returned model.")
    bits_per_weight: float = Field(
        description="Estimated storage bits per Conv2d/Linear weight in the compressed encoding, "
        "side data (scales, codebooks, masks) included; 32 for float."
    )
    size_bytes_fp32: int = Field(description="Size of the input model's parameters as float32.")
    estimated_size_bytes: int = Field(
        description="Estimated size of the compressed encoding: Conv2d/Linear weights at "
        "bits_per_weight, every other parameter as float32."
    )
    compression_ratio: float = Field(description="size_bytes_fp32 / estimated_size_bytes.")
    activation_ranges: dict[str, tuple[float, float]] | None = Field(
        default=None,
        description="Calibrated input range of each Conv2d/Linear (ptq with calibration), for an int8 writer.",
    )
    notes: list[str] = Field(default_factory=list, description="Human-readable remarks.")


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class PruneOptions(_Options):
    sparsity: float = Field(0.5, ge=0.0, lt=1.0, description="Fraction of weights to zero.")
    scope: Literal["global", "layer"] = Field(
        "global", description="Rank magnitudes across all layers or within each layer."
    )


class ChannelPruneOptions(_Options):
    sparsity: float = Field(0.5, ge=0.0, lt=1.0, description="Fraction of output channels to zero in each layer.")
    keep_last: bool = Field(True, description="Leave the last layer (the outputs) whole.")


class KMeansOptions(_Options):
    k: int = Field(16, ge=2, le=65536, description="Shared values (centroids) per layer.")
    iters: int = Field(50, ge=1, le=1000, description="Lloyd iterations at most.")


class TernaryOptions(_Options):
    threshold: float = Field(0.7, gt=0.0, lt=2.0, description="delta = threshold * mean|w|.")
    keep_first_last: bool = Field(True, description="Leave the first and last layer in float.")


class BinaryOptions(_Options):
    keep_first_last: bool = Field(True, description="Leave the first and last layer in float.")


class LowRankOptions(_Options):
    rank: int | None = Field(None, ge=1, description="Rank to keep in every factorised layer.")
    energy: float | None = Field(
        None, gt=0.0, le=1.0, description="Keep the smallest rank reaching this energy fraction."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_energy(cls, data: Any) -> Any:
        # Neither given: keep 90 % of the spectral energy, a cautious default.
        if isinstance(data, dict) and data.get("rank") is None and data.get("energy") is None:
            return {**data, "energy": 0.9}
        return data

    @model_validator(mode="after")
    def _one_of(self) -> LowRankOptions:
        if self.rank is not None and self.energy is not None:
            raise ValueError("give rank or energy, not both")
        return self


class PTQOptions(_Options):
    bits: int = Field(8, ge=2, le=16, description="Weight bit width.")
    granularity: Literal["tensor", "channel", "group"] = Field("channel", description="Weight scale granularity.")
    group_size: int | None = Field(None, ge=1, description="Group size for granularity=group.")
    act_bits: int | None = Field(None, ge=2, le=16, description="Activation bits for calibration (default: bits).")
    observer: Literal["minmax", "ema", "percentile"] = Field(
        "minmax", description="Activation range observer used with calibration."
    )
    calibration: Any = Field(
        None, description="Input batches (a tensor or an iterable of tensors) for activation ranges."
    )

    @model_validator(mode="after")
    def _group(self) -> PTQOptions:
        if (self.granularity == "group") != (self.group_size is not None):
            raise ValueError("group_size is required with granularity=group and only then")
        return self


@dataclass(frozen=True)
class _Outcome:
    model: nn.Module
    weight_bits: float
    notes: list[str]
    activation_ranges: dict[str, tuple[float, float]] | None = None
    report_options: dict[str, Any] | None = None


@dataclass(frozen=True)
class MethodSpec:
    """A compression method: its options schema, what it does, and the function doing it."""

    name: str
    description: str
    options: type[_Options]
    run: Callable[[nn.Module, Any], _Outcome]


def _layers(model: nn.Module) -> list[tuple[str, Layer]]:
    return quantizable_layers(model)


def _weight_count(model: nn.Module) -> int:
    return sum(m.weight.numel() for _, m in _layers(model))


def _index_bits(k: int) -> int:
    return max(1, math.ceil(math.log2(k)))


def _run_prune(model: nn.Module, opts: PruneOptions) -> _Outcome:
    pruned, _ = magnitude_prune(model, opts.sparsity, opts.scope, inplace=True)
    bits = 0.0
    for _, m in _layers(pruned):
        n = m.weight.numel()
        nnz = int((m.weight != 0).sum())
        # A 1-bit presence mask plus the surviving floats, or dense if that is smaller.
        bits += min(n + FP32_BITS * nnz, FP32_BITS * n)
    return _Outcome(pruned, bits, ["encoding: 1-bit mask + float32 non-zeros per layer"])


def _run_prune_channels(model: nn.Module, opts: ChannelPruneOptions) -> _Outcome:
    pruned, _ = channel_prune(model, opts.sparsity, keep_last=opts.keep_last, inplace=True)
    bits = 0.0
    for _, m in _layers(pruned):
        w = m.weight
        rows = w.reshape(w.shape[0], -1)
        alive = int((rows != 0).any(dim=1).sum())
        bits += w.shape[0] + FP32_BITS * alive * rows.shape[1]
    notes = ["encoding: 1 bit per output channel + float32 weights of kept channels"]
    if opts.keep_last:
        notes.append("last layer kept whole (its channels are the outputs)")
    notes.append("channels are zeroed, not removed: the next layer still reads them")
    return _Outcome(pruned, bits, notes)


def _run_kmeans(model: nn.Module, opts: KMeansOptions) -> _Outcome:
    clustered, clusterings = cluster_weights(model, opts.k, opts.iters, inplace=True)
    bits = sum(c.indices.numel() * _index_bits(opts.k) + FP32_BITS * c.codebook.numel() for c in clusterings.values())
    notes = [f"encoding: {_index_bits(opts.k)}-bit indices + float32 codebook of {opts.k} per layer"]
    return _Outcome(clustered, float(bits), notes)


def _scaled_bits(model: nn.Module, skipped: list[str], bits_per_weight: int) -> float:
    total = 0.0
    for name, m in _layers(model):
        n = m.weight.numel()
        if name in skipped:
            total += FP32_BITS * n
        else:
            total += bits_per_weight * n + FP32_BITS * m.weight.shape[0]
    return total


def _float_layers_note(skipped: list[str]) -> list[str]:
    return [f"kept in float32: {', '.join(skipped)}"] if skipped else []


def _run_ternary(model: nn.Module, opts: TernaryOptions) -> _Outcome:
    out, skipped = ternarize_weights(model, opts.threshold, keep_first_last=opts.keep_first_last, inplace=True)
    notes = ["encoding: 2 bits per weight + float32 scale per output channel"]
    return _Outcome(out, _scaled_bits(out, skipped, 2), notes + _float_layers_note(skipped))


def _run_binary(model: nn.Module, opts: BinaryOptions) -> _Outcome:
    out, skipped = binarize_weights(model, keep_first_last=opts.keep_first_last, inplace=True)
    notes = ["encoding: 1 bit per weight + float32 scale per output channel"]
    return _Outcome(out, _scaled_bits(out, skipped, 1), notes + _float_layers_note(skipped))


def _run_lowrank(model: nn.Module, opts: LowRankOptions) -> _Outcome:
    out, done = factorise_model(model, rank=opts.rank, energy=opts.energy, inplace=True)
    notes = [
        f"{name}: rank {f.rank}/{f.full_rank}, {f.params_before} -> {f.params_after} params, energy {f.energy_kept:.3f}"
        for name, f in done.items()
    ] or ["no Linear or 1x1 Conv2d layer got smaller: model unchanged"]
    return _Outcome(
        out,
        float(FP32_BITS * _weight_count(out)),
        notes,
        report_options={"rank": opts.rank, "energy": opts.energy},
    )


def _batches(calibration: Any) -> list[torch.Tensor]:
    if isinstance(calibration, torch.Tensor):
        return [calibration]
    if not isinstance(calibration, Iterable):
        raise ConfigError("option 'calibration' must be a tensor or an iterable of tensors")
    batches = list(calibration)
    if not all(isinstance(b, torch.Tensor) for b in batches):
        raise ConfigError("option 'calibration' must contain only tensors")
    return batches


def _run_ptq(model: nn.Module, opts: PTQOptions) -> _Outcome:
    ranges: dict[str, tuple[float, float]] | None = None
    notes: list[str] = []
    report_options = opts.model_dump(exclude={"calibration"})
    if opts.calibration is not None:
        batches = _batches(opts.calibration)
        prepared = prepare_qat(
            model,
            bits=opts.bits,
            act_bits=opts.act_bits,
            weight_granularity=opts.granularity,
            group_size=opts.group_size,
            act_observer=opts.observer,
        )
        seen = calibrate(prepared, batches)
        ranges = activation_ranges(prepared)
        report_options["calibration_samples"] = seen
        notes.append(f"activation ranges calibrated on {seen} samples ({opts.observer})")
    else:
        notes.append("weights only: pass calibration=batches for activation ranges")
    out, qparams = quantize_weights(model, opts.bits, opts.granularity, opts.group_size, inplace=True)
    bits = sum(m.weight.numel() * opts.bits + FP32_BITS * qparams[name].count for name, m in _layers(out))
    notes.append(
        f"encoding: {opts.bits}-bit symmetric weights + float32 scale per "
        f"{'group' if opts.granularity == 'group' else opts.granularity}"
    )
    notes.append("returned model holds the dequantized weights in float32")
    return _Outcome(out, float(bits), notes, ranges, report_options)


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("prune", "unstructured magnitude pruning", PruneOptions, _run_prune),
        MethodSpec(
            "prune-channels",
            "zero whole output channels by L1 norm",
            ChannelPruneOptions,
            _run_prune_channels,
        ),
        MethodSpec("kmeans", "k-means weight sharing per layer", KMeansOptions, _run_kmeans),
        MethodSpec(
            "ternary",
            "ternary weights, TWN threshold, per-channel scale",
            TernaryOptions,
            _run_ternary,
        ),
        MethodSpec("binary", "sign weights with per-channel scale (XNOR/BWN)", BinaryOptions, _run_binary),
        MethodSpec("lowrank", "truncated SVD of Linear and 1x1 Conv2d", LowRankOptions, _run_lowrank),
        MethodSpec("ptq", "post-training linear quantization of weights", PTQOptions, _run_ptq),
    )
}


# Methods whose result is a set of exact weight values that a later BatchNorm fold would move.
_GRID_METHODS = frozenset({"kmeans", "ternary", "binary", "ptq"})


def _parse_options(spec: MethodSpec, options: dict[str, Any]) -> _Options:
    valid = list(spec.options.model_fields)
    for key in options:
        if key not in spec.options.model_fields:
            raise ConfigError(f"unknown option {key!r} for method {spec.name!r}; valid options: {', '.join(valid)}")
    try:
        return spec.options(**options)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "options"
        msg = first.get("msg", str(err))
        raise ConfigError(
            f"bad option {where!r} for method {spec.name!r}: {msg}"
            if where != "options"
            else f"bad options for method {spec.name!r}: {msg}"
        ) from None


def parse_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``options`` for ``method`` without compressing anything; returns them resolved.

    For callers (the CLI) that want a bad option to fail before an expensive export starts.
    Raises ``ConfigError`` exactly as ``compress`` would.
    """
    spec = METHODS.get(method)
    if spec is None:
        raise ConfigError(f"unknown compression method {method!r}; valid methods: {', '.join(METHODS)}")
    return _parse_options(spec, options).model_dump(exclude={"calibration"})


def _count(model: nn.Module) -> tuple[int, int]:
    total = 0
    nonzero = 0
    for p in model.parameters():
        total += p.numel()
        nonzero += int((p != 0).sum())
    return total, nonzero


def compress(model: nn.Module, method: str, **options: Any) -> tuple[nn.Module, CompressionReport]:
    """Compress a copy of ``model`` with ``method``; the input model is left untouched.

    Methods: ``prune``, ``prune-channels``, ``kmeans``, ``ternary``, ``binary``, ``lowrank``,
    ``ptq`` (see ``METHODS[name].options`` for each one's options). Unknown methods and bad
    options raise ``ConfigError`` naming the valid choices.
    """
    spec = METHODS.get(method)
    if spec is None:
        raise ConfigError(f"unknown compression method {method!r}; valid methods: {', '.join(METHODS)}")
    if not isinstance(model, nn.Module):
        raise InputError(f"compress needs a torch nn.Module, got {type(model).__name__}")
    opts = _parse_options(spec, options)
    if not _layers(model):
        raise InputError("the model has no Conv2d or Linear layer to compress")
    params_before, _ = _count(model)
    work = copy.deepcopy(model)
    outcome = spec.run(work, opts)
    notes = list(outcome.notes)
    if method in _GRID_METHODS and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        notes.append(
            "the model has BatchNorm layers: pnnx folds them into the convolutions on export, "
            "which moves the weights off the compressed grid; fold BatchNorm before compressing"
        )
    params_after, nonzero = _count(outcome.model)
    other_after = params_after - _weight_count(outcome.model)
    weights_after = _weight_count(outcome.model)
    size_fp32 = params_before * 4
    est = math.ceil((outcome.weight_bits + FP32_BITS * other_after) / 8)
    report = CompressionReport(
        method=method,
        options=outcome.report_options if outcome.report_options is not None else opts.model_dump(),
        params_before=params_before,
        params_after=params_after,
        nonzero_params=nonzero,
        sparsity=sparsity(outcome.model),
        bits_per_weight=outcome.weight_bits / weights_after if weights_after else 0.0,
        size_bytes_fp32=size_fp32,
        estimated_size_bytes=est,
        compression_ratio=size_fp32 / est if est else 0.0,
        activation_ranges=outcome.activation_ranges,
        notes=notes,
    )
    return outcome.model, report
