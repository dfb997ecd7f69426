"""Defects found when zoo was tried as a new user would (issue 9), each with a test that failed
before its fix."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from zoo import hookimpl
from zoo.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "zoo" / "data" / "images" / "chelsea.jpg"


def _one_line(res) -> str:  # type: ignore[no-untyped-def]
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("zoo: error: ") and "Traceback" not in res.stderr, res.stderr
    return lines[0]


# 1. torchvision's published checkpoints predate num_batches_tracked -----------------------------
def test_a_torchvision_checkpoint_without_num_batches_tracked_loads(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from zoo.registry import get_registry
    from zoo_classifier import resnet

    published = {k: v for k, v in resnet.resnet18().state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(published) == 102  # torchvision's resnet18-f37072fd.pth key set
    path = tmp_path / "resnet18-published.pth"
    torch.save(published, path)
    reg = get_registry()
    model = reg.build_torch_model(reg.get("resnet18"), str(path))
    assert torch.equal(model.state_dict()["fc.weight"], published["fc.weight"])


# 4. the README's Python API ------------------------------------------------------------------------
def test_the_api_names_are_functions_whatever_was_imported() -> None:
    code = (
        "import zoo, zoo.measure.timing, zoo.convert.steps, zoo.eval.coco\n"
        "assert callable(zoo.bench) and callable(zoo.export) and callable(zoo.evaluate) and callable(zoo.load)\n"
        "print('ok')"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "ok\n"


@pytest.mark.slow
def test_the_readme_python_snippet_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", readme, re.S)
    assert snippet is not None
    code = snippet.group(1).replace('"photo.jpg"', repr(str(PHOTO)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr


# 5. a spec its task cannot run is refused when it registers ---------------------------------------
class _WrongKind:
    @hookimpl
    def register_models(self, register):  # type: ignore[no-untyped-def]
        from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec

        register(ModelSpec(id="boxy-net", task="classifier", inputs=(TensorSpec(name="in0", shape=(1, 3, 64, 64)),),
                           pre=PreSpec(kind="letterbox", size=(64, 64)), post=PostSpec(decoder="topk")))  # fmt: skip


def test_a_preprocessing_kind_the_task_does_not_take_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.plugins as plugins_mod
    from zoo import registry

    real = plugins_mod.new_plugin_manager

    def with_bad_plugin(autoload: bool | None = None):  # type: ignore[no-untyped-def]
        zpm = real(autoload)
        zpm.pm.register(_WrongKind(), name="boxy")
        return zpm

    monkeypatch.setattr(plugins_mod, "new_plugin_manager", with_bad_plugin)
    registry.reset()
    res = CliRunner().invoke(cli, ["run", "boxy-net", str(PHOTO)])
    line = _one_line(res)
    assert res.exit_code == 1 and "'boxy'" in line and "boxy-net" in line and "'letterbox'" in line
    assert "resize_crop, resize" in line
    plugins = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).stdout)
    assert any("boxy-net" in f["error"] for f in plugins["failures"])
    registry.reset()


# 6. usage errors are one line, and refused before any work -----------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export", "resnet18", "--dtype", "int9"], "unknown dtype int9"),
        (["bench", "resnet18", "--threads", "0"], "positive integers"),
        (["run", "resnet18"], "missing a SOURCE"),
        (["table", "--json"], "No such option '--json'"),
        (["run", "yolov8n", str(PHOTO), "--conf", "1.5"], "--conf 1.5: must be in (0, 1]"),
        (["run", "resnet18", str(PHOTO), "--conf", "0.5"], "No such option '--conf'. (resnet18 takes: --top-k)"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code in (1, 2) and needle in _one_line(res)


# 9. output a user misreads ------------------------------------------------------------------------
def test_cards_default_to_a_per_user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.paths import cards_dir

    monkeypatch.delenv("ZOO_CARDS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert cards_dir() == tmp_path / "data" / "zoo" / "cards"


def test_info_is_readable_text() -> None:
    out = CliRunner().invoke(cli, ["info", "yolov8n"]).stdout
    assert "{'" not in out and "letterbox 640x640" in out and "ncnn int8: supported" in out


def test_top_k_applies_to_detectors() -> None:
    from zoo.registry import get_registry
    from zoo_detector import processing

    spec = get_registry().get("yolov8n")
    image = np.zeros((480, 640, 3), np.uint8)
    _, ctx = processing.preprocess(image, spec.pre)
    raw = np.random.default_rng(0).normal(-2, 3, (1, 144, 8400)).astype(np.float32)
    assert len(processing.postprocess({"out0": raw}, ctx, spec, {"conf": 0.01, "top_k": 3})) == 3


def test_counts_are_not_shown_as_percents() -> None:
    from zoo.card import fmt_agreement

    assert fmt_agreement("reference_boxes", 150.0) == "150" and fmt_agreement("max_keypoint_error_px", 0.4) == "0.4 px"


# 10. every task draws -------------------------------------------------------------------------------
def test_classifications_draw() -> None:
    from zoo.results import Classification

    image = np.full((120, 160, 3), 200, np.uint8)
    drawn = Classification([281, 285], [0.6, 0.2], ["tabby", "Egyptian cat"]).draw(image)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)


# 11. threads default to the physical cores -----------------------------------------------------------
def test_threads_default_to_the_physical_cores() -> None:
    import psutil

    from zoo.flows.run import default_threads

    assert default_threads() == max(1, min(psutil.cpu_count(logical=False) or 1, len(__import__("os").sched_getaffinity(0))))


# 2. a random build is seeded by the core ---------------------------------------------------------------
class _Unseeded:
    """A third-party model whose build_model seeds nothing (torch's default init draws from the RNG)."""

    @hookimpl
    def register_models(self, register):  # type: ignore[no-untyped-def]
        from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec

        register(ModelSpec(id="plain-net", task="classifier", inputs=(TensorSpec(name="in0", shape=(1, 3, 16, 16)),),
                           outputs=(TensorSpec(name="out0", shape=(1, 10)),), pre=PreSpec(kind="resize", size=(16, 16)),
                           post=PostSpec(decoder="topk")))  # fmt: skip

    @hookimpl
    def build_model(self, spec, weights):  # type: ignore[no-untyped-def]
        import torch

        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 14 * 14, 10))


@pytest.mark.slow
def test_two_random_exports_are_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    import zoo.plugins as plugins_mod
    from zoo import registry

    real = plugins_mod.new_plugin_manager

    def with_plugin(autoload: bool | None = None):  # type: ignore[no-untyped-def]
        zpm = real(autoload)
        zpm.pm.register(_Unseeded(), name="plain")
        return zpm

    monkeypatch.setattr(plugins_mod, "new_plugin_manager", with_plugin)
    registry.reset()
    digests = []
    for i in range(2):
        import torch

        torch.manual_seed(1234 + i)  # whatever state the process is in
        res = CliRunner().invoke(cli, ["export", "plain-net", "--weights", "random", "-o", str(tmp_path / f"e{i}"),
                                       "--json"])  # fmt: skip
        assert res.exit_code == 0, res.output
        digests.append(hashlib.sha256((tmp_path / f"e{i}" / "model.ncnn.bin").read_bytes()).hexdigest())
        card = json.loads(res.stdout)["weights"]
        assert card["random"] and card["seed"] == 0
    assert digests[0] == digests[1]
    registry.reset()
