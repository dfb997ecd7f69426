"""What a user types, end to end through the CLI, on tiny GGUFs served by a local Hub-compatible
server: hf:// names (a file or a pattern) resolved, fetched through huggingface_hub and checked
against the Hub's sha256; zoo run streaming and --json; zoo chat; a VLM with its mmproj; zoo bench
cards with the token probes; every bad input one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from zoo.cli import cli
from zoo_llm.testing import need_llm_extra

need_llm_extra()

LLM = "hf://acme/tiny-llm-GGUF/*F32.gguf"
VLM = "hf://acme/tiny-vlm-GGUF/*-F32.gguf"
PHOTO = str(Path(__file__).resolve().parents[3] / "zoo" / "data" / "images" / "chelsea.jpg")
pytestmark = pytest.mark.usefixtures("fresh_registry")


def zoo(*args: str, input: str | None = None) -> Result:  # noqa: A002
    return CliRunner().invoke(cli, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:  # noqa: A002
    res = zoo(*args, input=input)
    assert res.exit_code == 0, res.output
    return res


def one_line(res: Result, *needles: str) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code != 0 and len(lines) == 1 and lines[0].startswith("zoo: error: "), res.stderr
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_run_streams_then_json(hub: Any) -> None:
    streamed = ok("run", LLM, "why", "is", "the", "sky", "blue?", "--max-tokens", "6", "--temperature", "0",
                  "--threads", "1")  # fmt: skip
    assert "prompt + " in streamed.stderr and "generated tokens" in streamed.stderr  # the stats line, after the text
    out = json.loads(ok("run", LLM, "why is the sky blue?", "--max-tokens", "6", "--temperature", "0", "--json").stdout)
    assert out["model"] == "acme.tiny-llm-gguf" and out["dtype"] == "f32" and out["runtime"] == "llama.cpp"
    assert streamed.stdout.rstrip("\n") == out["text"]  # the stream is the answer
    assert out["completion_tokens"] <= 6 and out["prompt"] == "why is the sky blue?" and out["ttft_ms"] > 0
    assert out["weights"].startswith("hf://acme/tiny-llm-GGUF/tiny-llm-F32.gguf@")
    sys_out = json.loads(ok("run", LLM, "hi", "--system", "be brief", "--max-tokens", "3", "--seed", "7",
                            "--temperature", "0.7", "--json").stdout)  # fmt: skip
    assert sys_out["prompt_tokens"] > out["prompt_tokens"] // 2 and sys_out["completion_tokens"] <= 3
    info = ok("info", "acme.tiny-llm-gguf").stdout  # remembered: found by id
    assert "llama.cpp f32: supported (prebuilt)" in info and "model: hf://acme/tiny-llm-GGUF/tiny-llm-F32.gguf@" in info


def test_chat_keeps_the_conversation(hub: Any) -> None:
    res = ok("chat", LLM, "--max-tokens", "4", "--temperature", "0", "--threads", "1",
             input="hello\n\n/reset\nwhat is blue?\nand red?\n/exit\nnever read\n")  # fmt: skip
    assert res.stderr.count("generated tokens") == 3 and "(new conversation)" in res.stderr
    prompts = [int(line.split("[")[1].split(" ")[0]) for line in res.stderr.splitlines() if "generated tokens" in line]
    assert prompts[2] > prompts[1] + 4  # the third turn carries the second one's question and answer
    bad = zoo("chat", LLM, "--max-tokens", "0")
    one_line(bad, "--max-tokens 0: must be positive")


def test_vlm_answers_about_a_photo(hub: Any, tmp_path: Path) -> None:
    out = json.loads(ok("run", VLM, PHOTO, "what", "is", "this?", "--max-tokens", "4", "--temperature", "0",
                        "--json").stdout)  # fmt: skip
    assert out["model"] == "acme.tiny-vlm-gguf" and out["image_tokens"] == 16 and out["image_encode_ms"] > 0
    drawn = tmp_path / "answer.jpg"
    streamed = ok("run", VLM, PHOTO, "what is this?", "--max-tokens", "4", "--temperature", "0", "-o", str(drawn))
    assert streamed.stdout.strip() == out["text"].strip() and "image encode" in streamed.stderr
    from PIL import Image

    assert Image.open(drawn).size[1] > Image.open(PHOTO).size[1]  # the answer is written under the photo


def test_bench_writes_token_cards(hub: Any, tmp_path: Path) -> None:
    cards_dir = tmp_path / "llm-cards"
    (card,) = json.loads(ok("bench", LLM, "--threads", "1", "--runs", "2", "--cards", str(cards_dir), "--json").stdout)
    result = card["results"][0]
    assert result["primary_probe"] == "tg128" and set(result["measures"]) == {"pp64", "pp512", "tg128", "ttft",
                                                                             "pipeline"}  # fmt: skip
    tg = result["measures"]["tg128"]
    assert tg["unit"] == "token" and tg["items"] == 128 and result["fps"] == pytest.approx(
        128_000 / tg["latency"]["median_ms"], rel=1e-6
    )
    facts = card["extra"]["model_facts"]
    assert (facts["architecture"], facts["file_type"], facts["context_length"]) == ("llama", "f32", 1024)
    assert card["params"] == facts["params"] > 30_000 and card["input_resolution"] == "text, ctx 1024"
    assert card["recipe"] == {} and card["accuracy"] == [] and "no evaluation run" in card["accuracy_reason"]
    assert card["license"] == "apache-2.0" and result["peak_rss_mb"] > 0 and result["load_time_ms"] > 0
    table = ok("table", "--cards", str(cards_dir)).stdout
    assert "FPS column is tokens/s (tg128)" in table and "acme.tiny-llm-gguf" in table
    (readme,) = cards_dir.glob("*/README.md")
    text = readme.read_text()
    assert "**Export**: none" in text and 'zoo run acme.tiny-llm-gguf "Why is the sky blue?"' in text
    assert "pipeline_tag: text-generation" in text and "architecture llama" in text

    (vcard,) = json.loads(ok("bench", VLM, "--threads", "1", "--runs", "2", "--cards", str(cards_dir), "--json").stdout)
    vres = vcard["results"][0]
    assert {"image_encode", "ttft", "tg128", "pipeline"} <= set(vres["measures"]) and vres["primary_probe"] == "tg128"
    assert vcard["extra"]["model_facts"]["projector"] == "mlp" and vcard["input_resolution"].startswith("image 32x32")


def test_bad_input_is_one_line(hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    one_line(zoo("run", "hf://acme/broken-GGUF/broken-F32.gguf", "hi"), "broken-F32.gguf: not a GGUF file")
    one_line(zoo("run", "hf://acme/broken-GGUF/truncated-F32.gguf", "hi"), "truncated")
    one_line(zoo("run", "hf://acme/mismatch-GGUF/model-F32.gguf", PHOTO, "what?"), "width 48", "embedding_length 32")
    one_line(zoo("run", LLM, "sky " * 1500, "--max-tokens", "2"), "context of 1024 tokens", "shorten the prompt")
    one_line(zoo("run", "hf://acme/broken-GGUF/*.gguf", "hi"), "matches 2 files")
    one_line(zoo("run", "hf://acme/tiny-llm-GGUF/*Q4_K_M.gguf", "hi"), "matches no model GGUF", "tiny-llm-F32.gguf")
    one_line(zoo("run", "hf://acme/nothing-GGUF/x.gguf", "hi"), "could not list")
    one_line(zoo("run", "smolvlm", PHOTO, "what?"), "SmolVLM-256M-Instruct")  # the real one: not reachable here
    one_line(zoo("chat", "resnet18"), "does not chat")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if the llm extra were not installed
    one_line(zoo("run", LLM, "hi"), "install the llm extra: pip install 'zoo[llm]'")
