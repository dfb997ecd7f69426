"""The CLI: data-only --json, and every bad input ends in one clear line and a non-zero exit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("zoo: error: ") and "Traceback" not in stderr
    return lines[0]


def test_list_json_is_data_only() -> None:
    code, out, _ = run("list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {"resnet18", "resnet34"} <= {r["id"] for r in rows}
    code, out, _ = run("list", "--task", "classifier", "--json")
    assert code == 0 and all(r["task"] == "classifier" for r in json.loads(out))


def test_info_and_plugins_json() -> None:
    code, out, _ = run("info", "resnet18", "--json")
    data = json.loads(out)
    assert code == 0 and data["spec"]["components"]["model"]["inputs"][0]["shape"] == [1, 3, 224, 224]
    assert data["dtypes"]["fp16"] == "supported"
    code, out, _ = run("plugins", "--json")
    data = json.loads(out)
    names = {p["name"]: p for p in data["plugins"]}
    assert "resnet18" in names["classifier"]["models"] and "pnnx" in names["zoo.builtin"]["exporters"]


def test_unknown_model_suggests() -> None:
    code, _, err = run("info", "resnet81")
    assert code == 1 and "did you mean resnet18" in one_error_line(err)


def test_unknown_task() -> None:
    code, _, err = run("list", "--task", "segmenter")
    assert code == 1 and "unknown task 'segmenter'" in one_error_line(err)


def test_missing_and_non_image_input(tmp_path: Path) -> None:
    code, _, err = run("run", "resnet18", str(tmp_path / "nope.jpg"), "--weights", "random")
    assert code == 1 and "nope.jpg: no such file" in one_error_line(err)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    code, _, err = run("run", "resnet18", str(text), "--weights", "random")
    assert code == 1 and "notes.jpg: not an image" in one_error_line(err)


def test_missing_weights_file_and_offline_empty_cache(tmp_path: Path) -> None:
    code, _, err = run("export", "resnet18", "--weights", str(tmp_path / "w.pth"))
    assert code == 1 and "no such weights file" in one_error_line(err)
    code, _, err = run("pull", "resnet18", "--offline")
    assert code == 1 and "offline mode is on" in one_error_line(err)


def test_checkpoint_with_wrong_keys(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    bad = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3), "classifier.weight": torch.zeros(2)}, bad)
    code, _, err = run("export", "resnet18", "--weights", str(bad), "-o", str(tmp_path / "out"))
    line = one_error_line(err)
    assert code == 1 and "missing (first: conv1.weight" in line and "unexpected (first: features.0.weight" in line
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    evil = tmp_path / "evil.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, evil)  # a pickled module object, not a state dict
    code, _, err = run("export", "resnet18", "--weights", str(evil))
    assert code == 1 and "refused to unpickle" in one_error_line(err)


def test_unwritable_output_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run("export", "resnet18", "--weights", "random", "-o", str(blocker / "sub"))
    assert code == 1 and "not writable" in one_error_line(err)


def test_existing_non_export_folder_is_not_overwritten(tmp_path: Path) -> None:
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "thesis.tex").write_text("precious")
    code, _, err = run("export", "resnet18", "--weights", "random", "-o", str(keep))
    assert code == 1 and "not a zoo export folder" in one_error_line(err)
    assert (keep / "thesis.tex").read_text() == "precious"


def test_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch → ImportError, as without the extra
    code, _, err = run("export", "resnet18", "--weights", "random")
    assert code == 1 and "pip install 'zoo[export]'" in one_error_line(err)


def test_bad_threads_and_dtype() -> None:
    code, _, err = run("bench", "resnet18", "--threads", "0")
    assert code == 2 and "positive integers" in err
    code, _, err = run("bench", "resnet18", "--dtype", "fp64")
    assert code == 2 and "unknown dtype fp64" in err


def test_table_from_an_empty_folder(tmp_path: Path) -> None:
    code, out, _ = run("table", "--format", "csv", "--cards", str(tmp_path))
    assert code == 0 and out.startswith("hardware,model,runtime,input")
    code, _, err = run("table", "--cards", str(tmp_path / "none"))
    assert code == 1 and "no such cards folder" in one_error_line(err)


def test_malformed_registry_yaml_via_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "registry.yaml"
    bad.write_text("schema_version: 1\nmodels:\n  resnet18: {task: classifier, plugin: classifier, weigths: {}}\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(bad))
    code, _, err = run("list")
    line = one_error_line(err)
    assert code == 1 and str(bad) in line and "models.resnet18.weigths" in line


def test_unknown_compression_method_and_option() -> None:
    pytest.importorskip("torch")
    code, _, err = run("compress", "resnet18", "--method", "quantum", "--weights", "random")
    assert code == 1 and "valid methods: prune" in one_error_line(err)
    code, _, err = run("compress", "resnet18", "--method", "prune", "-O", "amount=0.5", "--weights", "random")
    assert code == 1 and "valid options: sparsity" in one_error_line(err)


def test_images_of_any_mode_become_rgb(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from zoo.images import load_image

    for mode, size in (("L", (40, 30)), ("RGBA", (5, 7)), ("P", (16, 16)), ("I;16", (8, 8))):
        path = tmp_path / f"img-{mode.replace(';', '')}.png"
        Image.new(mode, size).save(path)
        rgb = load_image(path)
        assert rgb.shape == (size[1], size[0], 3) and rgb.dtype == np.uint8
