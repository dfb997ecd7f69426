"""Read and write ncnn's text ``.param`` files and locate each layer's weights in the ``.bin``.

ncnn stores a network as two files. The ``.param`` text starts with the magic ``7767517``, then
``layer_count blob_count``, then one line per layer::

    Convolution  conv_0  1 1 in0 1  0=16 1=3 5=1 6=432 9=1 -23303=2,1,2

(type, name, bottom count, top count, bottom blob names, top blob names, then ``key=value``
parameters; a key ``-233xx`` holds an array whose id is ``-key - 23300``). The ``.bin`` holds the
weights of every layer that has any, back to back in layer order, with no names and no index:
where one layer's weights end is only known from what that layer type reads in its
``load_model``. ``WEIGHT_LAYOUTS`` records that, per layer type, as data. A blob read with
"type 0" starts with a 4-byte tag that says how it is stored (fp32, fp16, int8, or a 256-entry
lookup table); "type 1" blobs are raw fp32 with no tag.

A layer type that is in neither ``WEIGHT_LAYOUTS`` nor ``WEIGHTLESS_TYPES`` stops the weight walk:
everything from that layer on is opaque (copied byte for byte by a writer, never reinterpreted).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from zoo.errors import InputError

PARAM_MAGIC = 7767517

# 4-byte tags at the start of a "type 0" weight blob (ncnn src/modelbin.cpp).
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_SCALED = 0x0002C056
TAG_FP32 = 0x00000000


# ----------------------------------------------------------------------------- .param text


@dataclass(frozen=True)
class NcnnLayer:
    """One line of a ``.param`` file. ``params`` maps the key as written (``8``, ``-23303``) to the
    value text as written, so an untouched layer is written back exactly as it was read."""

    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: Mapping[int, str] = field(default_factory=dict)

    def int_param(self, key: int, default: int = 0) -> int:
        raw = self.params.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            return int(float(raw))

    def with_params(self, updates: Mapping[int, int | float | str]) -> NcnnLayer:
        """A copy with the given scalar params set (existing keys keep their place)."""
        params = dict(self.params)
        params.update({key: str(value) for key, value in updates.items()})
        return replace(self, params=params)


@dataclass(frozen=True)
class NcnnParam:
    """A parsed ``.param`` file: layers in file order, plus the blob count from its header."""

    layers: tuple[NcnnLayer, ...]
    blob_count: int

    def layer(self, name: str) -> NcnnLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def input_names(self) -> list[str]:
        return [layer.tops[0] for layer in self.layers if layer.type == "Input"]

    @property
    def output_names(self) -> list[str]:
        """Blobs some layer produces and no layer consumes, in file order (pnnx: out0, out1, ...)."""
        consumed = {b for layer in self.layers for b in layer.bottoms}
        inputs = set(self.input_names)
        return [t for layer in self.layers for t in layer.tops if t not in consumed and t not in inputs]

    def check_graph(self, source: str) -> None:
        """Refuse wiring ncnn would run into undefined memory with: a blob consumed before any
        layer produced it, a blob produced twice, more blobs than the header declares, an
        Input layer that is not a plain source. One line naming the file, the layer and the fix."""
        produced: set[str] = set()
        for index, layer in enumerate(self.layers, start=1):
            if layer.type == "Input" and (layer.bottoms or len(layer.tops) != 1):
                raise InputError(f"{source}: Input layer {layer.name!r} must have no inputs and one output")
            for bottom in layer.bottoms:
                if bottom not in produced:
                    raise InputError(
                        f"{source}: layer {index} {layer.name!r} reads blob {bottom!r} before any layer "
                        "produces it; the .param is corrupt — export it again"
                    )
            for top in layer.tops:
                if top in produced:
                    raise InputError(
                        f"{source}: blob {top!r} is produced twice (again by layer {index} {layer.name!r}); "
                        "the .param is corrupt — export it again"
                    )
                produced.add(top)
        if len(produced) > self.blob_count:
            raise InputError(
                f"{source}: {len(produced)} blobs but the header declares {self.blob_count}; "
                "the .param is corrupt — export it again"
            )
        if not self.input_names:
            raise InputError(f"{source}: no Input layer; not a network zoo can feed")


def parse_param(text: str, source: str = "<param>") -> NcnnParam:
    """Parse ncnn ``.param`` text. A malformed file raises InputError naming ``source`` and line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].strip() != str(PARAM_MAGIC):
        raise InputError(f"{source} is not an ncnn .param file: first line must be {PARAM_MAGIC}")
    header = lines[1].split() if len(lines) > 1 else []
    if len(header) != 2 or not all(h.isdigit() for h in header):
        raise InputError(f"{source}: line 2 must be 'layer_count blob_count', got {lines[1:2]}")
    layer_count, blob_count = int(header[0]), int(header[1])
    layers = []
    for lineno, line in enumerate(lines[2:], start=3):
        tokens = line.split()
        try:
            ltype, name, nbottom, ntop = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        except (IndexError, ValueError):
            raise InputError(f"{source}:{lineno}: malformed layer line {line!r}") from None
        blobs_end = 4 + nbottom + ntop
        if len(tokens) < blobs_end:
            raise InputError(f"{source}:{lineno}: layer {name!r} lists fewer blobs than it declares")
        params: dict[int, str] = {}
        for token in tokens[blobs_end:]:
            key, sep, value = token.partition("=")
            try:
                params[int(key)] = value
            except ValueError:
                raise InputError(f"{source}:{lineno}: bad parameter {token!r}") from None
            if not sep:
                raise InputError(f"{source}:{lineno}: bad parameter {token!r}")
        layers.append(
            NcnnLayer(
                type=ltype,
                name=name,
                bottoms=tuple(tokens[4 : 4 + nbottom]),
                tops=tuple(tokens[4 + nbottom : blobs_end]),
                params=params,
            )
        )
    if len(layers) != layer_count:
        raise InputError(f"{source}: header says {layer_count} layers, file has {len(layers)}")
    return NcnnParam(layers=tuple(layers), blob_count=blob_count)


def read_param(path: Path, max_bytes: int = 64 << 20) -> NcnnParam:
    """Parse the .param file at ``path`` strictly (ASCII/UTF-8 text, at most ``max_bytes``)."""
    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise InputError(f"{path}: {path.stat().st_size} bytes is too large for an ncnn .param (limit {max_bytes})")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text ncnn .param (byte {err.start} is not UTF-8); export it again") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an ncnn .param file") from None
    except OSError as err:
        raise InputError(f"cannot read ncnn param {path}: {err.strerror or err}") from None
    return parse_param(text, source=str(path))


def format_param(param: NcnnParam) -> str:
    """ncnn ``.param`` text, laid out like ncnn's own writers (type and name padded to 24)."""
    out = [str(PARAM_MAGIC), f"{len(param.layers)} {param.blob_count}"]
    for layer in param.layers:
        cols = [f"{layer.type:<24} {layer.name:<24} {len(layer.bottoms)} {len(layer.tops)}"]
        cols += [*layer.bottoms, *layer.tops]
        cols += [f"{key}={value}" for key, value in layer.params.items()]
        out.append(" ".join(cols))
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- .bin layout


@dataclass(frozen=True)
class BlobRead:
    """One ``ModelBin::load(count, load_type)`` call of a layer's ``load_model``."""

    role: str
    count: int
    load_type: int  # 0: tagged (fp32 / fp16 / int8 / table); 1: raw fp32


Layout = Callable[[NcnnLayer], "list[BlobRead] | None"]


def _conv_like(dynamic_key: int) -> Layout:
    """Convolution family: weight (6=size, tagged), bias (0=num_output, raw) if 5=1.

    ``8=`` (int8_scale_term) adds per-channel weight scales and the input scale; that layout
    depends on the type and is handled by ``_int8_scales``."""

    def layout(layer: NcnnLayer) -> list[BlobRead] | None:
        if layer.int_param(dynamic_key):
            return []
        reads = [BlobRead("weight", layer.int_param(6), 0)]
        if layer.int_param(5):
            reads.append(BlobRead("bias", layer.int_param(0), 1))
        return reads

    return layout


def _with_int8_scales(base: Layout, scale_count: Callable[[NcnnLayer], int]) -> Layout:
    def layout(layer: NcnnLayer) -> list[BlobRead] | None:
        reads = base(layer)
        term = layer.int_param(8)
        if reads is None or not term or not reads:
            return reads
        reads = [
            *reads,
            BlobRead("weight_scales", scale_count(layer), 1),
            BlobRead("input_scale", 1, 1),
        ]
        if term > 100:
            reads.append(BlobRead("output_scale", 1, 1))
        return reads

    return layout


def _depthwise_scale_count(layer: NcnnLayer) -> int:
    # ncnn: int8_scale_term 1/101 -> one scale per group; 2/102 -> a single scale.
    return layer.int_param(7, 1) if layer.int_param(8) in (1, 101) else 1


def _innerproduct(layer: NcnnLayer) -> list[BlobRead] | None:
    reads = [BlobRead("weight", layer.int_param(2), 0)]
    if layer.int_param(1):
        reads.append(BlobRead("bias", layer.int_param(0), 1))
    if layer.int_param(8):
        reads += [BlobRead("weight_scales", layer.int_param(0), 1), BlobRead("input_scale", 1, 1)]
    return reads


def _fixed(*roles: tuple[str, int, int]) -> Layout:
    """Blobs whose count is one param: (role, param key, load type)."""

    def layout(layer: NcnnLayer) -> list[BlobRead]:
        return [BlobRead(role, layer.int_param(key), load_type) for role, key, load_type in roles]

    return layout


def _affine(count_key: int, affine_key: int, affine_default: int, roles: Sequence[str]) -> Layout:
    def layout(layer: NcnnLayer) -> list[BlobRead]:
        if not layer.int_param(affine_key, affine_default):
            return []
        return [BlobRead(role, layer.int_param(count_key), 1) for role in roles]

    return layout


def _scale(layer: NcnnLayer) -> list[BlobRead]:
    size = layer.int_param(0)
    if size == -233:  # scale comes from a second bottom blob
        return []
    reads = [BlobRead("scale", size, 1)]
    if layer.int_param(1):
        reads.append(BlobRead("bias", size, 1))
    return reads


def _memorydata(layer: NcnnLayer) -> list[BlobRead]:
    w, h, d, c = (layer.int_param(k) for k in (0, 1, 11, 2))
    dims = [v for v in (w, h, d, c) if v]
    count = math.prod(dims) if dims else 1
    return [BlobRead("data", count, layer.int_param(21, 1))] if dims else []


def _embed(layer: NcnnLayer) -> list[BlobRead] | None:
    if layer.int_param(18):
        return None
    reads = [BlobRead("weight", layer.int_param(3), 0)]
    if layer.int_param(2):
        reads.append(BlobRead("bias", layer.int_param(0), 1))
    return reads


def _groupnorm(layer: NcnnLayer) -> list[BlobRead]:
    if not layer.int_param(3, 1):
        return []
    return [BlobRead("gamma", layer.int_param(1), 1), BlobRead("beta", layer.int_param(1), 1)]


# Layer type -> the blobs its load_model reads, in order (ncnn src/layer/<type>.cpp). A layout
# returning None means "this configuration is not understood": the walk stops there.
WEIGHT_LAYOUTS: dict[str, Layout] = {
    "Convolution": _with_int8_scales(_conv_like(19), lambda layer: layer.int_param(0)),
    "ConvolutionDepthWise": _with_int8_scales(_conv_like(19), _depthwise_scale_count),
    "InnerProduct": _innerproduct,
    "Convolution1D": _conv_like(19),
    "ConvolutionDepthWise1D": _conv_like(19),
    "Convolution3D": _conv_like(19),
    "ConvolutionDepthWise3D": _conv_like(19),
    "Deconvolution": _conv_like(28),
    "DeconvolutionDepthWise": _conv_like(28),
    "Deconvolution1D": _conv_like(28),
    "DeconvolutionDepthWise1D": _conv_like(28),
    "Deconvolution3D": _conv_like(28),
    "DeconvolutionDepthWise3D": _conv_like(28),
    "BatchNorm": _fixed(("slope", 0, 1), ("mean", 0, 1), ("var", 0, 1), ("bias", 0, 1)),
    "Scale": _scale,
    "Bias": _fixed(("bias", 0, 1)),
    "PReLU": _fixed(("slope", 0, 1)),
    "MemoryData": _memorydata,
    "Embed": _embed,
    "LayerNorm": _affine(0, 2, 1, ("gamma", "beta")),
    "RMSNorm": _affine(0, 2, 1, ("gamma",)),
    "InstanceNorm": _affine(0, 2, 1, ("gamma", "beta")),
    "GroupNorm": _groupnorm,
    "Normalize": _fixed(("scale", 3, 1)),
}

# Layer types whose load_model reads nothing.
WEIGHTLESS_TYPES: frozenset[str] = frozenset(
    [
        "Input",
        "Split",
        "Concat",
        "Slice",
        "Crop",
        "Reshape",
        "Flatten",
        "Permute",
        "Squeeze",
        "ExpandDims",
        "Tile",
        "Padding",
        "ReLU",
        "ReLU6",
        "Sigmoid",
        "Swish",
        "HardSwish",
        "HardSigmoid",
        "Clip",
        "TanH",
        "ELU",
        "SELU",
        "GELU",
        "Mish",
        "Softplus",
        "Erf",
        "BNLL",
        "AbsVal",
        "Exp",
        "Log",
        "Power",
        "Threshold",
        "Dropout",
        "Noop",
        "Cast",
        "UnaryOp",
        "BinaryOp",
        "Eltwise",
        "Softmax",
        "Pooling",
        "Pooling1D",
        "Pooling3D",
        "Reduction",
        "Interp",
        "PixelShuffle",
        "Reorg",
        "ShuffleChannel",
        "MatMul",
        "Einsum",
        "Fold",
        "Unfold",
        "GridSample",
        "CumulativeSum",
        "CopyTo",
        "Flip",
        "LRN",
        "MVN",
        "Packing",
        "DeepCopy",
        "ArgMax",
        "StatisticsPooling",
        "PriorBox",
        "DetectionOutput",
        "Yolov3DetectionOutput",
        "YoloDetectionOutput",
        "Proposal",
        "ROIPooling",
        "ROIAlign",
        "PSROIPooling",
        "SDPA",
        "RotaryEmbed",
        "Shrink",
        "Celu",
    ]
)


@dataclass(frozen=True)
class WeightBlob:
    """Where one weight blob lies in the ``.bin`` and how it is stored."""

    role: str
    count: int
    offset: int  # of the blob, tag included
    nbytes: int  # tag and padding included
    storage: str  # "fp32", "fp16", "int8", "table" (256-entry lookup) or "raw" (untagged fp32)

    def decode(self, data: bytes) -> np.ndarray:
        """The blob's values as float32 (int8 blobs as their integer values)."""
        body = self.offset if self.storage == "raw" else self.offset + 4
        if self.storage in ("raw", "fp32"):
            return np.frombuffer(data, "<f4", self.count, body).copy()
        if self.storage == "fp16":
            return np.frombuffer(data, "<f2", self.count, body).astype(np.float32)
        if self.storage == "int8":
            return np.frombuffer(data, np.int8, self.count, body).astype(np.float32)
        table = np.frombuffer(data, "<f4", 256, self.offset + 4)
        index = np.frombuffer(data, np.uint8, self.count, self.offset + 4 + 1024)
        return table[index].astype(np.float32)


@dataclass(frozen=True)
class LayerWeights:
    layer: str
    type: str
    blobs: tuple[WeightBlob, ...]

    @property
    def start(self) -> int:
        return self.blobs[0].offset if self.blobs else -1

    @property
    def end(self) -> int:
        return self.blobs[-1].offset + self.blobs[-1].nbytes if self.blobs else -1

    def blob(self, role: str) -> WeightBlob:
        for blob in self.blobs:
            if blob.role == role:
                return blob
        raise KeyError(role)


@dataclass(frozen=True)
class BinLayout:
    """Each parsed layer's weight blobs. ``stopped_at`` names the first layer whose type is not
    known (None when the whole file was walked); ``opaque_from`` is the byte offset from which
    the file was not interpreted."""

    layers: dict[str, LayerWeights]
    stopped_at: str | None
    opaque_from: int
    size: int


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _locate(data: bytes, offset: int, read: BlobRead, where: str) -> WeightBlob:
    if read.count < 0:
        raise InputError(f"{where}: negative {read.role} size {read.count}")
    if read.load_type == 1:
        nbytes, storage = read.count * 4, "raw"
    elif read.load_type == 0:
        if offset + 4 > len(data):
            raise InputError(f"{where}: file ends before the {read.role} tag at byte {offset}")
        (tag,) = struct.unpack_from("<I", data, offset)
        if tag == TAG_FP16:
            nbytes, storage = 4 + _align4(read.count * 2), "fp16"
        elif tag == TAG_INT8:
            nbytes, storage = 4 + _align4(read.count), "int8"
        elif tag == TAG_FP32_SCALED:
            nbytes, storage = 4 + read.count * 4, "fp32"
        elif sum(data[offset : offset + 4]) != 0:
            nbytes, storage = 4 + 1024 + _align4(read.count), "table"
        else:
            nbytes, storage = 4 + read.count * 4, "fp32"
    else:
        raise InputError(f"{where}: unknown load type {read.load_type} for {read.role}")
    if offset + nbytes > len(data):
        raise InputError(
            f"{where}: {read.role} needs bytes {offset}..{offset + nbytes} but the file has "
            f"{len(data)}: the .bin does not belong to this .param"
        )
    return WeightBlob(read.role, read.count, offset, nbytes, storage)


def locate_weights(param: NcnnParam, data: bytes, source: str = "<bin>") -> BinLayout:
    """Walk the ``.bin`` bytes layer by layer as ncnn's ``load_model`` would.

    Raises InputError when the file is shorter than the layers need, or when every layer was
    understood and bytes are left over (the pair does not match)."""
    offset = 0
    found: dict[str, LayerWeights] = {}
    for layer in param.layers:
        if layer.type in WEIGHTLESS_TYPES:
            continue
        layout = WEIGHT_LAYOUTS.get(layer.type)
        reads = layout(layer) if layout else None
        if reads is None:
            return BinLayout(found, stopped_at=layer.name, opaque_from=offset, size=len(data))
        blobs = []
        for read in reads:
            blob = _locate(data, offset, read, f"{source}: layer {layer.name} ({layer.type})")
            blobs.append(blob)
            offset += blob.nbytes
        found[layer.name] = LayerWeights(layer.name, layer.type, tuple(blobs))
    if offset != len(data):
        raise InputError(
            f"{source}: the layers of the .param use {offset} bytes but the .bin has {len(data)}: "
            "the two files do not belong together"
        )
    return BinLayout(found, stopped_at=None, opaque_from=offset, size=len(data))


def encode_int8_blob(values: np.ndarray) -> bytes:
    """A tagged int8 blob: tag 0x000D4B38, the int8 values, zero padding to 4 bytes."""
    raw = np.ascontiguousarray(values, dtype=np.int8).tobytes()
    return struct.pack("<I", TAG_INT8) + raw + b"\0" * (_align4(len(raw)) - len(raw))


def encode_raw_fp32(values: np.ndarray | Sequence[float]) -> bytes:
    """An untagged ("load type 1") fp32 blob."""
    return np.ascontiguousarray(values, dtype="<f4").tobytes()
