"""The pose task from the command line, as a user runs it (a subprocess per command).

Fast: every bad input is one line before any export. Slow (--runslow): a detector checkpoint whose
person logit is raised (people everywhere) and an rtmpose-s checkpoint in mmpose's published
layout (legacy torch format, NumPy metadata) are exported once; then ``zoo run`` on an image, a
folder and a video (JSON lines, drawn skeletons), a frame with nobody in it, ``zoo eval`` with
ground-truth and detector boxes, and the int8 export's fidelity.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
PHOTO = ROOT / "zoo" / "data" / "images" / "astronaut.jpg"


def zoo(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env}, timeout=timeout)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode > 0, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("zoo: error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ZOO_CACHE": str(tmp_path / "cache"), "ZOO_CARDS_DIR": str(tmp_path / "cards")}


def test_a_top_down_model_without_a_detector_says_which_to_pass(env: dict[str, str], tmp_path: Path) -> None:
    line = one_line(zoo("run", "rtmpose-s", str(PHOTO), env=env))
    assert "rtmpose-s needs a detector" in line and "--detector MODEL" in line and "yolov8n" in line
    assert not (tmp_path / "cache" / "artifacts").exists()  # refused before any download or export


def test_a_detector_that_is_not_a_detector_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    line = one_line(zoo("run", "rtmpose-s", str(PHOTO), "--detector", "resnet18", "--weights", "random", env=env))
    assert "--detector resnet18: a classifier model, not a detector" in line
    line = one_line(zoo("bench", "rtmpose-s", "--detector", "resnet18", "--weights", "random", env=env))
    assert "not a detector" in line
    assert not (tmp_path / "cache" / "artifacts").exists()


def test_bad_keypoint_annotations_name_the_file_and_field(env: dict[str, str], tmp_path: Path) -> None:
    from zoo_pose.synthetic import make_keypoint_dataset

    path = make_keypoint_dataset(tmp_path / "data", n_images=2)
    doc = json.loads(path.read_text())
    doc["annotations"][0]["keypoints"] = doc["annotations"][0]["keypoints"][:-3]  # 16 keypoints, not 17
    path.write_text(json.dumps(doc))
    line = one_line(zoo("eval", "rtmpose-s", "--data", str(tmp_path / "data"), "--weights", "random", env=env))
    assert str(path) in line and "keypoints" in line
    path.write_text("{not json")
    assert str(path) in one_line(zoo("eval", "rtmpose-s", "--data", str(tmp_path / "data"), env=env))


# -- slow: real exports ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Checkpoints a user would have (a detector that sees people everywhere; rtmpose-s in mmpose's
    published layout), the detector exported once; the environment for every command."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("pnnx")
    from zoo.registry import seed_everything
    from zoo_detector.nets.common import randomize as randomize_detector
    from zoo_detector.nets.yolov8 import yolov8n
    from zoo_pose.nets.rtmpose import randomize, rtmpose_s

    root = tmp_path_factory.mktemp("pose-cli")
    env = {"ZOO_CACHE": str(root / "cache"), "ZOO_CARDS_DIR": str(root / "cards")}
    seed_everything(0)
    det = randomize_detector(yolov8n(), seed=0).eval()
    with torch.no_grad():
        for branch in det.model[-1].cv3:
            branch[-1].bias[0] += 8.0  # class 0 is 'person': every frame is full of people
    torch.save(det.state_dict(), root / "people-everywhere.pt")
    pose = randomize(rtmpose_s(), seed=3).eval()
    meta = {"dataset_meta": {"sigmas": np.full(17, 0.05, np.float32), "num_keypoints": np.int64(17)}}
    torch.save({"meta": meta, "state_dict": OrderedDict(pose.state_dict())}, root / "rtmpose-s.pth",
               _use_new_zipfile_serialization=False)  # what mmpose's publish_model writes
    proc = zoo("export", "yolov8n", "--weights", str(root / "people-everywhere.pt"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "env": env, "weights": str(root / "rtmpose-s.pth")}


def _limb_pixels(path: Path) -> int:
    """Pixels in the skeleton's left-limb green (0, 255, 0), allowing for JPEG."""
    from PIL import Image

    out = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int(((out[..., 1] > 190) & (out[..., 0] < 90) & (out[..., 2] < 90)).sum())


@pytest.mark.slow
def test_run_image_folder_and_video(exported: dict[str, Any]) -> None:
    from PIL import Image

    from zoo.images import load_image
    from zoo.media import Frame, VideoSink

    root, env, weights = exported["root"], exported["env"], exported["weights"]
    common = ["--weights", weights, "--detector", "yolov8n", "--max-people", "2"]
    # one image: JSON with people, each 17 keypoints; -o draws boxes and skeletons
    proc = zoo("run", "rtmpose-s", str(PHOTO), *common, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["count"] == 2 and all(len(p["keypoints"]) == 17 for p in out["people"])
    assert out["times_ms"]["detector"] > 0 and out["weights"].endswith("rtmpose-s.pth")
    proc = zoo("run", "rtmpose-s", str(PHOTO), *common, "-o", str(root / "out.jpg"), env=env)
    assert proc.returncode == 0 and "person 1" in proc.stdout, proc.stderr
    assert _limb_pixels(root / "out.jpg") > 100 and _limb_pixels(PHOTO) < 10  # skeletons drawn
    # a folder: one JSON line per image
    (root / "frames").mkdir()
    for i, image in enumerate((load_image(PHOTO), load_image(PHOTO)[:, ::-1])):
        Image.fromarray(np.ascontiguousarray(image)).save(root / "frames" / f"{i}.png")
    proc = zoo("run", "rtmpose-s", str(root / "frames"), *common, "--json", env=env)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and len(lines) == 2 and all(r["count"] == 2 for r in lines), proc.stderr
    # a video: JSON lines per frame, an annotated video out
    pytest.importorskip("av")
    with VideoSink(root / "clip.mp4", 5) as sink:
        for i in range(3):
            frame = np.ascontiguousarray(load_image(PHOTO)[::2, ::2])
            sink.write(Frame(frame, i, f"clip#{i}"), frame)
    proc = zoo("run", "rtmpose-s", str(root / "clip.mp4"), *common, "--json", "-o", str(root / "out.mp4"), env=env)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and [r["frame"] for r in lines] == [f"{root / 'clip.mp4'}#{i:06d}" for i in range(3)]
    assert (root / "out.mp4").stat().st_size > 1000


@pytest.mark.slow
def test_a_frame_with_nobody_is_an_empty_result(exported: dict[str, Any]) -> None:
    env, weights = exported["env"], exported["weights"]
    proc = zoo("run", "rtmpose-s", str(PHOTO), "--weights", weights, "--detector", "yolov8n", "--person-conf", "1.0",
               "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["count"] == 0 and out["people"] == []
    proc = zoo("run", "rtmpose-s", str(PHOTO), "--weights", weights, "--detector", "yolov8n", "--person-conf", "1.0",
               env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "no people"


@pytest.mark.slow
def test_eval_with_ground_truth_and_detector_boxes_says_which(exported: dict[str, Any]) -> None:
    from zoo_pose.synthetic import make_keypoint_dataset

    root, env, weights = exported["root"], exported["env"], exported["weights"]
    make_keypoint_dataset(root / "kp", n_images=4, seed=5)
    proc = zoo("eval", "rtmpose-s", "--data", str(root / "kp"), "--weights", weights, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["report"]
    assert report["facts"]["boxes"].startswith("ground-truth boxes")
    assert {m["name"] for m in report["metrics"]} >= {"keypoint AP (GT boxes)"}
    proc = zoo("eval", "rtmpose-s", "--data", str(root / "kp"), "--weights", weights, "--boxes", "detector",
               "--detector", "yolov8n", "--max-people", "3", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["report"]
    assert report["facts"]["boxes"].startswith("detector yolov8n fp32")
    assert {m["name"] for m in report["metrics"]} >= {"keypoint AP (yolov8n boxes)"}
    card = next((root / "cards").glob("rtmpose-s__ncnn-fp32__*/card.json"))
    assert json.loads(card.read_text())["extra"]["eval"]["boxes"].startswith("detector yolov8n")
    line = one_line(zoo("eval", "rtmpose-s", "--data", str(root / "kp"), "--weights", weights, "--boxes", "detector",
                        env=env))
    assert "pass --detector MODEL" in line


@pytest.mark.slow
def test_int8_export_calibrates_on_person_crops_and_states_its_fidelity(exported: dict[str, Any]) -> None:
    env, weights = exported["env"], exported["weights"]
    proc = zoo("export", "rtmpose-s", "--weights", weights, "--dtype", "int8", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)
    assert m["extra"]["calibration"] == "13 items of the pose task's calibration set"
    agree = m["parity"]["agreement"]
    assert m["parity"]["inputs"] == "the pose task's parity inputs" and agree["reference_people"] == 9
    # int8 keypoints scored against fp32 ones: present and in range (a random network's int8 error
    # is large; trained models are far better: see the README)
    assert 0.0 <= agree["keypoint_ap_vs_reference"] <= 1.0 and 0.0 < agree["mean_oks"] <= 1.0


@pytest.mark.slow
def test_bench_task_pose_times_every_model_with_1_and_5_people(env: dict[str, str], tmp_path: Path) -> None:
    """``zoo bench --task pose``: rtmpose-s, blazepose-lite, yolov8n-pose and the detector + pose
    solution, each with a model-only probe and frames with 1 and 5 people; then the solution on
    a frame where its (random) detector finds nobody, and ARM parity of rtmpose-s."""
    pytest.importorskip("pnnx")
    cards = tmp_path / "pose-cards"
    proc = zoo("bench", "--task", "pose", "--weights", "random", "--threads", "1", "--runs", "3", "--warmup", "1",
               "--cards", str(cards), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    by_model = {c["model"]: c for c in json.loads(proc.stdout)}
    assert set(by_model) == {"rtmpose-s", "blazepose-lite", "yolov8n-pose", "rtmpose-s-person"}
    for model, card in by_model.items():
        measures = card["results"][0]["measures"]
        assert set(measures) == {"model", "pipeline", "people:1", "people:5"}, model
        assert measures["people:5"]["unit"] == "frame" and "5 people" in measures["people:5"]["description"]
    solution = by_model["rtmpose-s-person"]
    assert solution["components"]["detector"]["model"] == "yolov8n"
    assert solution["components"]["pose"]["model"] == "rtmpose-s"
    assert "detector" in solution["results"][0]["measures"]["people:5"]["description"]
    top_down = by_model["rtmpose-s"]["results"][0]["measures"]
    # five crops cost more than one (ratio bounded loosely: the machine is shared)
    assert top_down["people:5"]["latency"]["min_ms"] > 2 * top_down["people:1"]["latency"]["min_ms"]
    table = zoo("table", "--cards", str(cards), env=env)
    assert "people:5" in table.stdout and "rtmpose-s-person" in table.stdout
    # the solution on a frame where its random detector finds nobody: an empty result
    proc = zoo("run", "rtmpose-s-person", str(PHOTO), "--weights", "random", "--json", env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["count"] == 0, proc.stderr
    # x86 vs emulated ARM (cortex-a76) through the pose predictor
    from zoo.verify import arm

    if arm.emulation_unsupported_reason():
        pytest.skip(arm.emulation_unsupported_reason())
    proc = zoo("verify", "rtmpose-s", "--arm", "--weights", "random", "--dtype", "fp32", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "mean_oks" in proc.stdout
