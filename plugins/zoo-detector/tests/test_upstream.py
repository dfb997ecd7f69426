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


def _reference(which: str, x: np.ndarray, tmp_path: Path, *extra: str) -> dict[str, np.ndarray]:
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([_upstream_python(), str(SCRIPT), which, str(tmp_path / "x.npy"), str(tmp_path), *extra],
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


@pytest.mark.slow
def test_yolov8n_seg_equals_ultralytics(tmp_path: Path) -> None:
    """Network, mask maths and the whole pipeline against Ultralytics 8.4 on its own checkpoint."""
    from zoo.flows.parity import TorchSession
    from zoo.images import load_image, sample_image_paths
    from zoo.registry import get_registry
    from zoo.results import InstanceMasks
    from zoo_detector.masks import instance_masks
    from zoo_detector.processing import network_size
    from zoo_detector.segment import mask_iou_matrix

    photo = next(p for p in sample_image_paths() if p.name == "chelsea.jpg")  # 451x300: a 448x640 rectangle
    x = np.random.default_rng(0).random((1, 3, 352, 480), dtype=np.float32)
    ref = _reference("yolov8n-seg", x, tmp_path, str(photo))
    spec = plugin._yolov8n_seg()
    assert int(ref["params"]) == 3_409_968
    model = plugin.build_model(spec=spec, weights=str(tmp_path / "checkpoint.pt"))
    assert list(model.state_dict()) == [str(k) for k in ref["keys"]]  # key for key, in order
    with torch.no_grad():
        raw, proto = (t.numpy() for t in model(torch.from_numpy(x)))
    np.testing.assert_allclose(raw, ref["raw"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(proto, ref["proto"], atol=1e-4, rtol=1e-4)
    # 1. masks from Ultralytics' own coefficients and boxes: process_mask_native, pixel for pixel
    orig = tuple(int(v) for v in ref["x_orig"])
    crops, origins = instance_masks(ref["x_coefficients"], ref["proto"][0], ref["x_boxes_orig"], orig)
    n = len(crops)
    mine = InstanceMasks(boxes=ref["x_boxes_orig"], scores=np.ones(n, np.float32), class_ids=np.zeros(n, np.int64),
                         image_shape=orig, mask_crops=crops, mask_origins=origins).dense_masks()  # fmt: skip
    assert n >= 5 and mine.shape == ref["x_native_masks"].shape
    assert (mine != ref["x_native_masks"]).sum() <= max(3, mine.size // 10**6)  # float rounding at logit 0 only
    # 2. the whole pipeline on the photo (rectangular letterbox, as Ultralytics runs a PyTorch model)
    image = load_image(photo)
    assert network_size(image.shape[:2], spec.pre, rect=True) == tuple(int(v) for v in ref["letterbox_shape"])
    predictor = get_registry().task("segmenter").build_predictor(spec, {"model": TorchSession(model, spec.component)})
    got = predictor(image, conf=float(ref["conf"]), iou=float(ref["iou"]))
    assert len(ref["scores"]) >= 5 and abs(len(got) - len(ref["scores"])) <= 1
    theirs = np.concatenate((ref["boxes"], ref["scores"][:, None], ref["classes"][:, None]), 1)
    ours = np.concatenate((got.boxes, got.scores[:, None], got.class_ids[:, None]), 1)
    # zoo resizes with ncnn's fixed-point bilinear, Ultralytics with OpenCV's: within a grey level
    gap = np.abs(theirs[:, None, :4] - ours[None, :, :4]).max(2)
    gap[theirs[:, None, 5] != ours[None, :, 5]] = np.inf
    assert (gap.min(1) < 1.0).mean() >= 0.9
    reference = InstanceMasks(boxes=ref["boxes"], scores=ref["scores"], class_ids=ref["classes"],
                              image_shape=image.shape[:2], mask_crops=tuple(ref["masks"]),
                              mask_origins=np.zeros((len(ref["masks"]), 2), np.int64))  # fmt: skip
    best = mask_iou_matrix(reference, got).max(1)
    assert best.mean() > 0.97, best
