"""Export folders are checked before a runtime reads them, re-exporting never deletes a user's
files, relative paths work, and nothing half-written survives."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import one_line

pytestmark = pytest.mark.slow
PHOTO = Path(__file__).resolve().parents[2] / "zoo" / "data" / "images" / "chelsea.jpg"


@pytest.fixture(scope="module")
def resnet18_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("export")
    env = {**os.environ, "ZOO_CACHE": str(root / "cache")}
    subprocess.run([sys.executable, "-m", "zoo.cli", "export", "resnet18", "--weights", "random", "-o",
                    str(root / "resnet18")], check=True, capture_output=True, env=env)  # fmt: skip
    return root / "resnet18"


def _copy(export: Path, tmp_path: Path, name: str = "art") -> Path:
    dst = tmp_path / name
    shutil.copytree(export, dst)
    return dst


def _reseal(folder: Path) -> None:
    """Rewrite the manifest's sha256s and sizes for the files as they are now: a crafted folder
    that passes the integrity check, so the checks behind it are what is tested."""
    path = folder / "export.json"
    manifest = json.loads(path.read_text())
    for artifact in manifest["artifacts"]:
        data = (folder / artifact["file"]).read_bytes()
        artifact["sha256"], artifact["size"] = hashlib.sha256(data).hexdigest(), len(data)
    path.write_text(json.dumps(manifest))


def test_re_exporting_over_a_folder_keeps_the_users_files(resnet18_export: Path, tmp_path: Path, zoo_cli) -> None:
    target = _copy(resnet18_export, tmp_path)
    (target / "my-notes.txt").write_text("precious")
    proc = zoo_cli("export", "resnet18", "--weights", "random", "-o", str(target), "--no-parity")
    assert "my-notes.txt" in one_line(proc) and (target / "my-notes.txt").read_text() == "precious"
    (target / "my-notes.txt").unlink()
    ok = zoo_cli("export", "resnet18", "--weights", "random", "-o", str(target), "--no-parity")
    assert ok.returncode == 0, ok.stderr  # a folder holding only what zoo wrote is replaced


def test_a_changed_artifact_is_refused_and_no_card_is_written(resnet18_export: Path, tmp_path: Path, zoo_cli) -> None:
    art = _copy(resnet18_export, tmp_path)
    data = bytearray((art / "model.ncnn.bin").read_bytes())
    data[5000] ^= 0x40
    (art / "model.ncnn.bin").write_bytes(bytes(data))
    line = one_line(zoo_cli("run", "resnet18", str(PHOTO), "--artifacts", str(art)))
    assert "model.ncnn.bin: does not match its manifest" in line
    cards = tmp_path / "cards"
    line = one_line(zoo_cli("bench", "resnet18", "--artifacts", str(art), "--threads", "1", "--runs", "2",
                            "--cards", str(cards)))  # fmt: skip
    assert "does not match its manifest" in line and not cards.exists()


def test_an_export_of_another_model_is_refused(resnet18_export: Path, tmp_path: Path, zoo_cli) -> None:
    art = _copy(resnet18_export, tmp_path)
    line = one_line(zoo_cli("run", "yolov8n", str(PHOTO), "--artifacts", str(art)))
    assert "this export is of 'resnet18', not 'yolov8n'" in line
    manifest = json.loads((art / "export.json").read_text())
    manifest["model"] = "yolov8n"  # a manifest edited to claim another model
    (art / "export.json").write_text(json.dumps(manifest))
    assert "not an export of yolov8n" in one_line(zoo_cli("run", "yolov8n", str(PHOTO), "--artifacts", str(art)))


def test_the_precision_comes_from_the_folder(resnet18_export: Path, tmp_path: Path, zoo_cli) -> None:
    art = _copy(resnet18_export, tmp_path)
    out = zoo_cli("run", "resnet18", str(PHOTO), "--artifacts", str(art), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["dtype"] == "fp32"
    assert "this export is fp32, not fp16" in one_line(
        zoo_cli("run", "resnet18", str(PHOTO), "--artifacts", str(art), "--dtype", "fp16")
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no-bin", "needs files ['param', 'bin']"),
        ("file", "is a file; --artifacts takes the export folder"),
        ("not-utf8", "is not UTF-8"),
        ("renamed-output", "out0"),
        ("unwired", "before any layer produces it"),
    ],
)
def test_damaged_folders_are_one_line(resnet18_export: Path, tmp_path: Path, zoo_cli, damage: str, message: str) -> None:
    art = _copy(resnet18_export, tmp_path)
    target = art
    if damage == "no-bin":
        manifest = json.loads((art / "export.json").read_text())
        del manifest["components"]["model"]["files"]["bin"]
        (art / "export.json").write_text(json.dumps(manifest))
    elif damage == "file":
        target = art / "model.ncnn.param"
    else:
        param = art / "model.ncnn.param"
        text = param.read_text()
        if damage == "not-utf8":
            lines = text.splitlines()
            fields = lines[3].split()  # the first layer after Input: its name gets a non-UTF-8 byte
            fields[1] = fields[1] + "\xff"
            param.write_bytes("\n".join([*lines[:3], " ".join(fields), *lines[4:]]).encode("latin-1"))
        elif damage == "renamed-output":
            param.write_text(text.replace(" out0", " outX"))
        else:
            lines = text.splitlines()
            last = lines[-1].split()
            last[4] = "nowhere"  # the last layer reads a blob nothing produces
            param.write_text("\n".join([*lines[:-1], " ".join(last)]) + "\n")
        _reseal(art)
    assert message in one_line(zoo_cli("run", "resnet18", str(PHOTO), "--artifacts", str(target)))


def test_a_relu_rewired_onto_the_input_runs_without_crashing(resnet18_export: Path, tmp_path: Path, zoo_cli) -> None:
    """The one-token rewiring that segfaulted ncnn: a ReLU now reads the input blob in place
    (ncnn writes into the buffer it was given); zoo gives ncnn its own copy of every input."""
    art = _copy(resnet18_export, tmp_path)
    param = art / "model.ncnn.param"
    lines = param.read_text().splitlines()
    relu = next(i for i, line in enumerate(lines) if line.split()[0] in ("ReLU", "Convolution"))
    fields = lines[relu].split()
    fields[4] = "in0"
    lines[relu] = " ".join(fields)
    param.write_text("\n".join(lines) + "\n")
    _reseal(art)
    proc = zoo_cli("run", "resnet18", str(PHOTO), "--artifacts", str(art), "--json")
    assert proc.returncode >= 0, proc.stderr  # no signal
    if proc.returncode:
        one_line(proc)


@pytest.mark.parametrize("out", ["rel_out", ".", "x/../y"])
def test_relative_output_paths(tmp_path: Path, zoo_cli, out: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    proc = zoo_cli("export", "resnet18", "--weights", "random", "-o", out, "--no-parity", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (Path(os.path.normpath(work / out)) / "export.json").is_file()


def test_a_relative_cache_and_stale_partials(tmp_path: Path, zoo_cli) -> None:
    work = tmp_path / "work"
    stale = work / "rel-cache" / "artifacts" / "resnet18" / ".ncnn-fp32-random.partial-999999999-abc"
    stale.mkdir(parents=True)
    (stale / "model.torchscript.pt").write_bytes(b"\0" * 1000)
    proc = zoo_cli("export", "resnet18", "--weights", "random", "--no-parity", cwd=work, ZOO_CACHE="rel-cache")
    assert proc.returncode == 0, proc.stderr
    assert (work / "rel-cache" / "artifacts" / "resnet18" / "ncnn-fp32-random" / "export.json").is_file()
    assert not stale.exists()  # left by a killed process (no such PID): removed
