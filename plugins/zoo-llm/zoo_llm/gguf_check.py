"""Validate a GGUF file before llama.cpp reads it: one clear line naming the file and the problem.

llama.cpp aborts the whole process (SIGABRT, or a segfault) on some malformed files: a vocabulary
with a duplicate token, an SPM vocabulary without its 256 ``<0xXX>`` byte tokens, token-id keys or
score arrays that do not fit the vocabulary. So a file is read here first by a small strict reader
with explicit limits: every count and length is checked against what is left of the file *before*
anything is allocated, so a hostile header can neither make it allocate gigabytes nor loop for long.

Why not ``gguf.GGUFReader``: it maps the whole file and trusts its counts; on a truncated or
mutated file it fails with a numpy reshape or index error that names neither the file nor the
field, and it does not check that tensor data lies inside the file. The ``gguf`` package stays the
reference for the format's constants (value types, ggml type sizes) and for the tests, which check
that this reader and GGUFReader agree on every well-formed file.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import InputError

MAGIC = b"GGUF"
VERSIONS = (2, 3)
"""GGUF versions llama.cpp reads (v1 was dropped in 2023)."""


@dataclass(frozen=True)
class Limits:
    """Sanity bounds: far above any real model, far below what would hurt."""

    max_tensors: int = 1 << 16
    max_kv: int = 1 << 14
    max_string: int = 1 << 24
    """Bytes in one string (chat templates are ~10 kB; 16 MiB is plenty)."""
    max_array: int = 1 << 24
    """Elements in one array (vocabularies reach 262,144 tokens; merges ~500k)."""
    max_dims: int = 4
    """GGML_MAX_DIMS."""
    max_name: int = 63
    """GGML_MAX_NAME - 1 bytes in a tensor name."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    """ggml order: ne[0] is the innermost (contiguous) dimension."""
    ggml_type: int
    offset: int
    """Absolute offset of the data in the file."""
    nbytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int
    file_size: int
    types: dict[str, int] = field(default_factory=dict)
    """Key → GGUF value type (arrays: the element type), for comparing with other readers."""

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_key(self, suffix: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{suffix}")

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def context_length(self) -> int | None:
        value = self.arch_key("context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def file_type(self) -> str | None:
        """The GGUF's own file type as a precision name: 'q4_k_m', 'q8_0', 'f16', 'f32'."""
        value = self.metadata.get("general.file_type")
        return file_type_name(value) if isinstance(value, int) else None


def file_type_name(value: int) -> str:
    """llama.cpp's ``general.file_type`` number as the precision name zoo uses (15 → 'q4_k_m')."""
    from gguf import LlamaFileType

    try:
        name = LlamaFileType(value).name
    except ValueError:
        return f"type{value}"
    return {"ALL_F32": "f32", "MOSTLY_F16": "f16", "MOSTLY_BF16": "bf16"}.get(
        name, name.removeprefix("MOSTLY_").lower()
    )


class _Reader:
    """Bounds-checked little-endian cursor over the mapped file."""

    def __init__(self, buf: Any, path: Path, limits: Limits) -> None:
        self.buf, self.pos, self.path, self.limits, self.size = buf, 0, path, limits, len(buf)

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.path}: not a valid GGUF file ({what}); re-download it or pick another file")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{what} runs past the end of the file at byte {self.pos}: truncated?")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)

    def scalar(self, fmt: str, what: str) -> Any:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.scalar("Q", f"length of {what}")
        if n > self.limits.max_string:
            raise self.fail(f"{what} claims {n:,} bytes (limit {self.limits.max_string:,})")
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8") from None


def _value(r: _Reader, vtype: int, what: str, depth: int = 0) -> Any:
    from gguf import GGUFValueType as T

    fmts: dict[int, str] = {T.UINT8: "B", T.INT8: "b", T.UINT16: "H", T.INT16: "h", T.UINT32: "I", T.INT32: "i",
            T.FLOAT32: "f", T.UINT64: "Q", T.INT64: "q", T.FLOAT64: "d", T.BOOL: "?"}  # fmt: skip
    if vtype in fmts:
        if vtype == T.BOOL:
            byte = r.scalar("B", what)
            if byte > 1:
                raise r.fail(f"{what} is a bool with value {byte}")
            return bool(byte)
        return r.scalar(fmts[vtype], what)
    if vtype == T.STRING:
        return r.string(what)
    if vtype == T.ARRAY:
        if depth > 0:
            raise r.fail(f"{what} is an array of arrays")
        etype = r.scalar("I", f"element type of {what}")
        n = r.scalar("Q", f"length of {what}")
        if n > r.limits.max_array:
            raise r.fail(f"{what} claims {n:,} elements (limit {r.limits.max_array:,})")
        if etype in fmts:
            width = struct.calcsize(fmts[etype])
            raw = r.take(n * width, what)  # checked against the file before any allocation
            values = list(struct.unpack(f"<{n}{fmts[etype]}", raw))
            if etype == T.BOOL:
                values = [bool(v) for v in values]
            return values
        if etype == T.STRING:
            if n * 8 > r.size - r.pos:  # each string needs at least its 8-byte length
                raise r.fail(f"{what} claims {n:,} strings, more than the file can hold")
            return _strings(r, n, what)
        raise r.fail(f"{what} has unknown element type {etype}")
    raise r.fail(f"{what} has unknown value type {vtype}")


def _strings(r: _Reader, n: int, what: str) -> list[str]:
    """An array of ``n`` strings: the same checks as ``_Reader.string``, inlined (a 262k-token
    vocabulary takes ~0.1 s instead of ~0.4 s)."""
    buf, pos, size, limit = r.buf, r.pos, r.size, r.limits.max_string
    out: list[str] = []
    append = out.append
    for i in range(n):
        if pos + 8 > size:
            r.pos = pos
            raise r.fail(f"{what}[{i}] runs past the end of the file: truncated?")
        length = int.from_bytes(buf[pos : pos + 8], "little")
        pos += 8
        if length > limit or pos + length > size:
            r.pos = pos
            raise r.fail(f"{what}[{i}] claims {length:,} bytes, more than the file holds")
        try:
            append(str(buf[pos : pos + length], "utf-8"))
        except UnicodeDecodeError:
            raise r.fail(f"{what}[{i}] is not UTF-8") from None
        pos += length
    r.pos = pos
    return out


def read_gguf(
    path: Path | str, limits: Limits | None = None, *, until: Callable[[dict[str, Any]], bool] | None = None
) -> GGUFInfo:
    """Parse the header, metadata and tensor table of ``path`` strictly (no tensor data is read).

    ``until(metadata)``: stop reading metadata as soon as it returns True (a quick peek at a few
    keys; the result then has no tensors)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

    path = Path(path)
    limits = limits or Limits()
    failure: str | None = None
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            if size < 24:
                raise InputError(f"{path}: not a GGUF file ({size} bytes; a GGUF header alone is 24)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                try:
                    return _parse(_Reader(memoryview(buf), path, limits), path, size, GGML_QUANT_SIZES,
                                  GGMLQuantizationType, GGUFValueType, until)  # fmt: skip
                except InputError as err:
                    # The traceback's frames hold views of the map; drop them so it can close.
                    failure = str(err)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a GGUF file") from None
    except PermissionError:
        raise InputError(f"{path}: not readable (permission denied)") from None
    raise InputError(failure or f"{path}: not a valid GGUF file")


def _parse(
    r: _Reader, path: Path, size: int, quant_sizes: Any, qtype: Any, vtype_enum: Any,
    until: Callable[[dict[str, Any]], bool] | None,
) -> GGUFInfo:  # fmt: skip
    try:
        magic = r.take(4, "magic")
        if magic != MAGIC:
            raise InputError(f"{path}: not a GGUF file (starts with {magic!r}, expected b'GGUF')")
        version = r.scalar("I", "version")
        if version not in VERSIONS:
            raise r.fail(f"version {version}; llama.cpp reads versions {', '.join(map(str, VERSIONS))}")
        n_tensors = r.scalar("Q", "tensor count")
        n_kv = r.scalar("Q", "metadata count")
        if n_tensors > r.limits.max_tensors:
            raise r.fail(f"tensor count {n_tensors:,} (limit {r.limits.max_tensors:,})")
        if n_kv > r.limits.max_kv:
            raise r.fail(f"metadata count {n_kv:,} (limit {r.limits.max_kv:,})")

        metadata: dict[str, Any] = {}
        types: dict[str, int] = {}
        for i in range(n_kv):
            key = r.string(f"metadata key #{i}")
            if key in metadata:
                raise r.fail(f"metadata key {key!r} appears twice")
            vtype = r.scalar("I", f"type of {key!r}")
            pos = r.pos
            metadata[key] = _value(r, vtype, repr(key))
            types[key] = vtype
            if vtype == vtype_enum.ARRAY:
                types[key] = struct.unpack("<I", bytes(r.buf[pos : pos + 4]))[0]
            if until is not None and until(metadata):
                return GGUFInfo(path, version, metadata, (), 32, 0, size, types)

        alignment = metadata.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise r.fail(f"general.alignment {alignment!r} is not a power of two")

        raw_tensors = []
        names: set[str] = set()
        for i in range(n_tensors):
            name = r.string(f"name of tensor #{i}")
            if not name or len(name.encode()) > r.limits.max_name:
                raise r.fail(f"tensor #{i} name {name[:80]!r} is empty or longer than {r.limits.max_name} bytes")
            if name in names:
                raise r.fail(f"tensor {name!r} appears twice")
            names.add(name)
            n_dims = r.scalar("I", f"dimension count of {name!r}")
            if not 1 <= n_dims <= r.limits.max_dims:
                raise r.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {r.limits.max_dims})")
            shape = tuple(r.scalar("Q", f"shape of {name!r}") for _ in range(n_dims))
            gtype = r.scalar("I", f"type of {name!r}")
            offset = r.scalar("Q", f"offset of {name!r}")
            raw_tensors.append((name, shape, gtype, offset))

        data_offset = -(-r.pos // alignment) * alignment
        tensors = []
        end = data_offset
        for name, shape, gtype, offset in raw_tensors:
            try:
                block, type_size = quant_sizes[qtype(gtype)]
            except (ValueError, KeyError):
                raise r.fail(f"tensor {name!r} has unknown ggml type {gtype}") from None
            n = 1
            for d in shape:
                if d < 1 or d >= 1 << 62:
                    raise r.fail(f"tensor {name!r} has dimension {d}")
                n *= d
                if n >= 1 << 62:
                    raise r.fail(f"tensor {name!r} has {n:,}+ elements")
            if shape[0] % block:
                raise r.fail(f"tensor {name!r} row of {shape[0]} is not a multiple of its type's block of {block}")
            nbytes = n // block * type_size
            if offset % alignment:
                raise r.fail(f"tensor {name!r} data offset {offset} is not aligned to {alignment}")
            start = data_offset + offset
            if start < end:
                raise r.fail(f"tensor {name!r} overlaps the tensor before it")
            if start + nbytes > size:
                raise r.fail(
                    f"tensor {name!r} data ends at byte {start + nbytes:,} but the file has {size:,}: truncated?"
                )
            end = start + nbytes
            tensors.append(TensorInfo(name, shape, gtype, start, nbytes))
        return GGUFInfo(path, version, metadata, tuple(tensors), alignment, data_offset, size, types)
    except InputError:
        raise
    except (struct.error, OverflowError, MemoryError, ValueError) as err:  # belt and braces: still one line
        raise r.fail(f"{type(err).__name__}: {err}") from None


_STRING_TYPE = 8
"""GGUFValueType.STRING."""
LLM_REQUIRED = ("context_length", "embedding_length", "block_count", "attention.head_count")
"""Per-architecture keys every decoder-only llama.cpp architecture reads."""
TOKEN_ID_KEYS = ("bos", "eos", "eot", "eom", "unknown", "separator", "padding", "mask", "cls")


def check_model(info: GGUFInfo) -> None:
    """The language model's metadata: architecture keys, and a vocabulary llama.cpp will not abort on."""
    where = str(info.path)
    arch = info.architecture
    if not arch:
        raise InputError(f"{where}: GGUF has no general.architecture key; not a model file")
    if arch == "clip":
        raise InputError(f"{where}: is a multimodal projector (mmproj), not a language model; pass it as the mmproj")
    missing = [f"{arch}.{k}" for k in LLM_REQUIRED if f"{arch}.{k}" not in info.metadata]
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.tokens"):
        if key not in info.metadata:
            missing.append(key)
    if missing:
        raise InputError(f"{where}: GGUF is missing required key(s) {', '.join(missing)} for architecture {arch!r}")
    for key in LLM_REQUIRED:
        value = info.metadata[f"{arch}.{key}"]
        if not isinstance(value, int) and not (
            isinstance(value, list) and value and all(isinstance(v, int) for v in value)
        ):
            raise InputError(f"{where}: {arch}.{key} must be an integer, got {type(value).__name__}")
    check_vocab(info)
    if not info.tensors:
        raise InputError(f"{where}: GGUF has no tensors (a vocabulary-only file?); it cannot generate text")


def check_vocab(info: GGUFInfo) -> None:
    where = str(info.path)
    meta = info.metadata
    tokens = meta["tokenizer.ggml.tokens"]
    model = meta["tokenizer.ggml.model"]
    if not isinstance(tokens, list) or not tokens or info.types.get("tokenizer.ggml.tokens") != _STRING_TYPE:
        raise InputError(f"{where}: tokenizer.ggml.tokens must be a non-empty array of strings")
    n = len(tokens)
    have = set(tokens)
    if len(have) != n:
        seen: set[str] = set()
        dup = next(t for t in tokens if t in seen or seen.add(t))  # type: ignore[func-returns-value]
        raise InputError(f"{where}: tokenizer.ggml.tokens has duplicate token {dup!r} (llama.cpp would abort)")
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        if key in meta and (not isinstance(meta[key], list) or len(meta[key]) != n):
            got = len(meta[key]) if isinstance(meta[key], list) else type(meta[key]).__name__
            raise InputError(f"{where}: {key} has {got} entries for {n} tokens")
    for name in TOKEN_ID_KEYS:
        key = f"tokenizer.ggml.{name}_token_id"
        if key in meta and (not isinstance(meta[key], int) or not 0 <= meta[key] < n):
            raise InputError(f"{where}: {key} = {meta[key]!r} is not a token id (vocabulary of {n})")
    if model == "llama":  # SentencePiece: llama.cpp looks up byte tokens and aborts when one is missing
        missing = [f"<0x{i:02X}>" for i in range(256) if f"<0x{i:02X}>" not in have]
        if missing:
            raise InputError(
                f"{where}: SentencePiece vocabulary lacks {len(missing)} of the 256 byte tokens "
                f"(e.g. {missing[0]}); llama.cpp would abort"
            )
    elif model == "gpt2" and "tokenizer.ggml.merges" not in meta:
        raise InputError(f"{where}: BPE (gpt2) vocabulary has no tokenizer.ggml.merges")


MMPROJ_REQUIRED = ("clip.vision.image_size", "clip.vision.patch_size", "clip.vision.embedding_length",
                   "clip.vision.block_count", "clip.vision.attention.head_count")  # fmt: skip


def check_mmproj(info: GGUFInfo) -> None:
    where = str(info.path)
    if info.architecture != "clip":
        raise InputError(
            f"{where}: is not a multimodal projector (general.architecture is {info.architecture!r}, expected 'clip')"
        )
    if not info.metadata.get("clip.has_vision_encoder", False):
        raise InputError(f"{where}: mmproj has no vision encoder (clip.has_vision_encoder is not true)")
    if "clip.projector_type" not in info.metadata and "clip.vision.projector_type" not in info.metadata \
            and not info.metadata.get("clip.has_llava_projector"):  # fmt: skip
        raise InputError(f"{where}: mmproj has no clip.projector_type")
    missing = [k for k in MMPROJ_REQUIRED if k not in info.metadata]
    if missing:
        raise InputError(f"{where}: mmproj is missing required key(s) {', '.join(missing)}")
    for key in MMPROJ_REQUIRED:
        if not isinstance(info.metadata[key], int) or info.metadata[key] <= 0:
            raise InputError(f"{where}: {key} must be a positive integer, got {info.metadata[key]!r}")


def projector_width(info: GGUFInfo) -> int | None:
    """The width of the embeddings an mmproj feeds the language model, when its metadata says."""
    value = info.metadata.get("clip.vision.projection_dim")
    return value if isinstance(value, int) else None


def check_pair(model: GGUFInfo, mmproj: GGUFInfo) -> None:
    """An mmproj must produce embeddings as wide as the language model's."""
    n_embd = model.arch_key("embedding_length")
    width = projector_width(mmproj)
    if isinstance(n_embd, int) and width is not None and width != n_embd:
        raise InputError(
            f"{mmproj.path}: this mmproj projects to width {width} but {model.path.name} has embedding_length "
            f"{n_embd}; use the mmproj published with this model"
        )


def peek_context_length(path: Path | str) -> int | None:
    """``{arch}.context_length`` read from the header alone (hyperparameters come before the
    vocabulary in files written by llama.cpp's converters, so this reads a few hundred bytes)."""

    def found(meta: dict[str, Any]) -> bool:
        arch = meta.get("general.architecture")
        return isinstance(arch, str) and f"{arch}.context_length" in meta

    info = read_gguf(path, until=found)
    return info.context_length


def check_gguf(path: Path | str, role: str = "model") -> GGUFInfo:
    """Read and check ``path`` as a language model (role 'model') or a projector ('mmproj')."""
    info = read_gguf(path)
    (check_mmproj if role == "mmproj" else check_model)(info)
    return info
