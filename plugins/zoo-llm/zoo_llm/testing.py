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
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""A zephyr-like template: the tests check that llama.cpp's tokens of the rendered prompt match it."""

WORDS = (
    "the", "a", "sky", "is", "blue", "why", "light", "sun", "red", "green", "cat", "dog", "on",
    "in", "of", "and", "to", "it", "what", "picture", "hello", "world", "tiny", "model",
)  # fmt: skip

TINY_DIMS = {"n_embd": 32, "n_head": 4, "n_head_kv": 2, "n_ff": 64, "n_layer": 2, "n_ctx": 256}


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
