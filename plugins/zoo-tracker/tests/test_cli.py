"""The tracker tasks from the command line, end to end, on videos the tests render.

The fast tests run ByteTrack over a test-only detector that finds the videos' coloured shapes
(tests/shapes_plugin.py, installed as a third-party plugin), so the tracks can be checked
against ground truth without torch or an export. The slow ones run the real yolox-s (random
weights) and NanoTrack through export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from zoo.cli import cli
from zoo_tracker.mot import MotData, evaluate, read_mot

from .conftest import ShapesScene


def invoke(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    return res.exit_code, res.stdout, res.stderr


def ok(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 0, err + out
    return out


def one_error_line(code: int, err: str) -> str:
    """A user error: a non-zero exit and exactly one stderr line, 'zoo: error: ...', no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and lines[0].startswith("zoo: error: "), err
    assert "Traceback" not in err
    return lines[0]


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def mot_of(records: list[dict]) -> MotData:
    """JSON lines of zoo run as MOT rows (frame t = line t)."""
    rows = [(t, tr["id"], tr["box"][0], tr["box"][1], tr["box"][2] - tr["box"][0], tr["box"][3] - tr["box"][1],
             tr["score"]) for t, r in enumerate(records, start=1) for tr in r["tracks"]]  # fmt: skip
    a = np.asarray(rows, np.float64).reshape(-1, 7)
    return MotData(frames=a[:, 0].astype(np.int64), ids=a[:, 1].astype(np.int64), boxes=a[:, 2:6], conf=a[:, 6],
                   classes=np.full(len(a), -1.0), visibility=np.full(len(a), -1.0))  # fmt: skip


# -- ByteTrack over the shapes detector (fast) ---------------------------------------------------
def test_run_prints_json_lines_whose_tracks_follow_the_shapes(shapes_scene: ShapesScene, shapes_detector: str) -> None:
    out = ok("run", "bytetrack", shapes_scene.clip, "--detector", shapes_detector, "--json")
    records = json_lines(out)
    assert len(records) == shapes_scene.video.num_frames
    first = records[0]
    assert first["model"] == "bytetrack" and first["runtime"] == "shapes" and first["dtype"] == "fp32"
    assert first["frame"].endswith("clip.mp4#000000") and first["frame_number"] == 1
    assert set(first["tracks"][0]) == {"id", "box", "score", "class_id", "class"}
    assert first["tracks"][0]["class"] == "shape" and {"detector", "tracker"} <= set(first["times_ms"])
    scores = evaluate({"shapes": (shapes_scene.video.gt, mot_of(records))})["COMBINED"]
    # measured: HOTA 0.958 (H.264 moves the shapes' edges), MOTA 1, IDF1 1, no id switch
    assert scores["HOTA"] > 0.85 and scores["IDF1"] > 0.95 and scores["IDSW"] == 0


def test_run_draws_trails_into_a_video(shapes_scene: ShapesScene, shapes_detector: str, tmp_path: Path) -> None:
    from zoo.media import open_source

    target = tmp_path / "tracked.mp4"
    records = json_lines(ok("run", "bytetrack", shapes_scene.clip, "--detector", shapes_detector, "--json",
                            "-o", target))  # fmt: skip
    with open_source(target) as video, open_source(shapes_scene.clip) as clip:
        drawn, plain = [f.image for f in video], [f.image for f in clip]
    assert len(drawn) == len(plain) == len(records) and drawn[0].shape == plain[0].shape
    t = 20
    now = [tr["box"] for tr in records[t]["tracks"]]
    checked = 0
    for track in records[t]["tracks"]:  # the centres a track had a few frames ago, where nothing is now
        for k in range(t - 8, t - 2):
            box = next(tr["box"] for tr in records[k]["tracks"] if tr["id"] == track["id"])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if any(b[0] - 4 <= cx <= b[2] + 4 and b[1] - 4 <= cy <= b[3] + 4 for b in now):
                continue
            x, y = int(round(cx)), int(round(cy))
            diff = np.abs(drawn[t][y - 1:y + 2, x - 1:x + 2].astype(int) - plain[t][y - 1:y + 2, x - 1:x + 2]).sum(2)
            assert diff.max() > 100, (track["id"], k)  # measured 230..530: the trail's line
            checked += 1
    assert checked >= 3


def test_eval_scores_a_mot_folder_into_the_card(shapes_scene: ShapesScene, shapes_detector: str,
                                                 tmp_path: Path) -> None:  # fmt: skip
    from zoo.card import ModelCard

    cards = tmp_path / "eval-cards"
    out = json.loads(ok("eval", "bytetrack", "--detector", shapes_detector, "--data", shapes_scene.mot, "--json",
                        "--cards", cards, "--results", tmp_path / "results"))  # fmt: skip
    report = out["report"]
    metrics = {m["name"]: m["value"] for m in report["metrics"]}
    assert set(metrics) == {"HOTA", "MOTA", "IDF1"} and metrics["HOTA"] > 0.9 and metrics["IDF1"] > 0.95
    assert report["runtime"] == "shapes" and report["facts"]["parts"]["detector"]["model"] == "shape-finder"
    assert report["facts"]["sequences"]["shapes"]["frames"] == shapes_scene.video.num_frames
    assert "trackeval" in report["facts"]["library"]
    card = ModelCard.load(Path(out["card"]) / "card.json")
    assert card.model == "bytetrack" and {m.name for m in card.accuracy} == {"HOTA", "MOTA", "IDF1"}
    written = read_mot(tmp_path / "results" / "shapes.txt")
    assert written.num_frames == shapes_scene.video.num_frames and len(np.unique(written.ids)) == 4
    # --limit: the first 10 frames of each sequence
    limited = json.loads(ok("eval", "bytetrack", "--detector", shapes_detector, "--data", shapes_scene.mot,
                            "--limit", "10", "--json", "--cards", cards))["report"]  # fmt: skip
    assert limited["metrics"][0]["n"] == 10 and limited["facts"]["limit"] == "first 10 frames of each sequence"


def test_bench_times_detector_tracker_and_the_trackers_share(shapes_detector: str, tmp_path: Path) -> None:
    cards = tmp_path / "bench-cards"
    (card,) = json.loads(ok("bench", "bytetrack", "--detector", shapes_detector, "--threads", "1", "--runs", "3",
                            "--cards", cards, "--json"))  # fmt: skip
    assert card["model"] == "bytetrack" and card["runtime"] == "shapes"
    assert card["components"]["detector"]["model"] == "shape-finder" and card["input_resolution"] == "240x320x3"
    measures = card["results"][0]["measures"]
    assert set(measures) == {"model", "pipeline", "tracker", "tracker@50"}
    assert all(m["unit"] == "frame" and m["latency"]["runs"] == 3 for m in measures.values())
    assert "50 objects" in measures["tracker@50"]["description"]
    table = ok("table", "--cards", cards)
    assert "bytetrack" in table and "tracker@50 " in table and "with detector shape-finder" in table


# -- bad input: one line each ---------------------------------------------------------------------
def test_a_detector_id_that_is_not_a_detector(shapes_scene: ShapesScene) -> None:
    line = one_error_line(*invoke("run", "bytetrack", shapes_scene.clip, "--detector", "resnet18")[::2])
    assert "--detector resnet18: a classifier model, not a detector" in line
    line = one_error_line(*invoke("run", "bytetrack", shapes_scene.clip, "--detector", "no-such-net")[::2])
    assert "no-such-net" in line


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8],
                         ids=["empty", "undecodable"])  # fmt: skip
def test_a_video_that_cannot_be_decoded(shapes_detector: str, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    line = one_error_line(*invoke("run", "bytetrack", bad, "--detector", shapes_detector)[::2])
    assert str(bad) in line


def test_a_video_without_frames(shapes_detector: str, tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    empty = tmp_path / "noframes.mp4"
    with av.open(str(empty), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    line = one_error_line(*invoke("run", "bytetrack", empty, "--detector", shapes_detector)[::2])
    assert str(empty) in line


@pytest.mark.parametrize("args, expect", [
    (("--track-thresh", "1.5"), "--track-thresh 1.5: must be in (0, 1]"),
    (("--track-buffer", "-2"), "--track-buffer -2: must be 0 or more frames"),
    (("--frame-rate", "x"), "'x' is not a valid float"),
])  # fmt: skip
def test_bad_tracker_options(shapes_scene: ShapesScene, args: tuple[str, ...], expect: str) -> None:
    line = one_error_line(*invoke("run", "bytetrack", shapes_scene.clip, *args)[::2])
    assert expect in line


@pytest.mark.parametrize("value", ["1,2,3", "a,b,c,d", "10,10,0,5"])
def test_a_malformed_init_box(shapes_scene: ShapesScene, value: str) -> None:
    line = one_error_line(*invoke("run", "nanotrack", shapes_scene.clip, "--init", value)[::2])
    assert "--init" in line and "x,y,w,h" in line


@pytest.mark.parametrize("damage, expect", [
    (lambda seq: (seq / "gt" / "gt.txt").write_text("1,1,10,20,30,40,1,1,1\n1,2,10,20,-5,40,1,1,1\n"),
     "gt.txt:2: column 5 (width) is '-5': widths cannot be negative"),
    (lambda seq: (seq / "gt" / "gt.txt").write_text("1,1,10,abc,30,40,1,1,1\n"), "gt.txt:1: column 4 (top) is 'abc'"),
    (lambda seq: (seq / "gt" / "gt.txt").write_text("1,1,10,20\n"), "gt.txt:1: column 5 (width) is missing"),
    (lambda seq: (seq / "img1" / "000007.png").unlink(), "000007.png: missing frame 7 of 30"),
    (lambda seq: (seq / "seqinfo.ini").write_text("[Sequence]\nseqLength=30\n"), "[Sequence] has no imWidth"),
])  # fmt: skip
def test_bad_mot_data(shapes_scene: ShapesScene, damage: Any, expect: str) -> None:
    damage(shapes_scene.mot / "shapes")
    code, _, err = invoke("eval", "bytetrack", "--detector", "yolox-s", "--data", shapes_scene.mot)
    assert expect in one_error_line(code, err)


def test_nanotrack_has_no_int8(isolated: Path) -> None:
    code, _, err = invoke("verify", "nanotrack", "--arm", "--dtype", "int8")
    assert "unknown dtype int8 for nanotrack on ncnn; choose from fp32, fp16" in one_error_line(code, err)
    code, _, err = invoke("export", "nanotrack", "--dtype", "int8", "--weights", "random")
    assert "choose from fp32, fp16" in one_error_line(code, err)


def test_no_mot_sequences(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    code, _, err = invoke("eval", "bytetrack", "--data", tmp_path / "nothing")
    assert "no sequence folders found" in one_error_line(code, err)


# -- the real networks (slow: exports) -------------------------------------------------------------
@pytest.mark.slow
def test_nanotrack_end_to_end(isolated: Path, tmp_path: Path) -> None:
    """Export (parity of both components through the predictor), run from --init, bench, bad --init.

    With the published checkpoint (ZOO_NANOTRACK_CKPT=path/to/nanotrackv3.pth) it also follows the
    textured patch: measured success 1.0 (IoU > 0.5 on all 60 frames, mean IoU 0.95)."""
    import os

    from zoo_tracker.sot.evaluate import iou_xywh
    from zoo_tracker.synth import textured_patch

    from .conftest import write_video

    ckpt = os.environ.get("ZOO_NANOTRACK_CKPT")
    weights = ckpt if ckpt and Path(ckpt).is_file() else "random"
    exported = json.loads(ok("export", "nanotrack", "--weights", weights, "--json"))
    assert set(exported["components"]) == {"template", "search"}
    parity = exported["parity"]
    assert parity["agreement"]["box_match"] == 1.0 and set(parity["components"]) == {"template", "search"}
    assert parity["max_abs_diff"] < (1e-2 if weights != "random" else 1e-3)  # measured 7e-4 / 2e-5

    frames, boxes = textured_patch(num_frames=60, size=(360, 480), patch=(48, 64), seed=0)
    clip = write_video(tmp_path / "patch.mp4", frames)
    init = ",".join(f"{v:g}" for v in boxes[0])
    records = json_lines(ok("run", "nanotrack", clip, "--init", init, "--weights", weights, "--json",
                            "-o", tmp_path / "followed.mp4"))  # fmt: skip
    assert len(records) == 60 and all(r["count"] == 1 and r["tracks"][0]["id"] == 1 for r in records)
    pred = np.array([r["tracks"][0]["box"] for r in records])
    iou = iou_xywh(np.c_[pred[:, :2], pred[:, 2:] - pred[:, :2]], boxes)
    assert iou[0] > 0.99  # the first frame is the --init box
    if weights != "random":
        assert (iou > 0.5).mean() >= 0.95 and iou.mean() > 0.85
    assert (tmp_path / "followed.mp4").stat().st_size > 0

    # (--json: no 'random weights' note on stderr beside the error)
    assert "--init x,y,w,h" in one_error_line(*invoke("run", "nanotrack", clip, "--weights", weights, "--json")[::2])
    line = one_error_line(*invoke("run", "nanotrack", clip, "--init", "900,10,40,40", "--weights", weights,
                                  "--json")[::2])  # fmt: skip
    assert "--init 900,10,40,40: the box must have a positive size and overlap the 480x360 frame" in line

    (card,) = json.loads(ok("bench", "nanotrack", "--weights", weights, "--threads", "1", "--runs", "3", "--json",
                            "--cards", tmp_path / "cards"))  # fmt: skip
    assert set(card["results"][0]["measures"]) == {"model", "pipeline", "template"}
    assert card["input_resolution"] == "template 3x127x127, search 3x255x255"


@pytest.mark.slow
def test_bytetrack_over_yolox_s(isolated: Path, shapes_scene: ShapesScene, tmp_path: Path) -> None:
    """The default detector (random weights: the tracks mean nothing, the pipeline is real)."""
    records = json_lines(ok("run", "bytetrack", shapes_scene.clip, "--weights", "random", "--json", "--threads", "1",
                            "--max-frames", "6", "-o", tmp_path / "out.mp4"))  # fmt: skip
    assert len(records) == 6 and records[0]["runtime"] == "ncnn" and records[0]["weights"] == "random"
    assert {"detector", "tracker"} <= set(records[0]["times_ms"])
    (card,) = json.loads(ok("bench", "bytetrack", "--weights", "random", "--threads", "1", "--runs", "3", "--json",
                            "--cards", tmp_path / "cards"))  # fmt: skip
    assert card["components"]["detector"]["model"] == "yolox-s" and card["runtime"] == "ncnn"
    measures = card["results"][0]["measures"]
    assert measures["tracker@50"]["latency"]["median_ms"] < measures["model"]["latency"]["median_ms"]
