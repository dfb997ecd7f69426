"""The strict GGUF reader against the gguf package's own reader, and one clear line per bad file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import InputError
from zoo_llm.gguf_check import (
    Limits,
    check_gguf,
    check_pair,
    file_type_name,
    peek_context_length,
    read_gguf,
)
from zoo_llm.testing import TINY_DIMS, write_tiny_llama, write_tiny_mmproj


def one_line(err: pytest.ExceptionInfo[InputError], path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


@pytest.mark.parametrize("which", ["model", "mmproj"])
def test_reader_agrees_with_gguf_reader(which: str, tiny_gguf: Path, tiny_mmproj: Path) -> None:
    from gguf import GGUFReader, GGUFValueType

    path = tiny_gguf if which == "model" else tiny_mmproj
    ours = read_gguf(path)
    ref = GGUFReader(path)
    assert [t.name for t in ours.tensors] == [t.name for t in ref.tensors]
    for mine, theirs in zip(ours.tensors, ref.tensors, strict=True):
        assert mine.shape == tuple(int(d) for d in theirs.shape)
        assert (mine.ggml_type, mine.offset, mine.nbytes) == (int(theirs.tensor_type), int(theirs.data_offset),
                                                              int(theirs.n_bytes))  # fmt: skip
    for key, field in ref.fields.items():
        if key.startswith("GGUF."):
            continue
        value = field.contents()
        assert key in ours.metadata
        if isinstance(value, float) or (isinstance(value, list) and value and isinstance(value[0], float)):
            np.testing.assert_allclose(ours.metadata[key], value, rtol=1e-6)
        else:
            assert ours.metadata[key] == value, key
        main_type = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else field.types[0]
        assert ours.types[key] == int(main_type)


def test_model_facts(tiny_gguf: Path) -> None:
    info = check_gguf(tiny_gguf)
    assert info.architecture == "llama" and info.file_type == "f32"
    assert info.context_length == TINY_DIMS["n_ctx"] == peek_context_length(tiny_gguf)
    assert info.n_params == sum(t.n_elements for t in info.tensors) > 30_000
    assert file_type_name(15) == "q4_k_m" and file_type_name(7) == "q8_0" and file_type_name(1) == "f16"


def test_string_type_constant_matches_gguf() -> None:
    from gguf import GGUFValueType

    from zoo_llm import gguf_check

    assert gguf_check._STRING_TYPE == GGUFValueType.STRING


def test_not_a_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(InputError) as err:
        check_gguf(path)
    assert "not a GGUF file" in one_line(err, path)
    tiny = tmp_path / "tiny.gguf"
    tiny.write_bytes(b"GGUF")
    with pytest.raises(InputError, match="a GGUF header alone is 24"):
        check_gguf(tiny)
    with pytest.raises(InputError, match="no such file"):
        check_gguf(tmp_path / "missing.gguf")


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.9, 0.999])
def test_truncated(fraction: float, tiny_gguf: Path, tmp_path: Path) -> None:
    data = tiny_gguf.read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError) as err:
        check_gguf(path)
    assert "truncated" in one_line(err, path) or "past the end" in str(err.value)


def _patch(src: Path, dst: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(src.read_bytes())
    struct.pack_into("<" + fmt, data, offset, value)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "expect"),
    [
        (4, "I", 1, "version 1"),
        (4, "I", 99, "version 99"),
        (8, "Q", 1 << 40, "tensor count"),
        (16, "Q", 1 << 40, "metadata count"),
        (24, "Q", 1 << 60, "claims"),  # length of the first key
    ],
)
def test_hostile_header_fields(offset: int, fmt: str, value: int, expect: str, tiny_gguf: Path, tmp_path: Path) -> None:
    path = _patch(tiny_gguf, tmp_path / "bad.gguf", offset, fmt, value)
    with pytest.raises(InputError) as err:
        check_gguf(path)
    assert expect in one_line(err, path)


def test_huge_array_is_refused_before_allocation(tiny_gguf: Path, tmp_path: Path) -> None:
    info = read_gguf(tiny_gguf)
    data = tiny_gguf.read_bytes()
    # the tokens array: key, type 9 (array), element type 8 (string), then the u64 count
    key = b"tokenizer.ggml.tokens"
    at = data.index(key) + len(key) + 4 + 4
    assert struct.unpack_from("<Q", data, at)[0] == len(info.metadata["tokenizer.ggml.tokens"])
    for count, expect in [(1 << 40, "limit"), (Limits().max_array, "more than the file can hold")]:
        path = _patch(tiny_gguf, tmp_path / f"arr{count}.gguf", at, "Q", count)
        with pytest.raises(InputError) as err:
            check_gguf(path)
        assert expect in one_line(err, path)


def test_tensor_outside_the_file(tiny_gguf: Path, tmp_path: Path) -> None:
    info = read_gguf(tiny_gguf)
    data = tiny_gguf.read_bytes()
    last = info.tensors[-1]
    # the offset field of the last tensor info is the 8 bytes just before the data section padding
    name = last.name.encode()
    at = data.index(name) + len(name) + 4 + 8 * len(last.shape) + 4
    path = _patch(tiny_gguf, tmp_path / "far.gguf", at, "Q", (last.offset - info.data_offset) + (1 << 20))
    with pytest.raises(InputError) as err:
        check_gguf(path)
    assert last.name in one_line(err, path) and "truncated" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "expect"),
    [
        ({"duplicate_token": True}, "duplicate token"),
        ({"byte_tokens": False}, "lacks 256 of the 256 byte tokens"),
        ({"omit_keys": ("llama.block_count",)}, "missing required key(s) llama.block_count"),
        ({"omit_keys": ("tokenizer.ggml.tokens",)}, "tokenizer.ggml.tokens"),
    ],
)
def test_vocabularies_llama_cpp_would_abort_on(kwargs: dict, expect: str, tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "bad.gguf", **kwargs)
    with pytest.raises(InputError) as err:
        check_gguf(path)
    assert expect in one_line(err, path)


def test_token_id_out_of_range(tiny_gguf: Path, tmp_path: Path) -> None:
    data = tiny_gguf.read_bytes()
    key = b"tokenizer.ggml.eos_token_id"
    path = _patch(tiny_gguf, tmp_path / "eos.gguf", data.index(key) + len(key) + 4, "I", 10_000)
    with pytest.raises(InputError) as err:
        check_gguf(path)
    assert "eos_token_id = 10000 is not a token id" in one_line(err, path)


def test_roles_and_pairs(tiny_gguf: Path, tiny_mmproj: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a multimodal projector"):
        check_gguf(tiny_mmproj, "model")
    with pytest.raises(InputError, match="is not a multimodal projector"):
        check_gguf(tiny_gguf, "mmproj")
    check_pair(check_gguf(tiny_gguf), check_gguf(tiny_mmproj, "mmproj"))
    wide = write_tiny_mmproj(tmp_path / "wide.gguf", text_n_embd=48)
    with pytest.raises(InputError) as err:
        check_pair(check_gguf(tiny_gguf), check_gguf(wide, "mmproj"))
    assert "projects to width 48" in one_line(err, wide) and "embedding_length 32" in str(err.value)
