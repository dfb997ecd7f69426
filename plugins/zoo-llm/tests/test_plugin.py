"""The plugin's hooks, predictors and bench probes on the tiny GGUF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zoo.errors import InputError
from zoo_llm.testing import need_llm_extra

need_llm_extra()

from zoo.results.text import Generation  # noqa: E402
from zoo.specs import ArtifactRef, ComponentSpec, ModelSpec, WeightsRef  # noqa: E402
from zoo.tasks import TaskDef  # noqa: E402
from zoo_llm import catalog, plugin  # noqa: E402
from zoo_llm.runtime import LlamaCppRuntime  # noqa: E402


def collect(hook: Any) -> list[Any]:
    out: list[Any] = []
    hook(out.append)
    return out


@pytest.fixture(scope="module")
def tasks() -> dict[str, TaskDef]:
    return {t.name: t for t in collect(plugin.register_tasks)}


def tiny_spec(task: str, path: Path, mmproj: Path | None = None) -> ModelSpec:
    files = {"model": WeightsRef(uri=path.as_uri(), format="gguf")}
    if mmproj is not None:
        files["mmproj"] = WeightsRef(uri=mmproj.as_uri(), format="gguf")
    return ModelSpec(id=f"tiny-{task}", task=task, components={"model": ComponentSpec()}, runtime="llama.cpp",
                     recipes={}, artifacts={"f32": ArtifactRef(runtime="llama.cpp", format="gguf", files=files)})  # fmt: skip


def predictor(task: TaskDef, spec: ModelSpec, files: dict[str, Path]) -> Any:
    rt = LlamaCppRuntime()
    session = rt.load("gguf", files, threads=1, options=rt.options_for("f32"))
    return task.build_predictor(spec, {"model": session})


def test_hooks_register_the_runtime_tasks_and_models(tasks: dict[str, TaskDef]) -> None:
    (rt,) = collect(plugin.register_runtimes)
    assert rt.name == "llama.cpp" and rt.formats == ("gguf",)
    assert set(tasks) == {"llm", "vlm"} and tasks["llm"].input == "text" and tasks["vlm"].input == "image+text"
    specs = {s.id: s for s in collect(plugin.register_models)}
    gemma, vlm = specs["gemma3-270m"], specs["smolvlm-256m"]
    assert gemma.precisions() == ["q4_k_m"] and gemma.runtimes() == ["llama.cpp"] and gemma.recipes == {}
    ref = gemma.artifacts["q4_k_m"].files["model"]
    assert ref.sha256 == catalog.GEMMA_SHA256 and ref.size == catalog.GEMMA_SIZE and ref.license == "gemma"
    assert set(vlm.artifacts["q8_0"].files) == {"model", "mmproj"}
    assert all(f.uri.startswith("hf://ggml-org/") for f in vlm.artifacts["q8_0"].files.values())
    for spec in specs.values():
        assert tasks[spec.task].spec_problem(spec) is None and spec.unsupported_reason(spec.precisions()[0]) is None


def test_llm_predictor_runs_streams_and_chats(tasks: dict[str, TaskDef], tiny_gguf: Path) -> None:
    task = tasks["llm"]
    with predictor(task, tiny_spec("llm", tiny_gguf), {"model": tiny_gguf}) as p:
        gen = p("why is the sky blue?", max_tokens=8, temperature=0.0, seed=0)
        assert isinstance(gen, Generation) and gen.completion_tokens <= 8
        assert p.times["infer"] >= p.times["ttft"] > 0 and p.times["total"] >= p.times["infer"]
        stream = p.stream("why is the sky blue?", max_tokens=8, temperature=0.0)
        assert "".join(stream) == stream.result.text == gen.text  # the model's own template, both ways
        turn = p.chat([{"role": "user", "content": "hello"}], max_tokens=4, temperature=0.0, system="be brief")
        list(turn)
        assert turn.result is not None and turn.result.prompt_tokens > 8
        with pytest.raises(InputError, match="--max-tokens 0: must be positive"):
            p("x", max_tokens=0)
        with pytest.raises(InputError, match="prompt is empty"):
            p("   ")
        json.dumps(gen.to_dict())


def test_family_template_fallback(tasks: dict[str, TaskDef], tmp_path: Path) -> None:
    from zoo_llm.testing import write_tiny_llama

    path = write_tiny_llama(tmp_path / "plain.gguf", chat_template=None)
    spec = tiny_spec("llm", path).model_copy(update={"family": "gemma3"})
    with predictor(tasks["llm"], spec, {"model": path}) as p:
        assert p.prompt_for("hi", {}) == "hi"  # a base model without a template completes text
        msgs = p.prompt_for("hi", {"system": "be brief"})
        assert p.session.render_chat(msgs, chat_template=p.template()).startswith("<s><start_of_turn>user\nbe brief")
    spec = tiny_spec("llm", path)
    with predictor(tasks["llm"], spec, {"model": path}) as p, pytest.raises(InputError, match="no chat template"):
        p("hi", system="be brief")


def test_llm_bench_probes(tasks: dict[str, TaskDef], tiny_gguf: Path) -> None:
    task = tasks["llm"]
    with predictor(task, tiny_spec("llm", tiny_gguf), {"model": tiny_gguf}) as p:
        item = task.parity_items(p.spec)[0]
        probes = {pr.name: pr for pr in task.bench_probes(p, item)}
        assert list(probes) == ["pp64", "pp512", "tg128", "ttft", "pipeline"]
        assert (probes["pp512"].items, probes["pp512"].unit) == (512, "token") and probes["tg128"].items == 128
        for pr in probes.values():
            pr.fn()
        gen = probes["tg128"].fn()
        assert gen.completion_tokens == 128


def test_vlm_predictor_and_probes(tasks: dict[str, TaskDef], tiny_gguf: Path, tiny_mmproj: Path) -> None:
    task = tasks["vlm"]
    image = (np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)
    spec = tiny_spec("vlm", tiny_gguf, tiny_mmproj)
    with predictor(task, spec, {"model": tiny_gguf, "mmproj": tiny_mmproj}) as p:
        gen = p(image, prompt="what is this?", max_tokens=5, temperature=0.0)
        assert gen.image_tokens == 16 and p.times["image_encode"] > 0
        assert gen.draw(image).shape[0] > image.shape[0]
        probes = {pr.name: pr for pr in task.bench_probes(p, image)}
        assert {"image_encode", "ttft", "pp64", "tg128", "pipeline"} <= set(probes)
        for pr in probes.values():
            pr.fn()


TINY_PLUGIN = """
from zoo import hookimpl
from zoo.specs import ArtifactRef, ComponentSpec, ModelSpec, WeightsRef


@hookimpl
def register_models(register):
    files = {{"model": WeightsRef(uri="{uri}", sha256="{sha}", format="gguf", license="apache-2.0")}}
    register(ModelSpec(id="tiny-llm", task="llm", components={{"model": ComponentSpec()}}, runtime="llama.cpp",
                       recipes={{}}, artifacts={{"f32": ArtifactRef(runtime="llama.cpp", format="gguf", files=files)}}))
"""


def test_cli_run_end_to_end(tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party model on this plugin's task and runtime: registry → file:// artifact fetched and
    verified → export folder → llama.cpp session → `zoo run --json`."""
    import hashlib
    import os
    import sys

    from click.testing import CliRunner

    from zoo import registry
    from zoo.cli import cli

    site = tmp_path / "site"
    (site / "zoo_tinyllm").mkdir(parents=True)
    (site / "zoo_tinyllm" / "__init__.py").write_text("")
    sha = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    (site / "zoo_tinyllm" / "plugin.py").write_text(TINY_PLUGIN.format(uri=tiny_gguf.as_uri(), sha=sha))
    dist = site / "zoo_tinyllm-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-tinyllm\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[zoo]\ntinyllm = zoo_tinyllm.plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("ZOO_PLUGINS", raising=False)
    registry.reset()
    try:
        plugins = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).stdout)
        assert plugins["runtimes"]["llama.cpp"]["formats"] == ["gguf"] and plugins["failures"] == []
        res = CliRunner().invoke(cli, ["run", "tiny-llm", "why", "is", "the", "sky", "blue?", "--dtype", "f32",
                                       "--max-tokens", "8", "--temperature", "0", "--json"])  # fmt: skip
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["runtime"] == "llama.cpp" and out["prompt"] == "why is the sky blue?"
        assert out["completion_tokens"] <= 8 and out["stop_reason"] in ("length", "eos")
        bad = CliRunner().invoke(cli, ["run", "tiny-llm", "hello", "--dtype", "f32", "--max-tokens", "0"])
        assert bad.exit_code == 1 and bad.stderr.strip().count("\n") == 0 and "must be positive" in bad.stderr
    finally:
        registry.reset()
        sys.modules.pop("zoo_tinyllm.plugin", None)
        sys.modules.pop("zoo_tinyllm", None)
