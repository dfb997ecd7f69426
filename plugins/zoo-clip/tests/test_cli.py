"""The zero-shot task from the command line, end to end on clip-vit-s32 (random weights): zoo run
on an image, a folder and a video (and -o for each), --json, --labels-file; zoo embed of images
and texts (.npy); zoo bench's probes and card; and every bad input the issue lists as one
line on stderr with a non-zero exit.

The checks that refuse before any export are fast; the rest share one export (slow)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from zoo.cli import cli

MODEL = "clip-vit-s32"
IMAGES = Path(__file__).resolve().parents[3] / "zoo" / "data" / "images"
LABELS = "a cat,a dog,a rocket"


@pytest.fixture(scope="module")
def zoo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache and a cards folder of this module's own (exports, label embeddings, cards)."""
    home = tmp_path_factory.mktemp("zoo-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_CACHE", str(home / "cache"))
    mp.setenv("ZOO_CARDS_DIR", str(home / "cards"))
    mp.setenv("OMP_NUM_THREADS", "1")
    from zoo import registry

    registry.reset()
    yield home
    mp.undo()
    registry.reset()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> str:
    res = invoke(*args)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    return res.stdout


def one_line_error(res: Result, *fragments: str) -> str:
    """Exactly one stderr line, 'zoo: error: ...', no traceback, a non-zero exit."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code != 0 and len(lines) == 1, (res.exit_code, res.stderr)
    assert lines[0].startswith("zoo: error: ") and "Traceback" not in res.stderr, res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- refused before any export (fast) ------------------------------------------------------------
def test_an_empty_label_list_is_one_line(zoo_home: Path) -> None:
    image = str(IMAGES / "chelsea.jpg")
    one_line_error(invoke("run", MODEL, image, "--weights", "random", "--labels", ""), "label list is empty")
    one_line_error(invoke("run", MODEL, image, "--weights", "random", "--labels", " , "), "label list is empty")
    one_line_error(invoke("run", MODEL, image, "--weights", "random"), "needs labels", "--labels-file")
    one_line_error(invoke("run", MODEL, image, "--weights", "random", "--labels", "a cat,,a dog"), "label 2 of 3")
    one_line_error(invoke("run", MODEL, image, "--labels-file", str(zoo_home / "none.txt")), "no such file")
    (zoo_home / "labels.txt").write_text("a cat\n")
    one_line_error(invoke("run", MODEL, image, "--labels", "a", "--labels-file", str(zoo_home / "labels.txt")),
                   "not both")  # fmt: skip
    one_line_error(invoke("run", MODEL, image, "--labels", "a", "--template", "a photo"), "exactly once")
    assert not (zoo_home / "cache" / "artifacts").exists()  # nothing was exported for any of these


def test_embed_needs_a_model_with_embeddings_and_one_input_kind(zoo_home: Path) -> None:
    one_line_error(invoke("embed", "resnet18", "--weights", "random", "--text", "hi"), "has no embeddings")
    res = invoke("embed", MODEL, "--weights", "random")
    assert res.exit_code == 2 and "give --image SOURCE or --text TEXT" in res.stderr
    one_line_error(invoke("embed", MODEL, "--text", "hi", "-o", str(zoo_home / "x.txt")), "name the file *.npy")


# -- end to end on one export (slow) -------------------------------------------------------------
@pytest.mark.slow
def test_run_image_folder_video_and_json(zoo_home: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = json.loads(ok("run", MODEL, str(IMAGES / "chelsea.jpg"), "--weights", "random", "--threads", "1",
                        "--labels", LABELS, "--json"))  # fmt: skip
    assert out["model"] == MODEL and out["template"] == "a photo of a {}" and len(out["top"]) == 3
    assert set(out["probabilities"]) == {"a cat", "a dog", "a rocket"}
    assert abs(sum(out["probabilities"].values()) - 1.0) < 1e-4
    # the label embeddings went to the disk cache, keyed by model
    (cached,) = (zoo_home / "cache" / "clip-text-embeddings" / MODEL).glob("*.npz")
    # a folder: one line per file; a labels file; -o a folder of drawn images
    (tmp_path / "labels.txt").write_text("a cat\na dog\n\na rocket\n")
    lines = ok("run", MODEL, str(IMAGES), "--weights", "random", "--threads", "1", "--labels-file",
               str(tmp_path / "labels.txt"), "--top-k", "2", "-o", str(tmp_path / "drawn")).splitlines()  # fmt: skip
    assert len(lines) == 4 and all(line.count("%") == 2 for line in lines), lines
    assert any("chelsea.jpg: " in line for line in lines) and len(list((tmp_path / "drawn").iterdir())) == 4
    # a video, drawn into a video; JSON lines, one per frame
    pytest.importorskip("av")
    from zoo.media import open_sink, open_source

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, name in enumerate(["chelsea.jpg", "rocket.jpg", "coffee.jpg"]):
        shutil.copy(IMAGES / name, frames / f"{i:03d}.jpg")
    with open_source(frames) as source, open_sink(tmp_path / "clip.mp4", like=source, fps=10) as sink:
        for frame in source:
            sink.write(frame, frame.image)
    records = ok("run", MODEL, str(tmp_path / "clip.mp4"), "--weights", "random", "--threads", "1", "--labels",
                 LABELS, "--json", "-o", str(tmp_path / "drawn.mp4")).splitlines()  # fmt: skip
    assert len(records) == 3 and all(len(json.loads(r)["top"]) == 3 for r in records)
    assert (tmp_path / "drawn.mp4").stat().st_size > 0


@pytest.mark.slow
def test_long_label_is_truncated_and_said(zoo_home: Path) -> None:
    long_label = "a very " + "very " * 90 + "long label"
    out = ok("run", MODEL, str(IMAGES / "rocket.jpg"), "--weights", "random", "--threads", "1", "--labels",
             f"a cat,{long_label}")  # fmt: skip
    assert "truncated to the text context: 1 prompt" in out
    data = json.loads(ok("run", MODEL, str(IMAGES / "rocket.jpg"), "--weights", "random", "--threads", "1",
                         "--labels", f"a cat,{long_label}", "--json"))  # fmt: skip
    assert data["truncated"] == [f"a photo of a {long_label}"]


@pytest.mark.slow
def test_embed_images_and_texts(zoo_home: Path, tmp_path: Path) -> None:
    out = ok("embed", MODEL, "--weights", "random", "--threads", "1", "--image", str(IMAGES), "-o",
             str(tmp_path / "images.npy"))  # fmt: skip
    assert "4 image embeddings of dimension 384" in out
    vectors = np.load(tmp_path / "images.npy")
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    data = json.loads(ok("embed", MODEL, "--weights", "random", "--threads", "1", "--text", "a cat", "--text",
                         "a dog", "--json"))  # fmt: skip
    assert data["kind"] == "text" and data["count"] == 2 and [i["source"] for i in data["items"]] == ["a cat", "a dog"]
    # the text embeddings are the ones zero-shot scores with: same tower, same normalisation
    text = np.array([i["embedding"] for i in data["items"]])
    assert np.allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5) and not np.allclose(text[0], text[1])


@pytest.mark.slow
def test_a_tower_not_exported_is_one_line(zoo_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "image-only"
    ok("export", MODEL, "--weights", "random", "--component", "image", "-o", str(folder))
    manifest = json.loads((folder / "export.json").read_text())
    assert set(manifest["components"]) == {"image"} and manifest["extra"]["components"] == ["image"]
    assert ok("embed", MODEL, "--artifacts", str(folder), "--image", str(IMAGES / "coffee.jpg")).startswith("1 image")
    one_line_error(invoke("embed", MODEL, "--artifacts", str(folder), "--text", "a cat"),
                   "the text tower is not in this export (it holds: image)")  # fmt: skip
    one_line_error(invoke("run", MODEL, str(IMAGES / "coffee.jpg"), "--artifacts", str(folder), "--labels", LABELS),
                   "the text tower is not in this export")  # fmt: skip
    one_line_error(invoke("export", MODEL, "--weights", "random", "--component", "audio"), "has no such component")


@pytest.mark.slow
def test_a_cache_file_from_another_model_is_one_line(zoo_home: Path) -> None:
    from zoo_clip import processing

    image = str(IMAGES / "astronaut.jpg")
    labels = "a horse,a tree"
    ok("run", MODEL, image, "--weights", "random", "--threads", "1", "--labels", labels)
    folder = zoo_home / "cache" / "clip-text-embeddings" / MODEL
    for path in folder.glob("*.npz"):  # each replaced by a file written for clip-vit-b32
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            vectors = data["embeddings"]
        key = processing.CacheKey("clip-vit-b32", meta["artifact_sha256"], tuple(meta["labels"]), meta["template"])
        processing.save_text_cache(path, key, vectors)
    one_line_error(invoke("run", MODEL, image, "--weights", "random", "--threads", "1", "--labels", labels),
                   "text-embedding cache written for model_id \"clip-vit-b32\"", "delete it")  # fmt: skip
    for path in folder.glob("*.npz"):
        path.unlink()


@pytest.mark.slow
def test_bench_times_both_towers_and_the_pipeline(zoo_home: Path) -> None:
    cards = json.loads(ok("bench", MODEL, "--weights", "random", "--threads", "1", "--runs", "3", "--json"))
    (card,) = cards
    assert card["model"] == MODEL and set(card["components"]) == {"image", "text"}
    assert card["components"]["image"]["macs"] > 1e9 and card["components"]["text"]["params"] > 3e7
    measures = card["results"][0]["measures"]
    assert {"model", "model:text", "pipeline", "pipeline:uncached"} <= set(measures)
    assert measures["model:text"]["unit"] == "prompt" and "10 labels" in measures["pipeline:uncached"]["description"]
    # the uncached pipeline runs the text tower for every label: slower than the cached one
    assert measures["pipeline:uncached"]["latency"]["median_ms"] > measures["pipeline"]["latency"]["median_ms"]


@pytest.mark.slow
def test_eval_on_class_folders_writes_the_card(zoo_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "photos"
    for label, name in (("tabby_cat", "chelsea.jpg"), ("rocket", "rocket.jpg"), ("cup_of_coffee", "coffee.jpg"),
                        ("astronaut", "astronaut.jpg")):  # fmt: skip
        (data / label).mkdir(parents=True)
        shutil.copy(IMAGES / name, data / label / name)
    report = json.loads(ok("eval", MODEL, "--data", str(data), "--weights", "random", "--threads", "1",
                           "--results", str(tmp_path / "results.jsonl"), "--json"))  # fmt: skip
    (metric,) = report["report"]["metrics"]  # four classes: top-1 only
    assert metric["name"] == "top1" and metric["n"] == 4 and 0.0 <= metric["value"] <= 1.0
    assert report["report"]["facts"]["classes"] == 4
    card = json.loads((Path(report["card"]) / "card.json").read_text())
    assert card["accuracy"][0]["name"] == "top1" and "random weights" in card["accuracy_reason"]
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 4
    one_line_error(invoke("eval", MODEL, "--data", str(tmp_path / "none"), "--weights", "random"), "no such folder")


@pytest.mark.slow
def test_the_board_path_imports_no_torch(zoo_home: Path) -> None:
    """An export folder, the plugin and the core are all a board needs: run and embed with torch
    made unimportable (the tokenizer's vocabulary ships in the plugin; the logit scale is in the
    export)."""
    import subprocess
    import sys

    ok("export", MODEL, "--weights", "random", "-o", str(zoo_home / "board-export"))
    blocker = ("import sys; sys.modules['torch'] = None; sys.modules['pnnx'] = None; "
               "from zoo.cli import main; sys.argv = ['zoo'] + sys.argv[1:]; main()")  # fmt: skip
    for args in (["run", MODEL, str(IMAGES / "rocket.jpg"), "--labels", LABELS, "--json"],
                 ["embed", MODEL, "--text", "a rocket", "--json"]):  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", blocker, *args, "--artifacts", str(zoo_home / "board-export"),
                               "--threads", "1"], capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-1500:]
        assert "torch" not in proc.stderr and json.loads(proc.stdout)
