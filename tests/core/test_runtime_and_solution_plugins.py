"""A third-party plugin that brings its own runtime (with its export step) and its own solution,
end to end through the CLI: export, parity, run, bench (in the worker process), table.

The plugin is installed the way pip would leave it: a package and a ``*.dist-info`` with its
``entry_points.txt`` on the path (here and in the bench worker, through PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo.cli import cli

PLUGIN = '''
"""zoo-toy: a numpy runtime, its export step, a tiny classifier and an ensemble solution."""

from pathlib import Path

import numpy as np

from zoo import hookimpl
from zoo.convert.chain import StepResult
from zoo.results import Classification
from zoo.specs import ExportRecipe, ModelSpec, PostSpec, PrecisionRecipe, PreSpec, RoleSpec, TensorSpec
from zoo.tasks import Predictor, TaskDef


class NumpySession:
    def __init__(self, path):
        with np.load(path) as data:
            self.weight, self.bias = data["weight"], data["bias"]
        self.input_names, self.output_names = ["in0"], ["out0"]

    def run(self, inputs):
        x = np.asarray(inputs["in0"], np.float64).reshape(1, -1)
        return {"out0": (x @ self.weight.T + self.bias).astype(np.float32)}

    def close(self):
        pass


class NumpyRuntime:
    name, formats, extra = "numpy", ("npz",), "toy"

    def unavailable_reason(self):
        return None

    def version(self):
        return np.__version__

    def options_for(self, precision):
        return {"dtype": "float64"}

    def check(self, fmt, files):
        if fmt != "npz" or not Path(files["model"]).is_file():
            raise ValueError("not an npz component")

    def load(self, fmt, files, *, threads, options, outputs=()):
        return NumpySession(files["model"])


def npz_step(ctx, inputs):
    linear = ctx.model[1]
    out = ctx.path("npz")
    with open(out, "wb") as fh:
        np.savez(fh, weight=linear.weight.detach().numpy(), bias=linear.bias.detach().numpy())
    return StepResult("npz", {"model": out}, {"layers": 1})


class Ensemble(Predictor):
    """Runs the models in roles a and b; the result is a's top class with the mean of both scores."""

    def predict(self, item, options):
        a, b = self.part("a", item), self.part("b", item)
        score = (a.scores[0] + b.scores[b.indices.index(a.top1)] if a.top1 in b.indices else a.scores[0]) / 2
        return Classification(indices=[a.top1], scores=[float(score)], names=a.names[:1])


@hookimpl
def register_runtimes(register):
    register(NumpyRuntime())


@hookimpl
def register_exporters(register):
    register("npz", npz_step)


@hookimpl
def register_tasks(register):
    register(TaskDef(name="ensemble", description="two classifiers voting", result_type=Classification,
                     default_metric="top1", agreement=lambda r, c: {"top1_agreement": float(
                         sum(x.top1 == y.top1 for x, y in zip(r, c)) / max(len(r), 1))},
                     predictor=Ensemble))


@hookimpl
def register_models(register):
    register(ModelSpec(
        id="toy-net", task="classifier", description="a linear classifier on 8x8 thumbnails",
        inputs=(TensorSpec(name="in0", shape=(1, 3, 8, 8)),), outputs=(TensorSpec(name="out0", shape=(1, 4)),),
        pre=PreSpec(kind="resize", size=(8, 8)), post=PostSpec(decoder="topk", params={"top_k": 2}),
        runtime="numpy",
        recipes={"numpy": ExportRecipe(runtime="numpy", steps=("npz",), precisions={"fp32": PrecisionRecipe()})},
    ))


@hookimpl
def register_solutions(register):
    register(ModelSpec(
        id="toy-ensemble", task="ensemble", description="toy-net twice",
        roles={"a": RoleSpec(task="classifier", default="toy-net"), "b": RoleSpec(task="classifier", default="toy-net")},
    ))


@hookimpl
def build_model(spec, weights):
    if spec.id != "toy-net":
        return None
    import torch

    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)).eval()
'''

ENTRY_POINTS = "[zoo]\ntoy = zoo_toy.plugin\n"
METADATA = "Metadata-Version: 2.1\nName: zoo-toy\nVersion: 0.1.0\n"


@pytest.fixture
def toy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    (site / "zoo_toy").mkdir(parents=True)
    (site / "zoo_toy" / "__init__.py").write_text("")
    (site / "zoo_toy" / "plugin.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "zoo_toy-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(METADATA)
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("ZOO_PLUGINS", raising=False)
    from zoo import registry

    registry.reset()
    yield site
    registry.reset()
    sys.modules.pop("zoo_toy.plugin", None)
    sys.modules.pop("zoo_toy", None)


def _ok(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.mark.slow
def test_third_party_runtime_and_solution_end_to_end(toy_plugin: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    plugins = json.loads(_ok("plugins", "--json"))
    toy = next(p for p in plugins["plugins"] if p["name"] == "toy")
    assert toy["runtimes"] == ["numpy"] and toy["solutions"] == ["toy-ensemble"] and toy["exporters"] == ["npz"]
    assert plugins["runtimes"]["numpy"]["formats"] == ["npz"]

    exported = json.loads(_ok("export", "toy-net", "--weights", "random", "--json"))
    assert exported["runtime"] == "numpy" and exported["components"]["model"]["format"] == "npz"
    assert exported["parity"]["max_abs_diff"] < 1e-5 and exported["parity"]["agreement"]["top1_agreement"] == 1.0

    image = Path(__file__).resolve().parents[2] / "zoo" / "data" / "images" / "chelsea.jpg"
    ran = json.loads(_ok("run", "toy-ensemble", str(image), "--weights", "random", "--json"))
    assert len(ran["top"]) == 1
    single = json.loads(_ok("run", "toy-net", str(image), "--weights", "random", "--json"))
    assert ran["top"][0]["index"] == single["top"][0]["index"]

    cards = json.loads(_ok("bench", "toy-ensemble", "--weights", "random", "--threads", "1", "--runs", "3", "--json"))
    (card,) = cards
    assert card["model"] == "toy-ensemble" and card["runtime"] == "numpy"
    assert card["components"]["a"]["model"] == "toy-net" and card["components"]["b"]["model"] == "toy-net"
    result = card["results"][0]
    assert result["measures"]["model"]["latency"]["runs"] == 3 and result["pipeline_latency"]["runs"] == 3
    assert "pipeline" in result["measures"] and card["params"] == 2 * (3 * 8 * 8 * 4 + 4)
    table = _ok("table", "--format", "csv")
    assert "toy-ensemble,numpy" in table


def test_a_solution_whose_model_is_missing_is_one_line(toy_plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = toy_plugin / "zoo_toy" / "plugin.py"
    plugin.write_text(plugin.read_text().replace('default="toy-net")}', 'default="no-such-net")}'))
    res = CliRunner().invoke(cli, ["run", "toy-ensemble", "x.jpg"])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1
    assert "toy-ensemble" in lines[0] and "'no-such-net' is not available" in lines[0]


def test_an_unknown_runtime_is_one_line(toy_plugin: Path) -> None:
    res = CliRunner().invoke(cli, ["bench", "toy-net", "--runtime", "tpu"])
    assert res.exit_code == 2 and "unknown runtime tpu" in res.stderr and "numpy" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
