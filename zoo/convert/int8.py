"""Post-training int8 quantization of ncnn models, written in Python (ncnn2table + ncnn2int8).

The ncnn wheel ships neither ncnn2table nor ncnn2int8, so zoo writes ncnn's int8 format itself:

- ``.param``: each quantized ``Convolution`` and ``InnerProduct`` gets ``8=2``, each
  ``ConvolutionDepthWise`` ``8=1`` (ncnn's ``int8_scale_term``).
- ``.bin``: such a layer's weight blob becomes the tag 0x000D4B38 then int8 weights padded to 4
  bytes; the fp32 bias follows unchanged; then the per-output-channel weight scales (one per
  group for depthwise) and the input activation scale, as raw fp32. Every other byte of the file
  is copied as it was (fp16 weights stay fp16).

Weight scales are ``127 / absmax`` per output channel (per group for depthwise). ncnn2table
uses 6-bit weights (``31 / absmax``) for 3x3 stride-1 convolutions, a guard for its older int8
Winograd kernels; zoo does not: the current kernels (2023 on) transform the kernel in int16,
where 8-bit weights peak at 127 * 12 * 12 = 18288 < 32767, and accumulate in int32. Measured on
a ResNet-18 with the ncnn wheel here, 8-bit weights give logits cosine 0.985 vs 0.925 with
6-bit. The activation scale of each layer's
input blob comes from ``zoo.convert.calibrate`` (minmax, kl or aciq), measured with ncnn's own
``Extractor`` on the fp32 model, fp16 off. Nothing is fused: whether a quantized convolution
requantizes straight into the next one, or folds its activation, is ncnn's choice at load time.

Everything else a model holds stays float and is listed in the report with the reason.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from zoo.convert.calibrate import (
    BlobCalibration,
    calibrate_blobs,
    check_method,
    check_sample,
    extract_blobs,
    open_net,
)
from zoo.errors import ExportError, InputError
from zoo.numerics import cosine
from zoo.runtimes.ncnn.param import (
    WEIGHTLESS_TYPES,
    BinLayout,
    NcnnLayer,
    NcnnParam,
    encode_int8_blob,
    encode_raw_fp32,
    format_param,
    locate_weights,
    read_param,
)
from zoo.runtimes.ncnn.session import FP32_OPTIONS, INT8_OPTIONS, NcnnSession

QUANTIZABLE_TYPES = ("Convolution", "ConvolutionDepthWise", "InnerProduct")

# The int8_scale_term ncnn2int8 writes per type: 2 = per-output-channel weight scales for
# Convolution/InnerProduct; 1 = one scale per group for ConvolutionDepthWise.
INT8_SCALE_TERM = {"Convolution": 2, "ConvolutionDepthWise": 1, "InnerProduct": 2}

# Types with real compute that the writer leaves in float; listed in the report so a user sees
# where the int8 model still runs fp32. Pure elementwise and data-movement layers are not listed.
UNSUPPORTED_COMPUTE_TYPES = frozenset(
    [
        "Deconvolution",
        "DeconvolutionDepthWise",
        "Deconvolution1D",
        "DeconvolutionDepthWise1D",
        "Deconvolution3D",
        "DeconvolutionDepthWise3D",
        "Convolution1D",
        "ConvolutionDepthWise1D",
        "Convolution3D",
        "ConvolutionDepthWise3D",
        "Gemm",
        "MatMul",
        "MultiHeadAttention",
        "SDPA",
        "LSTM",
        "GRU",
        "RNN",
        "Embed",
        "Einsum",
    ]
)

REASON_REQUESTED = "requested"


def _unsupported(layer_type: str, detail: str = "") -> str:
    return f"unsupported op {layer_type}" + (f" ({detail})" if detail else "")


# ----------------------------------------------------------------------------- report


class QuantizedLayer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="ncnn layer name")
    type: str = Field(description="ncnn layer type: Convolution, ConvolutionDepthWise or InnerProduct")
    weight_scale_count: int = Field(description="number of weight scales: output channels, or groups")
    input_blob: str = Field(description="the ncnn blob this layer quantizes on input")
    input_absmax: float = Field(description="largest |x| of the input blob over the calibration set")
    input_threshold: float = Field(description="clipping threshold chosen by the method")
    input_method: str = Field(
        description="method that set the threshold; kl falls back to minmax on blobs too small "
        "for a histogram (see zoo.convert.calibrate.KL_MIN_VALUES)"
    )
    input_scale: float = Field(description="ncnn input scale, 127 / input_threshold")


class Int8Report(BaseModel):
    """What ``quantize_ncnn`` did; JSON-serialisable, written beside the artifact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = Field(description="activation calibration method: minmax, kl or aciq")
    calibration_count: int = Field(description="number of calibration samples used")
    layers: list[QuantizedLayer] = Field(description="layers written as int8, in model order")
    kept_float: list[tuple[str, str]] = Field(
        description="(layer name, reason) of compute layers left in float; reason is 'requested' "
        "or 'unsupported op <Type> ...'"
    )
    tool_versions: dict[str, str] = Field(description="versions of zoo, ncnn and numpy")
    artifacts: dict[str, str] = Field(description="written file name -> sha256")


class LayerSensitivity(BaseModel):
    """How much one layer alone loses in int8."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="ncnn layer name")
    type: str = Field(description="ncnn layer type")
    cosine: float = Field(
        description="mean over samples of the cosine similarity between the model's outputs "
        "(all outputs, flattened together) with only this layer int8 and the fp32 outputs"
    )


# ----------------------------------------------------------------------------- numpy core


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C's ``roundf`` (halves away from zero), which ncnn uses; numpy's round is to even."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_rows(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric int8: ``scale = 127 / absmax``, ``q = roundf(w * scale)``.

    An all-zero row gets scale 1 (ncnn would divide by zero). Returns (int8 rows, fp32 scales).
    """
    qmax = np.float32(127)
    w = np.asarray(weights, dtype=np.float32)
    absmax = np.abs(w).max(axis=1)
    scales = np.where(absmax > 0, qmax / np.where(absmax > 0, absmax, 1), 1).astype(np.float32)
    q = np.clip(round_half_away(w * scales[:, None]), -127, 127).astype(np.int8)
    return q, scales


def _weight_rows(layer: NcnnLayer) -> int:
    """Rows that get their own weight scale: output channels, or depthwise groups."""
    if layer.type == "ConvolutionDepthWise":
        return layer.int_param(7, 1)
    return layer.int_param(0)


# ----------------------------------------------------------------------------- planning


def _plan(
    param: NcnnParam, layout: BinLayout, keep_float: Sequence[str], source: Path
) -> tuple[list[NcnnLayer], list[tuple[str, str]]]:
    """Split the model's compute layers into those to quantize and those kept float (+ reason)."""
    names = [layer.name for layer in param.layers]
    for name in keep_float:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"keep_float names layer {name!r}, which {source.name} does not have{hint}")
    already = [layer.name for layer in param.layers if layer.type in QUANTIZABLE_TYPES and layer.int_param(8)]
    if already:
        raise InputError(f"{source.name} is already int8 (layers {', '.join(already[:3])}); quantize the fp32 model")
    keep = set(keep_float)
    quantize: list[NcnnLayer] = []
    kept: list[tuple[str, str]] = []
    for layer in param.layers:
        if layer.type in QUANTIZABLE_TYPES:
            weights = layout.layers.get(layer.name)
            if layer.name in keep:
                kept.append((layer.name, REASON_REQUESTED))
            elif weights is None:
                kept.append(
                    (
                        layer.name,
                        _unsupported(layer.type, f"weights after unknown layer {layout.stopped_at}"),
                    )
                )
            elif not weights.blobs:
                kept.append((layer.name, _unsupported(layer.type, "dynamic weights")))
            elif len(layer.bottoms) != 1:
                kept.append((layer.name, _unsupported(layer.type, f"{len(layer.bottoms)} inputs")))
            elif _weight_rows(layer) <= 0 or weights.blob("weight").count % _weight_rows(layer):
                kept.append(
                    (
                        layer.name,
                        _unsupported(layer.type, "weight size not a multiple of its outputs"),
                    )
                )
            else:
                quantize.append(layer)
        elif layer.type in UNSUPPORTED_COMPUTE_TYPES or (
            layer.type not in WEIGHTLESS_TYPES and layer.name not in layout.layers
        ):
            kept.append((layer.name, REASON_REQUESTED if layer.name in keep else _unsupported(layer.type)))
    return quantize, kept


# ----------------------------------------------------------------------------- writing


def _quantized_blobs(
    layer: NcnnLayer, layout: BinLayout, data: bytes, calibration: BlobCalibration
) -> tuple[bytes, QuantizedLayer]:
    weights = layout.layers[layer.name]
    weight_blob = weights.blob("weight")
    rows = _weight_rows(layer)
    q, scales = quantize_rows(weight_blob.decode(data).reshape(rows, -1))
    out = [encode_int8_blob(q)]
    for blob in weights.blobs[1:]:  # the bias, untouched
        out.append(data[blob.offset : blob.offset + blob.nbytes])
    out.append(encode_raw_fp32(scales))
    out.append(encode_raw_fp32([calibration.scale]))
    info = QuantizedLayer(
        name=layer.name,
        type=layer.type,
        weight_scale_count=int(scales.size),
        input_blob=layer.bottoms[0],
        input_absmax=calibration.absmax,
        input_threshold=calibration.threshold,
        input_method=calibration.method,
        input_scale=calibration.scale,
    )
    return b"".join(out), info


def build_int8(
    param: NcnnParam,
    data: bytes,
    layout: BinLayout,
    quantize: Sequence[NcnnLayer],
    calibration: Mapping[str, BlobCalibration],
) -> tuple[str, bytes, list[QuantizedLayer]]:
    """The int8 ``.param`` text and ``.bin`` bytes with ``quantize`` layers converted."""
    targets = {layer.name for layer in quantize}
    layers = []
    chunks: list[bytes] = []
    infos = []
    cursor = 0
    for layer in param.layers:
        if layer.name not in targets:
            layers.append(layer)
            continue
        layers.append(layer.with_params({8: INT8_SCALE_TERM[layer.type]}))
        weights = layout.layers[layer.name]
        chunks.append(data[cursor : weights.start])
        blob_bytes, info = _quantized_blobs(layer, layout, data, calibration[layer.bottoms[0]])
        chunks.append(blob_bytes)
        infos.append(info)
        cursor = weights.end
    chunks.append(data[cursor:])
    text = format_param(NcnnParam(layers=tuple(layers), blob_count=param.blob_count))
    return text, b"".join(chunks), infos


def _write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_outputs(net: NcnnSession, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """All of ``net``'s outputs for one sample, flattened and concatenated."""
    blobs = extract_blobs(net, inputs, net.output_names)
    return np.concatenate([blobs[name].ravel() for name in net.output_names])


# ----------------------------------------------------------------------------- public API


def _prepare(
    param: Path,
    bin: Path,
    calibration: Iterable[Mapping[str, np.ndarray]],
    method: str,
    limit: int | None = None,
) -> tuple[NcnnParam, bytes, BinLayout, list[dict[str, np.ndarray]]]:
    param, bin = Path(param), Path(bin)
    model = read_param(param)
    try:
        data = bin.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read ncnn weights {bin}: {err.strerror or err}") from None
    layout = locate_weights(model, data, source=str(bin))
    if isinstance(calibration, Mapping):
        raise InputError("calibration must be an iterable of samples (dicts), not a single dict")
    samples = []
    for sample in calibration:
        samples.append(check_sample(sample, model.input_names))
        if limit is not None and len(samples) >= limit:
            break
    check_method(method, len(samples))
    return model, data, layout, samples


def _tool_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"numpy": np.__version__}
    for dist in ("zoo", "ncnn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


def quantize_ncnn(
    param: Path,
    bin: Path,
    calibration: Iterable[dict[str, np.ndarray]],
    out_param: Path,
    out_bin: Path,
    method: str = "kl",
    keep_float: Sequence[str] = (),
) -> Int8Report:
    """Write an int8 copy of an ncnn fp32 model; return what was quantized and what was not.

    ``calibration`` yields preprocessed inputs keyed by ncnn input blob name (``"in0"``), each
    shaped like the PyTorch input with batch 1, e.g. (1, 3, 224, 224) float32: run the model's
    own preprocessing, so calibration sees exactly what inference will. ``method`` is minmax
    (>= 1 sample), kl (>= 8) or aciq (>= 1). ``keep_float`` names ncnn layers to leave in float.
    The result is written atomically and checked by loading and running it in stock ncnn with
    ``use_int8_inference``.
    """
    param, bin, out_param, out_bin = Path(param), Path(bin), Path(out_param), Path(out_bin)
    model, data, layout, samples = _prepare(param, bin, calibration, method)
    quantize, kept = _plan(model, layout, keep_float, param)
    net = open_net(param, bin, FP32_OPTIONS)
    blobs = list(dict.fromkeys(layer.bottoms[0] for layer in quantize))
    scales = calibrate_blobs(net, samples, blobs, method)
    text, payload, infos = build_int8(model, data, layout, quantize, scales)
    _check_loads(text, payload, samples[0], out_param.parent)
    _write_atomic(out_bin, payload)
    _write_atomic(out_param, text.encode("utf-8"))
    return Int8Report(
        method=method,
        calibration_count=len(samples),
        layers=infos,
        kept_float=kept,
        tool_versions=_tool_versions(),
        artifacts={
            out_param.name: hashlib.sha256(text.encode("utf-8")).hexdigest(),
            out_bin.name: hashlib.sha256(payload).hexdigest(),
        },
    )


def _check_loads(text: str, payload: bytes, sample: Mapping[str, np.ndarray], where: Path) -> None:
    """Load the written model in stock ncnn (int8 on) and run one sample, before publishing it."""
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where, prefix=".int8-check-") as tmp:
        p, b = Path(tmp) / "m.param", Path(tmp) / "m.bin"
        p.write_text(text, encoding="utf-8")
        b.write_bytes(payload)
        net = open_net(p, b, INT8_OPTIONS)
        out = run_outputs(net, sample)
        net.close()
    if not np.all(np.isfinite(out)):
        raise ExportError("the int8 model loads in ncnn but gives non-finite outputs")


def layer_sensitivity(
    param: Path,
    bin: Path,
    calibration: Iterable[dict[str, np.ndarray]],
    method: str = "kl",
    limit: int | None = None,
) -> list[LayerSensitivity]:
    """Per quantizable layer, the output cosine vs fp32 when only that layer is int8; worst first.

    Scales come from ``method`` over the calibration samples; ``limit`` caps how many samples
    are used (for the statistics and the comparison both), to bound the cost: one model write,
    load and ``limit`` forward passes per layer. Float layers run fp32 (fp16 off) on both sides,
    so the number is the int8 loss of that layer alone.
    """
    param, bin = Path(param), Path(bin)
    model, data, layout, samples = _prepare(param, bin, calibration, method, limit)
    candidates, _ = _plan(model, layout, (), param)
    fp32 = open_net(param, bin, FP32_OPTIONS)
    reference = [run_outputs(fp32, sample) for sample in samples]
    blobs = list(dict.fromkeys(layer.bottoms[0] for layer in candidates))
    scales = calibrate_blobs(fp32, samples, blobs, method)
    result = []
    with tempfile.TemporaryDirectory(prefix="zoo-int8-sensitivity-") as tmp:
        p, b = Path(tmp) / "m.param", Path(tmp) / "m.bin"
        for layer in candidates:
            text, payload, _ = build_int8(model, data, layout, [layer], scales)
            p.write_text(text, encoding="utf-8")
            b.write_bytes(payload)
            net = open_net(p, b, INT8_OPTIONS)
            sims = [cosine(run_outputs(net, s), ref) for s, ref in zip(samples, reference, strict=True)]
            result.append(LayerSensitivity(name=layer.name, type=layer.type, cosine=float(np.mean(sims))))
    return sorted(result, key=lambda item: item.cosine)
