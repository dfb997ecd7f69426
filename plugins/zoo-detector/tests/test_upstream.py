"""Equivalence with the upstream implementations, on checkpoints the upstreams write themselves.

ultralytics and torchvision do not import beside the pinned torch 2.13 (FACTS.md), so the
upstream side runs in another Python: set ZOO_UPSTREAM_PYTHON to one with ultralytics and
torchvision (e.g. a venv with torch 2.14.1 + torchvision 0.29.1 + ultralytics). Without it these
tests skip and say so. YOLOX has no upstream check here (Megvii's yolox package does not install
beside either torch); see test_nets.py for its key layout, shapes and parameter count.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.images import sample_images  # noqa: E402
from zoo_detector import plugin  # noqa: E402
from zoo_detector.decode import DECODERS  # noqa: E402
from zoo_detector.letterbox import letterbox  # noqa: E402
from zoo_detector.nms import nms  # noqa: E402

SCRIPT = Path(__file__).with_name("upstream_reference.py")


def _upstream_python() -> str:
    exe = os.environ.get("ZOO_UPSTREAM_PYTHON")
    probe = "import ultralytics, torchvision"
    for candidate in ([exe] if exe else []) + [sys.executable]:
        ok = subprocess.run([candidate, "-c", probe], capture_output=True, env=_env()).returncode == 0
        if ok:
            return candidate
    pytest.skip("ultralytics + torchvision are not importable here (torchvision does not import beside "
                "torch 2.13); set ZOO_UPSTREAM_PYTHON to a Python that has them")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "zoo-yolo-config"))
    env["YOLO_OFFLINE"] = "1"
    return env


def _reference(which: str, x: np.ndarray, tmp_path: Path) -> dict[str, np.ndarray]:
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([_upstream_python(), str(SCRIPT), which, str(tmp_path / "x.npy"), str(tmp_path)],
                          capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(np.load(tmp_path / "reference.npz"))


def _compare_detections(spec_id: str, raw: np.ndarray, ref: dict[str, np.ndarray], hw: tuple[int, int],
                        max_det: int) -> None:
    spec = plugin._yolov8n() if spec_id == "yolov8n" else plugin._fcos()
    cand = DECODERS[spec.post.decoder](raw, hw, spec.post.params, float(ref["conf"]))
    keep = nms(cand.boxes, cand.scores, float(ref["iou"]), cand.classes, max_det)
    mine = np.concatenate((cand.boxes[keep], cand.scores[keep, None], cand.classes[keep, None]), 1)
    theirs = ref["det"]
    assert len(theirs) >= 5 and abs(len(mine) - len(theirs)) <= max(1, len(theirs) // 100)
    _assert_same_set(mine, theirs)


def _assert_same_set(mine: np.ndarray, theirs: np.ndarray, exact_count: bool = False) -> None:
    """Rows (x1, y1, x2, y2, score, class) match as sets: near-equal scores may come in either order."""
    if exact_count:
        assert len(mine) == len(theirs)
    box_gap = np.abs(theirs[:, None, :4] - mine[None, :, :4]).max(2)
    box_gap[theirs[:, None, 5] != mine[None, :, 5]] = np.inf
    best = box_gap.argmin(1)
    matched = box_gap[np.arange(len(theirs)), best] < 0.05
    assert matched.mean() >= 0.95, f"{(~matched).sum()} of {len(theirs)} upstream detections unmatched"
    np.testing.assert_allclose(mine[best[matched], 4], theirs[matched, 4], atol=1e-4)


@pytest.mark.slow
def test_yolov8n_equals_ultralytics(tmp_path: Path) -> None:
    canvas, _ = letterbox(sample_images(1)[0], (320, 320))
    x = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32) / 255
    ref = _reference("yolov8n", x, tmp_path)
    assert int(ref["params"]) == 3_157_200
    model = plugin.build_model(spec=plugin._yolov8n(), weights=str(tmp_path / "checkpoint.pt"))
    with torch.no_grad():
        raw = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(raw, ref["raw"], atol=1e-4, rtol=1e-4)
    # 1. our numpy decode reproduces Ultralytics' decoded candidates (DFL, anchors, sigmoid)
    spec = plugin._yolov8n()
    conf = float(ref["conf"])
    cand = DECODERS["yolov8"](raw[0], (320, 320), spec.post.params, conf)
    y = ref["decoded"][0]
    sel = y[4:].max(0) > conf
    xywh = y[:4, sel].T
    boxes = np.concatenate((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
    theirs = np.concatenate((boxes, y[4:, sel].max(0)[:, None], y[4:, sel].argmax(0)[:, None]), 1)
    assert abs(len(cand.scores) - len(theirs)) <= 1
    mine = np.concatenate((cand.boxes, cand.scores[:, None], cand.classes[:, None]), 1)
    _assert_same_set(mine, theirs)
    # 2. our NMS on Ultralytics' own candidates keeps what Ultralytics' NMS keeps
    keep = nms(theirs[:, :4], theirs[:, 4], float(ref["iou"]), theirs[:, 5].astype(np.int64), 300)
    _assert_same_set(theirs[keep], ref["det"], exact_count=True)


@pytest.mark.slow
def test_fcos_equals_torchvision(tmp_path: Path) -> None:
    spec = plugin._fcos()
    canvas, _ = letterbox(sample_images(1)[0], (320, 320))
    x = (canvas.astype(np.float32) / 255 - np.asarray(spec.pre.mean, np.float32)) / np.asarray(spec.pre.std, np.float32)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    ref = _reference("fcos", x, tmp_path)
    assert int(ref["params"]) == 32_269_600
    model = plugin.build_model(spec=spec, weights=str(tmp_path / "checkpoint.pt"))
    with torch.no_grad():
        raw = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(raw, ref["raw"], atol=1e-3, rtol=1e-3)
    _compare_detections("fcos", raw[0], ref, (320, 320), int(ref["max_det"]))


@pytest.mark.slow
def test_yolov8n_pose_equals_ultralytics(tmp_path: Path) -> None:
    from zoo_detector import pose
    from zoo_detector.pose_decode import decode_yolov8_pose

    canvas, _ = letterbox(sample_images(1)[0], (320, 320))
    x = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32) / 255
    ref = _reference("yolov8n-pose", x, tmp_path)
    assert int(ref["params"]) == 3_295_470 and tuple(ref["kpt_shape"]) == (17, 3)
    spec = pose.yolov8n_pose_spec()
    model = plugin.build_model(spec=spec, weights=str(tmp_path / "checkpoint.pt"))
    with torch.no_grad():
        raw = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(raw, ref["raw"], atol=1e-4, rtol=1e-4)
    # 1. our numpy decode reproduces Ultralytics' decoded candidates: boxes, scores, 17 × (x, y, visibility)
    conf = float(ref["conf"])
    cand = decode_yolov8_pose(raw[0], (320, 320), spec.post.params, conf)
    y = ref["decoded"][0]
    sel = np.flatnonzero(y[4] > conf)
    assert abs(len(cand.scores) - len(sel)) <= 1
    xywh = y[:4, sel].T
    theirs_boxes = np.concatenate((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
    theirs_kpts = y[5:, sel].T.reshape(-1, 17, 3)
    gap = np.abs(theirs_boxes[:, None] - cand.boxes[None]).max(2)
    best = gap.argmin(1)
    matched = gap[np.arange(len(sel)), best] < 0.05
    assert matched.mean() >= 0.99
    np.testing.assert_allclose(cand.scores[best[matched]], y[4, sel][matched], atol=1e-5)
    np.testing.assert_allclose(cand.keypoints[best[matched]], theirs_kpts[matched, :, :2], atol=1e-3)
    np.testing.assert_allclose(cand.keypoint_scores[best[matched]], theirs_kpts[matched, :, 2], atol=1e-5)
    # 2. our NMS on Ultralytics' candidates keeps the people Ultralytics' NMS keeps, keypoints with them
    rows = np.concatenate((theirs_boxes, y[4, sel][:, None], np.zeros((len(sel), 1)), y[5:, sel].T), 1)
    keep = nms(rows[:, :4], rows[:, 4], float(ref["iou"]), None, 300)
    assert len(ref["det"]) >= 20 and len(sel) >= 200
    _assert_same_set(rows[keep, :6], ref["det"][:, :6], exact_count=True)
    order = np.lexsort((rows[keep, 0], -rows[keep, 4]))
    theirs = ref["det"][np.lexsort((ref["det"][:, 0], -ref["det"][:, 4]))]
    np.testing.assert_allclose(rows[keep][order, 6:], theirs[:, 6:], atol=1e-4)
