"""The llama.cpp runtime and session on the tiny random GGUF: loading (checks, probe in a child,
trust record), streaming, timings, the chat template, context limits, vision, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import ConfigError, InputError
from zoo_llm.testing import TINY_DIMS, need_llm_extra, write_tiny_llama, write_tiny_mmproj

need_llm_extra()

from zoo.results.text import Generation  # noqa: E402
from zoo_llm import probe  # noqa: E402
from zoo_llm.runtime import LlamaCppRuntime, LlamaSession  # noqa: E402


@pytest.fixture
def session(tiny_gguf: Path) -> LlamaSession:
    s = LlamaSession(tiny_gguf, threads=1, seed=0)
    yield s
    s.close()


def test_runtime_object() -> None:
    rt = LlamaCppRuntime()
    assert (rt.name, rt.formats, rt.extra) == ("llama.cpp", ("gguf",), "llm")
    assert rt.unavailable_reason() is None and rt.version() == "0.3.36"
    assert rt.options_for("q4_k_m") == rt.options_for("f16") and rt.options_for("q8_0")["n_ctx_max"] == 4096
    with pytest.raises(ConfigError, match="cannot load 'ncnn'"):
        rt.check("ncnn", {"model": Path("x")})
    with pytest.raises(ConfigError, match="needs a 'model'"):
        rt.check("gguf", {"mmproj": Path("x")})


def test_load_probes_untrusted_files_once(tiny_gguf: Path, private_cache: Path) -> None:
    rt = LlamaCppRuntime()
    sha = probe.file_sha256(tiny_gguf)
    assert not probe.is_trusted([sha])
    s = rt.load("gguf", {"model": tiny_gguf}, threads=1, options=rt.options_for("f32"))
    s.close()
    assert probe.is_trusted([sha])
    record = json.loads((private_cache / "llm" / "probed.json").read_text())
    assert any(key.startswith(sha) and key.endswith("@0.3.36") for key in record["trusted"])
    assert probe.ensure_safe(tiny_gguf) is False  # trusted now: no second probe


def test_session_facts(session: LlamaSession) -> None:
    assert session.architecture == "llama" and session.file_type == "f32"
    assert session.n_ctx == session.n_ctx_train == TINY_DIMS["n_ctx"]
    assert session.n_params > 30_000 and session.size_bytes > 0 and session.load_ms > 0
    assert session.chat_template is not None and not session.has_vision


def test_n_ctx_is_capped_at_the_option(tiny_gguf: Path) -> None:
    with LlamaSession(tiny_gguf, threads=1, n_ctx_max=512) as s:  # llama.cpp pads n_ctx to a multiple of 256
        assert s.n_ctx == 512 and s.n_ctx_train == TINY_DIMS["n_ctx"]


def test_streaming_yields_the_text_and_counts(session: LlamaSession) -> None:
    stream = session.generate("why is the sky blue?", max_tokens=12, temperature=0.0, ignore_eos=True)
    pieces = list(stream)
    gen = stream.result
    assert isinstance(gen, Generation) and len(pieces) >= 1
    assert "".join(pieces) == gen.text
    assert gen.completion_tokens == 12 and gen.stop_reason == "length"
    assert gen.prompt_tokens == len(session.tokenize("why is the sky blue?")) == gen.prompt_evaluated
    assert 0 < gen.ttft_ms <= gen.total_ms and gen.prompt_eval_ms > 0 and gen.generation_ms > 0
    assert gen.prompt_tokens_per_s and gen.generation_tokens_per_s
    json.dumps(gen.to_dict())
    assert "12 generated tokens (length)" in gen.summary()


def test_greedy_is_deterministic_and_seeds_reproduce(session: LlamaSession) -> None:
    a = session.generate("hello", max_tokens=10, temperature=0.0, ignore_eos=True, stream=False)
    b = session.generate("hello", max_tokens=10, temperature=0.0, ignore_eos=True, stream=False)
    assert a.text == b.text
    c = session.generate("hello", max_tokens=10, temperature=1.5, seed=7, ignore_eos=True, stream=False)
    d = session.generate("hello", max_tokens=10, temperature=1.5, seed=7, ignore_eos=True, stream=False)
    assert c.text == d.text


def test_chat_uses_the_models_template(session: LlamaSession) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    text = session.render_chat(messages)
    assert text == "<s><|system|>\nbe brief</s>\n<|user|>\nhello</s>\n<|assistant|>\n"
    tokens = session.tokenize(text, add_special=False, parse_special=True)
    assert tokens[0] == session.bos_token and tokens[1] == 5  # <|system|> is one control token
    gen = session.generate(messages, max_tokens=4, temperature=0.0, ignore_eos=True, stream=False)
    assert gen.prompt_tokens == len(tokens)
    # the next turn reuses the cached prefix: llama.cpp evaluates only the new tokens
    more = [*messages, {"role": "assistant", "content": gen.text}, {"role": "user", "content": "and then?"}]
    nxt = session.generate(more, max_tokens=4, temperature=0.0, ignore_eos=True, stream=False)
    assert nxt.prompt_evaluated < nxt.prompt_tokens


def test_no_template_is_one_line(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "plain.gguf", chat_template=None)
    with LlamaSession(path, threads=1) as s:
        assert s.chat_template is None
        with pytest.raises(InputError, match="has no chat template"):
            s.generate([{"role": "user", "content": "hi"}], stream=False)
        fallback = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        gen = s.generate([{"role": "user", "content": "hi"}], chat_template=fallback, max_tokens=2, stream=False)
        assert gen.prompt_tokens == len(
            s.tokenize("hi", add_special=False, parse_special=True)
        )  # no BOS: the template has none


def test_prompt_longer_than_the_context_is_refused(tiny_gguf: Path) -> None:
    with LlamaSession(tiny_gguf, threads=1, n_ctx=256) as s:
        with pytest.raises(InputError) as err:
            s.generate("a " * 300, stream=False)
        msg = str(err.value)
        assert "\n" not in msg and "context of 256 tokens" in msg and "up to 1024" in msg


def test_generation_stops_at_the_context(tiny_gguf: Path) -> None:
    with LlamaSession(tiny_gguf, threads=1, n_ctx=256) as s:
        gen = s.generate("hello", max_tokens=400, temperature=0.0, ignore_eos=True, stream=False)
        assert gen.stop_reason == "context" and gen.prompt_tokens + gen.completion_tokens == 256


def test_stop_strings_cut_the_text(session: LlamaSession) -> None:
    full = session.generate("the sky", max_tokens=24, temperature=0.0, ignore_eos=True, stream=False)
    stop = full.text[5:7]
    assert len(stop) == 2
    cut = session.generate("the sky", max_tokens=24, temperature=0.0, ignore_eos=True, stop=[stop], stream=False)
    assert cut.stop_reason == "stop" and cut.text == full.text[: full.text.index(stop)]


def test_closing_a_stream_early(session: LlamaSession) -> None:
    stream = session.generate("hello", max_tokens=50, temperature=0.0, ignore_eos=True)
    next(iter(stream))
    stream.close()
    gen = session.generate("hello", max_tokens=3, temperature=0.0, ignore_eos=True, stream=False)
    assert gen.completion_tokens == 3


def test_pp_eval_from_an_empty_cache(session: LlamaSession) -> None:
    ms = session.eval_tokens(list(range(3, 300)))
    assert ms > 0
    with pytest.raises(InputError, match="do not fit the context"):
        session.eval_tokens([5] * 2000)
    # llama.cpp books a decode's time at the next synchronize: the 297 tokens above must not be
    # counted in the next generation's prompt (they were, before _perf_reset synchronized first)
    gen = session.generate("why is the sky blue?", max_tokens=4, temperature=0.0, ignore_eos=True, stream=False)
    n_prompt = len(session.tokenize("why is the sky blue?"))
    assert gen.prompt_evaluated == n_prompt and gen.prompt_eval_ms <= gen.ttft_ms
    assert gen.prompt_eval_ms + gen.generation_ms <= gen.total_ms * 1.01


def test_vision_answers_about_an_image(tiny_gguf: Path, tiny_mmproj: Path) -> None:
    image = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    with LlamaSession(tiny_gguf, threads=1, mmproj=tiny_mmproj, seed=0) as s:
        assert s.has_vision
        gen = s.generate("what is in the picture?", image=image, max_tokens=6, temperature=0.0, ignore_eos=True,
                         stream=False)  # fmt: skip
        assert gen.image_tokens == 16 and gen.image_encode_ms is not None and gen.image_encode_ms > 0
        assert gen.prompt_tokens > gen.image_tokens and gen.completion_tokens == 6
        assert s.encode_image(image) > 0
        drawn = gen.draw(image)
        assert drawn.shape[1] == 50 and drawn.shape[0] > 40 and drawn.dtype == np.uint8
        # text-only generation still works on a VLM session, from a clean cache
        assert s.generate("hello", max_tokens=2, stream=False).completion_tokens >= 1


def test_image_without_mmproj_is_one_line(session: LlamaSession) -> None:
    with pytest.raises(InputError, match="loaded without an mmproj"):
        session.generate("x", image=np.zeros((8, 8, 3), np.uint8), stream=False)


def test_mismatched_mmproj_is_one_line(tiny_gguf: Path, tmp_path: Path) -> None:
    wide = write_tiny_mmproj(tmp_path / "wide.gguf", text_n_embd=48)
    rt = LlamaCppRuntime()
    with pytest.raises(InputError) as err:  # the header check names both widths
        rt.load("gguf", {"model": tiny_gguf, "mmproj": wide}, threads=1, options=rt.options_for("f32"))
    assert "\n" not in str(err.value) and "width 48" in str(err.value)
    with pytest.raises(InputError) as err:  # and llama.cpp's own reason when loaded directly
        LlamaSession(tiny_gguf, threads=1, mmproj=wide)
    assert "\n" not in str(err.value) and "mismatch between text model (n_embd = 32) and mmproj (n_embd = 48)" in str(
        err.value
    )


def test_bad_files_through_the_runtime_are_one_line(tmp_path: Path) -> None:
    rt = LlamaCppRuntime()
    dup = write_tiny_llama(tmp_path / "dup.gguf", duplicate_token=True)
    with pytest.raises(InputError, match="duplicate token"):
        rt.load("gguf", {"model": dup}, threads=1, options=rt.options_for("f32"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"hello world, not a model" * 10)
    with pytest.raises(InputError, match="not a GGUF file"):
        rt.load("gguf", {"model": junk}, threads=1, options=rt.options_for("f32"))


def test_probe_turns_an_abort_into_one_line(tmp_path: Path) -> None:
    """What the header checks exist for, seen without them: llama.cpp aborts the child."""
    dup = write_tiny_llama(tmp_path / "dup.gguf", duplicate_token=True)
    with pytest.raises(InputError) as err:
        probe.probe_load(dup)
    msg = str(err.value)
    assert "\n" not in msg and "SIGABRT" in msg and "GGML_ASSERT" in msg
    nobytes = write_tiny_llama(tmp_path / "nobytes.gguf", byte_tokens=False)
    with pytest.raises(InputError, match="SIGABRT"):
        probe.probe_load(nobytes)
    assert not probe.is_trusted([probe.file_sha256(dup)])


def test_close_is_idempotent(tiny_gguf: Path) -> None:
    s = LlamaSession(tiny_gguf, threads=1)
    s.close()
    s.close()
