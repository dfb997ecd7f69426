"""The board's workflow on a runtime-only install: a venv made from the repository without the
export extra (no torch, no pnnx), running run / bench / eval / card push / pull on exports the
full install made, against a local Hub on 127.0.0.1. torch is never imported there: it is not
even installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.images import load_image, sample_image_paths

from .localserver import LocalServer, Served

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "zoo" / "data" / "images" / "chelsea.jpg"


def _coco(root: Path) -> Path:
    """The shipped photos as a COCO set with one made-up 'person' box each."""
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    images, anns = [], []
    for i, path in enumerate(sample_image_paths(), start=1):
        shutil.copy(path, root / "val2017" / path.name)
        h, w = load_image(path).shape[:2]
        images.append({"id": i, "file_name": path.name, "width": w, "height": h})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [w / 4, h / 4, w / 2, h / 2]})
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]})
    )
    return root


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip install '.[eval]' plus the classifier and detector plugins: no export extra."""
    venv = tmp_path_factory.mktemp("board") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    proc = subprocess.run([*pip, f"{ROOT}[eval]", str(ROOT / "plugins" / "zoo-classifier"),
                           str(ROOT / "plugins" / "zoo-detector")], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return venv


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """yolov8n exported by the full install (this process's environment), fp32 and int8."""
    pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("exports")
    env = {**os.environ, "ZOO_CACHE": str(root / "cache")}
    out = {}
    for dtype in ("fp32", "int8"):
        out[dtype] = root / f"yolov8n-{dtype}"
        subprocess.run([sys.executable, "-m", "zoo.cli", "export", "yolov8n", "--weights", "random", "--dtype", dtype,
                        "-o", str(out[dtype])], check=True, capture_output=True, env=env)  # fmt: skip
    return out


def test_run_bench_eval_push_pull_without_torch(runtime_venv: Path, exports: dict[str, Path], tmp_path: Path) -> None:
    python = runtime_venv / "bin" / "python"
    no_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    size_mb = sum(p.stat().st_size for p in runtime_venv.rglob("*") if p.is_file()) / 1e6
    print(f"runtime-only venv: {size_mb:.0f} MB")

    state = Served()
    with LocalServer(state) as srv:
        env = {**os.environ, "ZOO_CACHE": str(tmp_path / "board-cache"), "ZOO_CARDS_DIR": str(tmp_path / "cards"),
               "HF_ENDPOINT": srv.url, "HF_TOKEN": "hf_local_test_token", "HF_HUB_CACHE": str(tmp_path / "hf")}

        def zoo(*args: str) -> str:
            proc = subprocess.run([str(runtime_venv / "bin" / "zoo"), *args], capture_output=True, text=True, env=env,
                                  cwd=tmp_path, timeout=600)  # fmt: skip
            assert proc.returncode == 0, (args, proc.stderr)
            return proc.stdout

        ran = json.loads(zoo("run", "yolov8n", str(PHOTO), "--artifacts", str(exports["fp32"]), "--json"))
        assert ran["dtype"] == "fp32" and "detections" in ran
        (card,) = json.loads(zoo("bench", "yolov8n", "--artifacts", str(exports["int8"]), "--threads", "1",
                                 "--runs", "3", "--json"))  # fmt: skip
        assert card["precision"] == "int8" and card["results"][0]["latency"]["runs"] == 3
        report = json.loads(zoo("eval", "yolov8n", "--data", str(_coco(tmp_path / "coco")), "--artifacts",
                                str(exports["int8"]), "--weights", "random", "--json"))  # fmt: skip
        assert [m["name"] for m in report["report"]["metrics"]] == ["mAP@[.5:.95]", "mAP@.5"]
        assert (Path(report["card"]) / "README.md").is_file()  # the Hub card renders without Jinja2/torch
        assert zoo("card", "push", "yolov8n", "--repo", "acme/yolov8n-zoo", "--artifacts", str(exports["int8"]))
        assert "/acme/yolov8n-zoo/resolve/main/ncnn-int8/model.int8.ncnn.bin" in state.files

        env["ZOO_CACHE"] = str(tmp_path / "second-board")  # another board pulls it
        pulled = json.loads(zoo("pull", "hf://acme/yolov8n-zoo", "--json"))
        assert [(p["runtime"], p["precision"]) for p in pulled] == [("ncnn", "int8")]
        again = json.loads(zoo("run", "yolov8n", str(PHOTO), "--weights", "random", "--dtype", "int8", "--json"))
        assert again["dtype"] == "int8"
