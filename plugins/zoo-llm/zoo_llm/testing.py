"""Tiny GGUF files for tests, written with the ``gguf`` package: a random 2-layer llama with a real
SentencePiece-style vocabulary (the 256 byte tokens, control tokens, a few word pieces) and a chat
template, and a tiny CLIP projector (``mmproj``, llava-style ``mlp``) that fits it.

Random weights, seeded: the files load and generate in llama.cpp in milliseconds, so the runtime,
streaming, the chat template, bench probes and cards are tested without the real model. The text a
random model writes is noise; tests assert on structure (counts, timings, stop reasons), never on text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}</s>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""A zephyr-like template that takes string or parts content (as VLM templates do)."""

WORDS = (
    "the", "a", "sky", "is", "blue", "why", "light", "sun", "red", "green", "cat", "dog", "on",
    "in", "of", "and", "to", "it", "what", "picture", "hello", "world", "tiny", "model",
)  # fmt: skip

TINY_DIMS = {"n_embd": 32, "n_head": 4, "n_head_kv": 2, "n_ff": 64, "n_layer": 2, "n_ctx": 1024}


def tiny_vocab(*, byte_tokens: bool = True, duplicate: bool = False) -> tuple[list[str], list[float], list[int]]:
    """(tokens, scores, token types) of a SentencePiece ('llama') vocabulary.

    ``byte_tokens=False`` drops the 256 ``<0xXX>`` tokens and ``duplicate=True`` repeats a word:
    both make llama.cpp abort (SIGABRT), which the checks in ``gguf_check`` must catch first.
    """
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL,
             TokenType.CONTROL]  # fmt: skip
    if byte_tokens:
        tokens += [f"<0x{i:02X}>" for i in range(256)]
        types += [TokenType.BYTE] * 256
    pieces = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["▁" + w for w in WORDS] + list("?.,!")
    if duplicate:
        pieces.append(pieces[-1])
    tokens += pieces
    types += [TokenType.NORMAL] * len(pieces)
    # SentencePiece merges by score: longer pieces score higher so words tokenize as one piece.
    scores = [0.0] * (len(tokens) - len(pieces)) + [-10.0 + len(p) for p in pieces]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama(
    path: Path | str,
    *,
    seed: int = 0,
    chat_template: str | None = CHAT_TEMPLATE,
    byte_tokens: bool = True,
    duplicate_token: bool = False,
    n_ctx: int = TINY_DIMS["n_ctx"],
    omit_keys: Sequence[str] = (),
    name: str = "tiny-llama",
) -> Path:
    """Write a random 2-layer llama GGUF (f32, about 150 kB) and return its path."""
    from gguf import GGUFWriter, LlamaFileType

    path = Path(path)
    d = TINY_DIMS
    n_embd, n_head, n_head_kv, n_ff = d["n_embd"], d["n_head"], d["n_head_kv"], d["n_ff"]
    head_dim = n_embd // n_head
    tokens, scores, types = tiny_vocab(byte_tokens=byte_tokens, duplicate=duplicate_token)
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = GGUFWriter(path, "llama")
    w.add_name(name)
    w.add_license("apache-2.0")
    w.add_file_type(LlamaFileType.ALL_F32)
    kv: dict[str, tuple[str, object]] = {
        "llama.context_length": ("u32", n_ctx),
        "llama.embedding_length": ("u32", n_embd),
        "llama.block_count": ("u32", d["n_layer"]),
        "llama.feed_forward_length": ("u32", n_ff),
        "llama.attention.head_count": ("u32", n_head),
        "llama.attention.head_count_kv": ("u32", n_head_kv),
        "llama.rope.dimension_count": ("u32", head_dim),
        "llama.attention.layer_norm_rms_epsilon": ("f32", 1e-5),
        "llama.vocab_size": ("u32", n_vocab),
        "tokenizer.ggml.model": ("str", "llama"),
        "tokenizer.ggml.bos_token_id": ("u32", 1),
        "tokenizer.ggml.eos_token_id": ("u32", 2),
        "tokenizer.ggml.unknown_token_id": ("u32", 0),
        "tokenizer.ggml.add_bos_token": ("bool", True),
        "tokenizer.ggml.add_eos_token": ("bool", False),
    }
    for key, (kind, value) in kv.items():
        if key in omit_keys:
            continue
        {"u32": w.add_uint32, "f32": w.add_float32, "str": w.add_string, "bool": w.add_bool}[kind](key, value)  # type: ignore[operator]
    if "tokenizer.ggml.tokens" not in omit_keys:
        w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    if chat_template is not None:
        w.add_chat_template(chat_template)

    w.add_tensor("token_embd.weight", rand(n_vocab, n_embd, scale=1.0))
    w.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
    w.add_tensor("output.weight", rand(n_vocab, n_embd, scale=0.5))
    for i in range(d["n_layer"]):
        b = f"blk.{i}"
        w.add_tensor(f"{b}.attn_norm.weight", np.ones(n_embd, np.float32))
        w.add_tensor(f"{b}.attn_q.weight", rand(n_head * head_dim, n_embd))
        w.add_tensor(f"{b}.attn_k.weight", rand(n_head_kv * head_dim, n_embd))
        w.add_tensor(f"{b}.attn_v.weight", rand(n_head_kv * head_dim, n_embd))
        w.add_tensor(f"{b}.attn_output.weight", rand(n_embd, n_head * head_dim))
        w.add_tensor(f"{b}.ffn_norm.weight", np.ones(n_embd, np.float32))
        w.add_tensor(f"{b}.ffn_gate.weight", rand(n_ff, n_embd))
        w.add_tensor(f"{b}.ffn_up.weight", rand(n_ff, n_embd))
        w.add_tensor(f"{b}.ffn_down.weight", rand(n_embd, n_ff))
    _finish(w)
    return path


MMPROJ_DIMS = {"image_size": 32, "patch_size": 8, "n_embd": 32, "n_ff": 64, "n_head": 4, "n_layer": 2, "hidden": 48}


def write_tiny_mmproj(path: Path | str, *, seed: int = 1, text_n_embd: int = TINY_DIMS["n_embd"]) -> Path:
    """Write a random llava-style CLIP projector (``clip.projector_type = "mlp"``) whose output width
    is ``text_n_embd`` (pass another width to make an mmproj that does not fit the model)."""
    from gguf import GGUFWriter

    path = Path(path)
    d = MMPROJ_DIMS
    n_embd, n_ff, patch, size = d["n_embd"], d["n_ff"], d["patch_size"], d["image_size"]
    n_pos = (size // patch) ** 2 + 1  # patches + the class embedding
    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = GGUFWriter(path, "clip")
    w.add_name("tiny-mmproj")
    w.add_type("mmproj")
    w.add_clip_has_vision_encoder(True)
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool("clip.has_llava_projector", True)
    w.add_clip_projector_type("mlp")
    w.add_vision_image_size(size)
    w.add_vision_patch_size(patch)
    w.add_vision_embedding_length(n_embd)
    w.add_vision_feed_forward_length(n_ff)
    w.add_vision_projection_dim(text_n_embd)
    w.add_vision_block_count(d["n_layer"])
    w.add_vision_head_count(d["n_head"])
    w.add_vision_attention_layernorm_eps(1e-5)
    w.add_vision_image_mean([0.48145466, 0.4578275, 0.40821073])
    w.add_vision_image_std([0.26862954, 0.26130258, 0.27577711])
    w.add_vision_use_gelu(True)

    w.add_tensor("v.patch_embd.weight", rand(n_embd, 3, patch, patch))
    w.add_tensor("v.class_embd", rand(n_embd))
    w.add_tensor("v.position_embd.weight", rand(n_pos, n_embd))
    w.add_tensor("v.pre_ln.weight", np.ones(n_embd, np.float32))
    w.add_tensor("v.pre_ln.bias", np.zeros(n_embd, np.float32))
    for i in range(d["n_layer"]):
        b = f"v.blk.{i}"
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.add_tensor(f"{b}.{name}.weight", rand(n_embd, n_embd))
            w.add_tensor(f"{b}.{name}.bias", np.zeros(n_embd, np.float32))
        for name in ("ln1", "ln2"):
            w.add_tensor(f"{b}.{name}.weight", np.ones(n_embd, np.float32))
            w.add_tensor(f"{b}.{name}.bias", np.zeros(n_embd, np.float32))
        w.add_tensor(f"{b}.ffn_up.weight", rand(n_ff, n_embd))
        w.add_tensor(f"{b}.ffn_up.bias", np.zeros(n_ff, np.float32))
        w.add_tensor(f"{b}.ffn_down.weight", rand(n_embd, n_ff))
        w.add_tensor(f"{b}.ffn_down.bias", np.zeros(n_embd, np.float32))
    w.add_tensor("mm.0.weight", rand(d["hidden"], n_embd))
    w.add_tensor("mm.0.bias", np.zeros(d["hidden"], np.float32))
    w.add_tensor("mm.2.weight", rand(text_n_embd, d["hidden"]))
    w.add_tensor("mm.2.bias", np.zeros(text_n_embd, np.float32))
    _finish(w)
    return path


def _finish(w: object) -> None:
    w.write_header_to_file()  # type: ignore[attr-defined]
    w.write_kv_data_to_file()  # type: ignore[attr-defined]
    w.write_tensors_to_file()  # type: ignore[attr-defined]
    w.close()  # type: ignore[attr-defined]


# -- fuzzing ------------------------------------------------------------------------------------------
MUTATIONS = ("truncate", "flip-header", "flip-data", "field", "dup-token", "byte-token", "tensor-type", "tensor-dim")


def mutate(data: bytes, seed: int) -> tuple[bytes, str]:
    """A mutated copy of a GGUF file and what was done to it (deterministic in ``seed``).

    Mutations aim where parsers break: the header and metadata (flipped bytes, extreme counts and
    lengths), the tensor table (types, dimensions), the vocabulary (a duplicate token, a broken byte
    token), truncation, and the weights (which llama.cpp should simply load)."""
    import struct

    from zoo_llm.gguf_check import read_gguf

    rng = np.random.default_rng(seed)
    out = bytearray(data)
    kind = MUTATIONS[seed % len(MUTATIONS)]
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".gguf") as fh:
        fh.write(data)
        fh.flush()
        info = read_gguf(fh.name)
    header_end = info.data_offset
    if kind == "truncate":
        cut = int(rng.integers(0, len(data)))
        return bytes(out[:cut]), f"truncate at {cut}"
    if kind in ("flip-header", "flip-data"):
        lo, hi = (0, header_end) if kind == "flip-header" else (header_end, len(data))
        where = rng.integers(lo, hi, size=int(rng.integers(1, 9)))
        for i in where:
            out[int(i)] ^= int(rng.integers(1, 256))
        return bytes(out), f"{kind} at {sorted(int(i) for i in where)}"
    if kind == "field":
        at = int(rng.integers(4, header_end - 8))
        value = int(rng.choice([0, 1, 0xFFFFFFFF, 1 << 31, 1 << 62, (1 << 64) - 1, 13, 1 << 20]))
        fmt = "<Q" if value > 0xFFFFFFFF or rng.random() < 0.5 else "<I"
        struct.pack_into(fmt, out, at, value & ((1 << (64 if fmt == "<Q" else 32)) - 1))
        return bytes(out), f"field {fmt} at {at} = {value}"
    if kind in ("dup-token", "byte-token"):
        tokens = info.metadata["tokenizer.ggml.tokens"]
        if kind == "dup-token":
            by_len: dict[int, list[str]] = {}
            for t in tokens:
                by_len.setdefault(len(t.encode()), []).append(t)
            group = [g for g in by_len.values() if len(g) > 1][int(rng.integers(0, 3))]
            a, b = group[int(rng.integers(0, len(group)))], group[0]
            a, b = (a, group[1]) if a == b else (a, b)
            src, dst = b.encode(), a.encode()
        else:
            byte = int(rng.integers(0, 256))
            src, dst = f"<0x{byte:02X}>".encode(), f"<0y{byte:02X}>".encode()
        at = data.index(len(src).to_bytes(8, "little") + src)
        out[at + 8 : at + 8 + len(src)] = dst
        return bytes(out), f"{kind} {src!r} -> {dst!r}"
    t = info.tensors[int(rng.integers(0, len(info.tensors)))]
    name = t.name.encode()
    at = data.index(len(name).to_bytes(8, "little") + name) + 8 + len(name)
    if kind == "tensor-type":
        value = int(rng.choice([2, 8, 12, 30, 99, 0xFFFF]))
        struct.pack_into("<I", out, at + 4 + 8 * len(t.shape), value)
        return bytes(out), f"tensor-type {t.name} = {value}"
    dim = int(rng.integers(0, len(t.shape)))
    value = int(rng.choice([0, 1, t.shape[dim] * 2, t.shape[dim] + 32, 1 << 40]))
    struct.pack_into("<Q", out, at + 4 + 8 * dim, value)
    return bytes(out), f"tensor-dim {t.name}[{dim}] = {value}"


def fuzz_case(path: str) -> int:
    """One fuzz case as a user meets it: load through the runtime (checks, probe in a child) and
    generate four tokens. Prints 'ok' (exit 0) or the one error line zoo shows (exit 1); anything
    else — a traceback, a signal, a hang — is a failure of the test."""
    import sys

    from zoo.errors import ZooError
    from zoo_llm.runtime import LlamaCppRuntime

    rt = LlamaCppRuntime()
    try:
        with rt.load("gguf", {"model": Path(path)}, threads=1, options=rt.options_for("f32")) as session:
            session.generate("hello", max_tokens=4, temperature=0.0, ignore_eos=True, stream=False)
    except ZooError as err:
        print(str(err), file=sys.stderr)
        return 1
    print("ok")
    return 0


def need_llm_extra(module: str = "llama_cpp") -> None:
    """In a test module: skip it (with the reason) when the llm extra is not installed — except
    where ``ZOO_REQUIRE_EXTRAS`` names 'llm' (``make test`` and CI set it): there a missing extra
    is an error, so the suite can never pass by skipping what it should test."""
    import importlib
    import os

    import pytest

    try:
        importlib.import_module(module)
    except ImportError:
        if "llm" in os.environ.get("ZOO_REQUIRE_EXTRAS", "").split(","):
            raise
        pytest.skip(f"{module} comes with the llm extra: pip install 'zoo[llm]'", allow_module_level=True)
