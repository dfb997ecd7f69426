"""Activation statistics for ncnn int8: run the fp32 model, pick a clipping threshold per blob.

The model runs in ncnn itself (``Extractor.extract`` of every blob that feeds a quantized layer),
with fp16/bf16 storage and arithmetic off, so the statistics are those of the fp32 network that
the int8 one replaces. Each method turns a blob's values into a threshold ``T``; the int8 input
scale is ``127 / T``:

- ``minmax``: ``T`` is the largest ``|x|`` over all samples. Never clips; wastes range on outliers.
- ``kl``: ncnn2table's entropy calibration. A 2048-bin histogram of ``|x|`` (zeros left out)
  over ``[0, absmax]``; for every candidate ``T`` from bin 128 to 2048, the clipped distribution
  is merged into 128 levels and expanded back, and the ``T`` with the least KL divergence wins.
  A histogram needs data: at least ``MIN_SAMPLES["kl"]`` (8) samples, and a blob that gave
  fewer than ``KL_MIN_VALUES`` non-zero values in all (10 per bin; a classifier's pooled
  features: 512 per image) gets its minmax threshold instead, because KL on a sparse histogram
  clips at noise (on ResNet-18's fc input it clipped 0.99 to 0.2, and cosine fell to 0.82).
- ``aciq``: ncnn2table's Gaussian clipping (Banner et al., ACIQ): the std of a Gaussian whose
  expected max over ``N`` draws is ``absmax``, times the optimal 8-bit clip factor 3.924.
  zoo caps ``T`` at ``absmax`` (ncnn does not; a threshold above the max only wastes range,
  which happens for small blobs such as a classifier's pooled features).

The threshold functions are pure numpy; only ``collect_statistics`` runs ncnn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ExportError, InputError
from zoo.runtimes.ncnn.session import NcnnSession

HISTOGRAM_BINS = 2048
KL_MIN_VALUES = 10 * HISTOGRAM_BINS
KL_TARGET_BINS = 128
KL_EPS = 1e-4

# The fewest calibration samples each method accepts. KL fits a histogram of the tails: with a
# handful of images its threshold follows the sample, not the distribution.
MIN_SAMPLES: dict[str, int] = {"minmax": 1, "kl": 8, "aciq": 1}

# ACIQ optimal clipping value in units of sigma for 1..8 bits (Banner et al. 2019), as ncnn uses.
_ACIQ_ALPHA = (
    0.0,
    1.71063519,
    2.15159277,
    2.55913646,
    2.93620062,
    3.28691474,
    3.6151146,
    3.92403714,
)


@dataclass(frozen=True)
class BlobStatistics:
    """What calibration saw of one blob over all samples."""

    absmax: float
    elements: int  # per sample, for ACIQ's N
    histogram: np.ndarray | None  # HISTOGRAM_BINS counts of |x| over (0, absmax]; kl only


@dataclass(frozen=True)
class BlobCalibration:
    blob: str
    absmax: float
    threshold: float
    method: str  # the method that set the threshold (kl falls back to minmax on sparse blobs)

    @property
    def scale(self) -> float:
        """ncnn's int8 input scale: ``q = round(x * scale)``, clamped to [-127, 127]."""
        return 127.0 / self.threshold if self.threshold > 0 else 1.0


# ----------------------------------------------------------------------------- pure numpy


def abs_histogram(values: np.ndarray, absmax: float, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Counts of ``|x|`` in ``bins`` equal bins over ``[0, absmax]``; exact zeros are skipped
    (after ReLU they are most of the mass and say nothing about the range), as ncnn2table does."""
    mags = np.abs(values[values != 0].astype(np.float64, copy=False))
    if absmax <= 0 or mags.size == 0:
        return np.zeros(bins, np.int64)
    index = np.minimum((mags / absmax * bins).astype(np.int64), bins - 1)
    return np.bincount(index, minlength=bins)


def _interval_mass(cumulative: np.ndarray, density: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mass of a piecewise-constant distribution over ``[0, x)`` for unit-width bins."""
    whole = np.minimum(np.floor(x).astype(np.int64), density.size - 1)
    return cumulative[whole] + (x - whole) * density[whole]


def kl_threshold_bin(histogram: np.ndarray, target_bins: int = KL_TARGET_BINS) -> int:
    """The histogram bin count ``T`` minimising KL(clipped || quantised-then-expanded).

    Follows ncnn2table's quantize_KL: ``p`` is the histogram over bins ``[0, T)`` with the tail
    folded into bin ``T-1``, plus eps; ``q`` averages the (unfolded) histogram over
    ``target_bins`` equal intervals of ``[0, T)`` (fractional bin edges weighted by overlap) and
    spreads each average back over the bins, plus eps. All candidate ``T`` are evaluated at
    once, in chunks, as piecewise-constant integrals.
    """
    total = float(histogram.sum())
    nbins = histogram.size
    if total <= 0:
        return nbins
    h = histogram.astype(np.float64) / total
    density = np.append(h, 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(h)])
    k = np.arange(nbins + 1, dtype=np.float64)
    best_bin, best_kl = target_bins, math.inf
    for start in range(target_bins, nbins, 128):
        thresholds = np.arange(start, min(start + 128, nbins), dtype=np.float64)[:, None]
        width = thresholds / target_bins
        edges = np.arange(target_bins + 1) * width
        edges[:, -1] = thresholds[:, 0]
        whole = np.minimum(np.floor(edges).astype(np.int64), nbins)
        level_mass = np.diff(cumulative[whole] + (edges - whole) * density[whole], axis=1)
        level_density = level_mass / width
        level_cumulative = np.concatenate([np.zeros((len(width), 1)), np.cumsum(level_mass, 1)], 1)
        level = np.minimum(np.floor(k / width).astype(np.int64), target_bins - 1)
        rows = np.arange(len(width))[:, None]
        integral = level_cumulative[rows, level] + (k - level * width) * level_density[rows, level]
        expanded = np.diff(integral, axis=1) + KL_EPS
        inside = k[:-1] < thresholds
        clipped = np.where(inside, h + KL_EPS, 1.0)
        last = thresholds[:, 0].astype(np.int64) - 1
        clipped[rows[:, 0], last] += 1.0 - cumulative[last + 1]
        terms = np.where(inside, clipped * np.log(clipped / np.where(inside, expanded, 1.0)), 0.0)
        kl = terms.sum(axis=1)
        i = int(np.argmin(kl))
        if kl[i] < best_kl:
            best_kl, best_bin = float(kl[i]), int(thresholds[i, 0])
    return best_bin


def kl_threshold(histogram: np.ndarray, absmax: float) -> float:
    """KL threshold in the blob's units: the middle of the best bin, as ncnn2table writes it."""
    if absmax <= 0:
        return 0.0
    return (kl_threshold_bin(histogram) + 0.5) * absmax / histogram.size


def aciq_threshold(absmax: float, elements: int, bits: int = 8) -> float:
    """Gaussian ACIQ clipping threshold, capped at ``absmax``."""
    if absmax <= 0 or elements < 2:
        return absmax
    gaussian_const = (0.5 * 0.35) * (1 + math.sqrt(math.pi * math.log(4)))
    std = (absmax * 2 * gaussian_const) / math.sqrt(2 * math.log(elements))
    return min(absmax, _ACIQ_ALPHA[bits - 1] * std)


def threshold_for(method: str, stats: BlobStatistics) -> tuple[float, str]:
    """(threshold, the method that set it) for one blob."""
    if method == "minmax":
        return stats.absmax, "minmax"
    if method == "aciq":
        return aciq_threshold(stats.absmax, stats.elements), "aciq"
    if method == "kl":
        if stats.histogram is None:
            raise ValueError("kl needs a histogram")
        if stats.histogram.sum() < KL_MIN_VALUES:
            return stats.absmax, "minmax"
        return min(stats.absmax, kl_threshold(stats.histogram, stats.absmax)), "kl"
    raise ValueError(method)


def check_method(method: str, sample_count: int) -> None:
    """InputError for an unknown method, an empty set, or fewer samples than the method needs."""
    if method not in MIN_SAMPLES:
        raise InputError(f"unknown int8 calibration method {method!r}; choose one of {', '.join(MIN_SAMPLES)}")
    if sample_count == 0:
        raise InputError("the int8 calibration set is empty: give at least one preprocessed input")
    need = MIN_SAMPLES[method]
    if sample_count < need:
        raise InputError(
            f"int8 calibration method {method!r} needs at least {need} samples, got {sample_count}"
            " (--method minmax works with fewer; or pass more images with --calib DIR)"
        )


# ----------------------------------------------------------------------------- ncnn


def open_net(param: Path, bin: Path, options: Mapping[str, bool]) -> NcnnSession:
    """The model in ncnn with ``options``; ExportError if ncnn refuses either file."""
    try:
        return NcnnSession(Path(param), Path(bin), threads=1, options=options)
    except InputError as err:
        raise ExportError(str(err)) from None


def check_sample(sample: Mapping[str, np.ndarray], input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Check one calibration sample: every model input, batch size 1 first, as float32
    (``{"in0": (1,3,H,W)}``)."""
    if not isinstance(sample, Mapping):
        raise InputError(f"each calibration sample must be a dict of input name -> array, got {type(sample).__name__}")
    missing = [name for name in input_names if name not in sample]
    extra = [name for name in sample if name not in input_names]
    if missing or extra:
        raise InputError(
            f"calibration sample has inputs {sorted(sample)}, the model expects "
            f"{list(input_names)} (missing {missing}, unknown {extra})"
        )
    out = {}
    for name in input_names:
        array = np.asarray(sample[name])
        if array.ndim < 2 or array.shape[0] != 1:
            raise InputError(
                f"calibration input {name!r} must have batch size 1 as its first dim, e.g. "
                f"(1, 3, 224, 224); got shape {array.shape}"
            )
        out[name] = np.ascontiguousarray(array, dtype=np.float32)
    return out


def extract_blobs(net: NcnnSession, inputs: Mapping[str, np.ndarray], blobs: Sequence[str]) -> dict[str, np.ndarray]:
    """Run ``net`` on one sample and return the named blobs (ncnn layout: batch axis dropped)."""
    try:
        return {name: value[0] for name, value in net.extract(inputs, blobs).items()}
    except InputError as err:
        raise ExportError(str(err)) from None


def collect_statistics(
    net: NcnnSession,
    samples: Sequence[Mapping[str, np.ndarray]],
    blobs: Sequence[str],
    method: str,
) -> dict[str, BlobStatistics]:
    """absmax (and for kl, the histogram) of each blob over every sample.

    ``samples`` are checked batch-first inputs (``check_sample``). kl runs the net twice per sample:
    the histogram range is the absmax of the whole set, known only after the first pass."""
    absmax = dict.fromkeys(blobs, 0.0)
    elements = dict.fromkeys(blobs, 0)
    for sample in samples:
        for blob, values in extract_blobs(net, sample, blobs).items():
            if not np.all(np.isfinite(values)):
                raise ExportError(f"blob {blob!r} has non-finite values on a calibration sample")
            absmax[blob] = max(absmax[blob], float(np.abs(values).max(initial=0.0)))
            elements[blob] = values.size
    histograms: dict[str, np.ndarray | None] = dict.fromkeys(blobs)
    if method == "kl":
        sums = {blob: np.zeros(HISTOGRAM_BINS, np.int64) for blob in blobs}
        for sample in samples:
            for blob, values in extract_blobs(net, sample, blobs).items():
                sums[blob] += abs_histogram(values, absmax[blob])
        histograms = dict(sums)
    return {blob: BlobStatistics(absmax[blob], elements[blob], histograms[blob]) for blob in blobs}


def calibrate_blobs(
    net: NcnnSession,
    samples: Sequence[Mapping[str, np.ndarray]],
    blobs: Sequence[str],
    method: str,
) -> dict[str, BlobCalibration]:
    """Threshold and scale of each blob by ``method``; see the module docstring."""
    check_method(method, len(samples))
    stats = collect_statistics(net, samples, blobs, method)
    return {blob: BlobCalibration(blob, s.absmax, *threshold_for(method, s)) for blob, s in stats.items()}
