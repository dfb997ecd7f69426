"""A third-party plugin that brings its own runtime (with its export step) and its own solution,
end to end through the CLI: export, parity, run, bench (in the worker process), table.

The plugin is installed the way pip would leave it: a package and a ``*.dist-info`` with its
``entry_points.txt`` on the path (here and in the bench worker, through PYTHONPATH).
"""

from __future__ import annotations

import json
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

    def load(self, fmt, files, *, threads, options, outputs=(), inputs=()):
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

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)).eval()
    net.export_facts = lambda: {"temperature": 2.0}  # a constant of the weights, kept beside the network
    return net
'''



@pytest.fixture
def toy_plugin(install_plugin) -> Path:  # type: ignore[no-untyped-def]
    return install_plugin("toy", textwrap.dedent(PLUGIN))


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
    assert exported["components"]["model"]["facts"] == {"temperature": 2.0}
    from zoo.flows.run import load

    with load("toy-net", weights="random", threads=1) as predictor:
        assert predictor.facts("model") == {"temperature": 2.0} and predictor.facts("other") == {}

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


def test_a_solution_part_with_an_unfilled_role_is_fed_by_the_solution(monkeypatch: pytest.MonkeyPatch) -> None:
    """A detector + top-down pose solution: its pose part needs a detector (no default) that the
    solution itself feeds, so the part loads with that role empty instead of refusing."""
    from zoo.flows import run
    from zoo.specs import ModelSpec, RoleSpec, TensorSpec, default_recipes

    one = {"inputs": (TensorSpec(name="in0", shape=(1, 3, 8, 8)),), "outputs": (TensorSpec(name="out0", shape=(1, 2)),),
           "recipes": default_recipes()}
    specs = {
        "det": ModelSpec(id="det", task="detector", **one),
        "crop-pose": ModelSpec(id="crop-pose", task="pose", roles={"detector": RoleSpec(task="detector")}, **one),
        "pair": ModelSpec(id="pair", task="pose", roles={"detector": RoleSpec(task="detector", default="det"),
                                                         "pose": RoleSpec(task="pose", default="crop-pose")}),
    }

    class Reg:
        tasks = {"detector": None, "pose": None}

        def get(self, name: str) -> ModelSpec:
            return specs[name]

        def list(self, task: str) -> list[ModelSpec]:
            return [s for s in specs.values() if s.task == task]

    calls: dict[str, bool] = {}

    def fake_load(name: str, *args: object, require_roles: bool = True, **kwargs: object) -> object:
        calls[name] = require_roles
        return run.Predictor(specs[name], None, {})  # type: ignore[arg-type]

    monkeypatch.setattr(run, "load", fake_load)
    parts = run._load_parts(specs["pair"], {}, "fp32", None, 1, "random", False, Reg(), None, {})  # type: ignore[arg-type]
    assert set(parts) == {"detector", "pose"} and calls == {"det": False, "crop-pose": False}
    # the model itself, loaded on its own, still asks for its detector
    with pytest.raises(Exception, match="crop-pose needs a detector.*--detector MODEL"):
        run._load_parts(specs["crop-pose"], {}, "fp32", None, 1, "random", False, Reg(), None, {})  # type: ignore[arg-type]


def test_a_model_without_published_weights_runs_from_the_users_own_export(toy_plugin: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``zoo export NAME --weights PATH`` once; then NAME runs (and fills a role) without --weights.
    Exports from two different checkpoints are one line, never a silent pick."""
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    image = Path(__file__).resolve().parents[2] / "zoo" / "data" / "images" / "chelsea.jpg"
    res = CliRunner().invoke(cli, ["run", "toy-net", str(image)])
    assert res.exit_code != 0 and "no published weights" in res.stderr
    first = tmp_path / "first.pt"
    torch.save({"w": torch.zeros(1)}, first)
    _ok("export", "toy-net", "--weights", str(first), "--json")
    ran = json.loads(_ok("run", "toy-net", str(image), "--json"))
    assert ran["weights"] == str(first.resolve())
    assert json.loads(_ok("run", "toy-ensemble", str(image), "--json"))["top"]  # its parts find it too
    second = tmp_path / "second.pt"
    torch.save({"w": torch.ones(1)}, second)
    _ok("export", "toy-net", "--weights", str(second), "--json")
    res = CliRunner().invoke(cli, ["run", "toy-net", str(image)])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code != 0 and len(lines) == 1 and "2 different checkpoints" in lines[0]


def test_facts_reach_the_predictor(toy_plugin: Path) -> None:
    from zoo.registry import get_registry

    reg = get_registry()
    spec = reg.get("toy-net")
    assert reg.build_predictor(spec, {}).facts("model") == {}
    predictor = reg.build_predictor(spec, {}, facts={"model": {"temperature": 2.0}})
    assert predictor.facts("model") == {"temperature": 2.0}
