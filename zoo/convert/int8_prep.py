"""Changes to an fp32 ncnn model that make its int8 copy more faithful; pure numpy on the files.

Two, both optional (``quantize_ncnn(centre_clipped=..., bias_correction=...)``):

- **Centring one-sided clipped activations** (``centre_clipped``). ncnn quantizes activations
  symmetrically, ``q = round(x * scale)`` in [-127, 127]: a ReLU6 output in [0, 6] uses only
  0..127, 7 bits. Where a layer with a fused clip activation (``9=3``, e.g. ReLU6) feeds
  only layers that cannot tell a constant offset from a bias — a 1x1 convolution without padding,
  an InnerProduct, or a global average pooling then an InnerProduct — the producer's bias and
  clip bounds are lowered by ``c`` (the middle of the range calibration saw) and ``c * sum(W)`` is
  added to each consumer's bias. The float model computes the same function (checked when
  written); the int8 one quantizes [-c, c] over all 255 levels: half the step. A consumer with
  padding (a depth-wise 3x3) would see the padding move by ``-c``, so such blobs stay as they are.
- **Bias correction** (``bias_correction``; Nagel et al. 2019, "Data-Free Quantization", §4.2,
  with the input means measured rather than derived). Rounding a layer's weights to int8 shifts
  its output's mean by ``(W_q - W) @ E[x]``; with inputs far from zero (after ReLU6 or centring's
  offset) that shift is systematic, and later BatchNorm-folded layers amplify it. The shift is
  subtracted from the layer's fp32 bias. ``E[x]`` is the per-channel mean of the layer's input
  over the calibration set; padding at the borders is ignored (exact for 1x1 convolutions and
  InnerProduct, the layers where it matters).

Both are data, not guesses: the report lists each centred blob with its offset, and each layer's
largest bias change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from zoo.convert.calibrate import BlobStatistics
from zoo.runtimes.ncnn.param import BinLayout, NcnnLayer, NcnnParam, WeightBlob

CLIP = 3  # ncnn activation_type of Clip (ReLU6 is Clip(0, 6))
ACTIVATION_PARAMS = -23310


@dataclass(frozen=True)
class Centring:
    """One blob to centre: ``producer`` (clip activation) feeds ``consumers``; offset ``shift``."""

    blob: str
    producer: str
    consumers: tuple[str, ...]
    shift: float


def clip_bounds(layer: NcnnLayer) -> tuple[float, float] | None:
    """(low, high) of a fused Clip activation, else None."""
    if layer.int_param(9) != CLIP:
        return None
    values = [float(v) for v in layer.params.get(ACTIVATION_PARAMS, "").split(",") if v.strip()]
    if len(values) != 3 or int(values[0]) != 2:
        return None
    return values[1], values[2]


def _has_bias(layer: NcnnLayer) -> bool:
    key = 1 if layer.type == "InnerProduct" else 5
    return layer.int_param(key) == 1


def _offset_blind(layer: NcnnLayer) -> bool:
    """A layer whose output moves by a constant when its input does: a 1x1 convolution with no
    padding, or an InnerProduct (both with a bias to absorb it)."""
    if layer.type == "InnerProduct":
        return _has_bias(layer)
    if layer.type != "Convolution" or not _has_bias(layer) or layer.int_param(19):
        return False
    kernel_w = layer.int_param(1)
    kernel_h = layer.int_param(11, kernel_w)
    pads = [layer.int_param(key) for key in (4, 14, 15, 16)]
    return kernel_w == kernel_h == 1 and not any(pads) and not layer.params.get(18)


def centring_candidates(param: NcnnParam, quantized: Sequence[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """blob → (producer, consumers that absorb the offset in their bias), for every one-sided
    clip output whose every consumer is quantized and offset-blind (through a global average
    pooling for an InnerProduct)."""
    targets = set(quantized)
    readers: dict[str, list[NcnnLayer]] = {}
    for layer in param.layers:
        for bottom in layer.bottoms:
            readers.setdefault(bottom, []).append(layer)
    out = {}
    for layer in param.layers:
        bounds = clip_bounds(layer)
        if bounds is None or len(layer.tops) != 1 or not _has_bias(layer):
            continue
        if layer.type not in ("Convolution", "ConvolutionDepthWise", "InnerProduct"):
            continue
        consumers: list[str] = []
        for reader in readers.get(layer.tops[0], []):
            if reader.type == "Pooling" and reader.int_param(0) == 1 and reader.int_param(4) == 1:
                after = readers.get(reader.tops[0], [])
                if (
                    len(after) == 1
                    and after[0].name in targets
                    and after[0].type == "InnerProduct"
                    and _has_bias(after[0])
                ):
                    consumers.append(after[0].name)
                    continue
            elif reader.name in targets and _offset_blind(reader):
                consumers.append(reader.name)
                continue
            consumers = []
            break
        if consumers:
            out[layer.tops[0]] = (layer.name, tuple(consumers))
    return out


def plan_centring(
    candidates: Mapping[str, tuple[str, tuple[str, ...]]], stats: Mapping[str, BlobStatistics]
) -> list[Centring]:
    """Centre the candidates whose calibrated range is one-sided (all >= 0, or all <= 0)."""
    plans = []
    for blob, (producer, consumers) in candidates.items():
        s = stats[blob]
        if s.maximum <= s.minimum or (s.minimum < 0 < s.maximum):
            continue
        plans.append(Centring(blob, producer, consumers, 0.5 * (s.minimum + s.maximum)))
    return plans


def _bias_blob(layout: BinLayout, name: str) -> WeightBlob:
    return layout.layers[name].blob("bias")


def read_bias(data: bytes | bytearray, layout: BinLayout, name: str) -> np.ndarray:
    return _bias_blob(layout, name).decode(bytes(data))


def write_bias(data: bytearray, layout: BinLayout, name: str, values: np.ndarray) -> None:
    """Overwrite a layer's fp32 bias in place (same size, so every offset stays)."""
    blob = _bias_blob(layout, name)
    if blob.storage not in ("raw", "fp32"):
        raise ValueError(f"layer {name}: bias stored as {blob.storage}, not fp32")
    start = blob.offset if blob.storage == "raw" else blob.offset + 4
    data[start : start + 4 * blob.count] = np.asarray(values, "<f4").ravel().tobytes()


def weight_matrix(data: bytes | bytearray, layout: BinLayout, layer: NcnnLayer, rows: int) -> np.ndarray:
    return layout.layers[layer.name].blob("weight").decode(bytes(data)).reshape(rows, -1)


def apply_centring(
    param: NcnnParam, data: bytearray, layout: BinLayout, plans: Sequence[Centring], rows_of: Mapping[str, int]
) -> NcnnParam:
    """Lower each producer's bias and clip bounds by its shift; raise each consumer's bias by
    ``shift * sum(W)`` (per output row). ``data`` is changed in place; returns the new .param."""
    changed: dict[str, NcnnLayer] = {}
    for plan in plans:
        producer = param.layer(plan.producer)
        low, high = clip_bounds(producer) or (0.0, 0.0)
        write_bias(data, layout, producer.name, read_bias(data, layout, producer.name) - plan.shift)
        changed[producer.name] = producer.with_params(
            {ACTIVATION_PARAMS: f"2,{low - plan.shift:.9g},{high - plan.shift:.9g}"}
        )
        for name in plan.consumers:
            consumer = param.layer(name)
            weights = weight_matrix(data, layout, consumer, rows_of[name]).astype(np.float64)
            bias = read_bias(data, layout, name).astype(np.float64)
            write_bias(data, layout, name, bias + plan.shift * weights.sum(axis=1))
    layers = tuple(changed.get(layer.name, layer) for layer in param.layers)
    return NcnnParam(layers=layers, blob_count=param.blob_count)


def bias_shift(
    weights: np.ndarray, dequantized: np.ndarray, channel_mean: np.ndarray, layer: NcnnLayer
) -> np.ndarray | None:
    """``(W_q - W) @ E[x]`` per output row, or None when the input's shape does not fit the weights.

    ``weights`` and ``dequantized`` are (rows, per-row) matrices as quantized (output channels,
    or depth-wise groups); ``channel_mean`` is the input's mean per channel (per element for a 1-D
    InnerProduct input)."""
    err = dequantized.astype(np.float64) - weights.astype(np.float64)
    mean = np.asarray(channel_mean, np.float64).ravel()
    if layer.type == "ConvolutionDepthWise":
        groups = layer.int_param(7, 1)
        outputs = layer.int_param(0)
        if groups <= 0 or mean.size % groups or outputs % groups:
            return None
        in_per, out_per = mean.size // groups, outputs // groups
        full = err.reshape(groups, out_per, in_per, -1)  # ncnn's order: output, input, kernel
        per_out = (full.sum(axis=3) * mean.reshape(groups, 1, in_per)).sum(axis=2)
        return per_out.reshape(outputs)
    if err.shape[1] % mean.size:
        return None
    return err.reshape(err.shape[0], mean.size, -1).sum(axis=2) @ mean
