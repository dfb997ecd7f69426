"""A third-party text task on a prebuilt artifact, through the CLI, with no llama.cpp: an
artifact-only model runs in its first artifact precision (no fp32 assumed); a predictor that offers
``stream`` is printed as it streams (the result's stats line after it) and ``chat`` drives
``zoo chat`` with the options meant for chat; the task's primary probe (and a probe's own run
count) gives the card's latency and FPS; the runtime's ``describe`` fills the card; ``zoo info``
lists the artifact's files."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo.cli import cli

PLUGIN = '''
"""zoo-echo: a 'model' that answers with the prompt's words reversed, one word per step."""

import time
from dataclasses import dataclass
from pathlib import Path

from zoo import hookimpl
from zoo.specs import ArtifactRef, ComponentSpec, ModelSpec, WeightsRef
from zoo.tasks import Predictor, Probe, TaskDef, TaskOption


@dataclass(frozen=True)
class Echo:
    text: str
    steps: int

    def to_dict(self):
        return {"text": self.text, "steps": self.steps}

    def summary(self):
        return self.text + "\\n[" + self.stats() + "]"

    def stats(self):
        return f"{self.steps} steps"

    def draw(self, image):
        return image


class EchoSession:
    def __init__(self, path):
        self.prefix = Path(path).read_text().strip()

    def close(self):
        pass


class EchoRuntime:
    name, formats, extra = "echo", ("txt",), "echo"

    def unavailable_reason(self):
        return None

    def version(self):
        return "1.0"

    def options_for(self, precision):
        return {}

    def check(self, fmt, files):
        if not Path(files["model"]).read_text().startswith("echo"):
            raise ValueError("not an echo model")

    def describe(self, fmt, files):
        return {"params": 7, "input": "text, ctx 16", "architecture": "echo"}

    def load(self, fmt, files, *, threads, options, outputs=(), inputs=()):
        return EchoSession(files["model"])


class Stream:
    def __init__(self, words, limit):
        self.words, self.limit, self.result = words, limit, None

    def __iter__(self):
        out = []
        for word in self.words[: self.limit]:
            out.append(word)
            yield word + " "
        self.result = Echo(" ".join(out), len(out))


class EchoPredictor(Predictor):
    def _words(self, text):
        return [self.sessions["model"].prefix, *reversed(text.split())]

    def stream(self, item, **options):
        opts = self.task.resolve_options(options)
        return Stream(self._words(item), opts["max_words"])

    def chat(self, messages, **options):
        opts = self.task.resolve_options(options)
        seen = " ".join(m["content"] for m in messages if m["role"] == "user")
        return Stream(self._words(seen + (" " + opts["system"] if opts["system"] else "")), opts["max_words"])

    def predict(self, item, options):
        words = self._words(item)[: options["max_words"]]
        return Echo(" ".join(words), len(words))


def probes(predictor, item):
    return [Probe("model", lambda: predictor(item), "one answer"),
            Probe("words", lambda: time.sleep(0.002) or predictor(item), "ten words", items=10, unit="word", runs=4)]


@hookimpl
def register_runtimes(register):
    register(EchoRuntime())


@hookimpl
def register_tasks(register):
    register(TaskDef(
        name="echo", description="echoes text", result_type=Echo, default_metric="none",
        agreement=lambda r, c: {}, predictor=EchoPredictor, input="text", bench_probes=probes,
        primary_probe="words", parity_items=lambda spec: ["the quick brown fox"],
        options=(TaskOption("max_words", int, 8, "most words", ("run", "chat")),
                 TaskOption("system", str, None, "a system word", ("chat",))),
    ))


@hookimpl
def register_models(register):
    ref = WeightsRef(uri="{uri}", sha256="{sha}", format="txt", license="mit", size=5)
    register(ModelSpec(id="echo-s", task="echo", components={{"model": ComponentSpec()}}, runtime="echo",
                       recipes={{}}, artifacts={{"q1": ArtifactRef(runtime="echo", format="txt", files={{"model": ref}})}}))
'''


@pytest.fixture
def echo_plugin(tmp_path: Path, install_plugin):  # type: ignore[no-untyped-def]
    model = tmp_path / "echo.txt"
    model.write_text("echo\n")
    source = textwrap.dedent(PLUGIN).replace("{uri}", model.as_uri())
    source = source.replace("{sha}", hashlib.sha256(model.read_bytes()).hexdigest()).replace("{{", "{").replace("}}", "}")
    return install_plugin("echo", source)


def _ok(*args: str, input: str | None = None) -> object:  # noqa: A002
    res = CliRunner().invoke(cli, list(args), input=input)
    assert res.exit_code == 0, res.output
    return res


def test_text_task_streams_chats_and_benches_on_its_artifact(echo_plugin: Path, tmp_path: Path) -> None:
    from zoo.registry import get_registry

    spec = get_registry().get("echo-s")
    assert spec.default_precision() == "q1" and get_registry().get("resnet18").default_precision() == "fp32"

    res = _ok("run", "echo-s", "the", "quick", "fox")  # no --dtype: its artifact's q1, not fp32
    assert res.stdout == "echo fox quick the \n" and "[4 steps]" in res.stderr  # type: ignore[attr-defined]
    out = json.loads(_ok("run", "echo-s", "a b c", "--max-words", "2", "--json").stdout)  # type: ignore[attr-defined]
    assert out == {"model": "echo-s", "dtype": "q1", "runtime": "echo", "weights": out["weights"], "prompt": "a b c",
                   "text": "echo c", "steps": 2}  # fmt: skip

    chat = _ok("chat", "echo-s", "--system", "sys", input="one two\n/reset\nthree\n")
    assert chat.stdout.splitlines() == ["echo sys two one ", "echo sys three "]  # type: ignore[attr-defined]
    bad = CliRunner().invoke(cli, ["chat", "echo-s", "--frobnicate"])
    assert bad.exit_code == 2 and "--max-words" in bad.stderr and "--system" in bad.stderr

    info = _ok("info", "echo-s").stdout  # type: ignore[attr-defined]
    assert "echo q1: supported (prebuilt)" in info and "model: file://" in info and "licence mit" in info

    cards = tmp_path / "cards"
    (card,) = json.loads(_ok("bench", "echo-s", "--threads", "1", "--cards", str(cards), "--json").stdout)  # type: ignore[attr-defined]
    result = card["results"][0]
    assert card["precision"] == "q1" and result["primary_probe"] == "words"
    words = result["measures"]["words"]
    assert words["latency"]["runs"] == 4  # the probe's own count
    assert result["latency"] == words["latency"] and result["fps"] == pytest.approx(
        10_000 / words["latency"]["median_ms"], rel=1e-6
    )
    assert result["measures"]["model"]["latency"]["runs"] == 10  # the others: 10 to 50, as many as the primary
    assert card["params"] == 7 and card["input_resolution"] == "text, ctx 16"
    assert card["accuracy_reason"] == "no evaluation run: zoo has no echo evaluator yet"
    table = _ok("table", "--cards", str(cards)).stdout  # type: ignore[attr-defined]
    assert "FPS column is words/s (words); latency per call of 10 words" in table
