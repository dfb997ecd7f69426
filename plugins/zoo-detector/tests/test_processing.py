"""Letterbox, decoders, NMS, results: pure numpy, no model."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.results import Detections
from zoo.specs import PreSpec
from zoo_detector import processing
from zoo_detector.decode import decode_fcos, decode_yolov8, decode_yolox, make_grid
from zoo_detector.letterbox import letterbox, letterbox_boxes, resize_bilinear, unletterbox_boxes
from zoo_detector.nms import _greedy_scan, box_iou, nms
from zoo_detector.plugin import _fcos, _yolov8n, _yolox_s
from zoo_detector.result import agreement


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- letterbox ---------------------------------------------------------------------------------
@pytest.mark.parametrize("hw", [(480, 640), (640, 480), (1, 1), (3, 4000), (4000, 3), (2000, 3000), (640, 640)])
def test_letterbox_round_trip(hw: tuple[int, int]) -> None:
    canvas, geo = letterbox(_image(*hw), (640, 640))
    assert canvas.shape == (640, 640, 3) and canvas.dtype == np.uint8
    nh, nw = geo.new_shape
    assert max(nh, nw) == 640 and nh >= 1 and nw >= 1
    h, w = hw
    boxes = np.array([[0, 0, w, h], [w * 0.25, h * 0.5, w * 0.75, h]], np.float32)
    back = unletterbox_boxes(letterbox_boxes(boxes, geo), geo)
    np.testing.assert_allclose(back, boxes, atol=1e-3 * max(hw))


def test_letterbox_pads_with_114_and_centres() -> None:
    canvas, geo = letterbox(np.zeros((320, 640, 3), np.uint8), (640, 640))
    assert (geo.top, geo.left, geo.new_shape) == (160, 0, (320, 640))
    assert (canvas[:160] == 114).all() and (canvas[480:] == 114).all() and (canvas[160:480] == 0).all()


def test_unletterbox_clips_to_image() -> None:
    _, geo = letterbox(np.zeros((100, 200, 3), np.uint8), (640, 640))
    out = unletterbox_boxes(np.array([[-50, -50, 700, 700]], np.float32), geo)
    np.testing.assert_array_equal(out, [[0, 0, 200, 100]])


def test_resize_matches_opencv_rule_on_upscale() -> None:
    img = np.array([[0, 100], [200, 250]], np.uint8)[..., None].repeat(3, 2)
    out = resize_bilinear(img, 4, 4)[..., 0]
    # half-pixel centres: first/last output pixels clamp to the source corners
    assert out[0, 0] == 0 and out[-1, -1] == 250 and out[0, 1] == 25


def test_preprocess_yolox_is_bgr_unscaled_and_fcos_is_normalised() -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    img[..., 0] = 200  # red
    x, ctx = processing.preprocess(img, _yolox_s().pre)
    assert x.shape == (1, 3, 640, 640) and x.dtype == np.float32
    assert x[0, 2, 320, 320] == 200 and x[0, 0, 320, 320] == 0  # BGR, 0..255
    y, _ = processing.preprocess(img, _fcos().pre)
    assert y[0, 0, 320, 320] == pytest.approx((200 / 255 - 0.485) / 0.229, rel=1e-5)
    z, _ = processing.preprocess(img[:32], _yolov8n().pre)  # 2:1, padded above and below
    assert z[0, 0, 320, 320] == pytest.approx(200 / 255) and z[0, 0, 0, 0] == pytest.approx(114 / 255)
    assert ctx["input_hw"] == (640, 640)


def test_other_preprocessing_kinds_are_refused_at_registration() -> None:
    from zoo.registry import get_registry

    task = get_registry().task("detector")
    bad = _yolov8n().model_copy(update={"pre": PreSpec(kind="resize", size=(64, 64))})
    problem = task.spec_problem(bad)
    assert problem is not None and "'resize'" in problem and "letterbox" in problem


# -- decoders on hand-built heads ----------------------------------------------------------------
def _anchor(grid: object, stride: int, x: float, y: float) -> int:
    p, s = grid.points, grid.strides  # type: ignore[attr-defined]
    return int(np.flatnonzero((p[:, 0] == x) & (p[:, 1] == y) & (s == stride))[0])


def test_decode_yolov8_known_box() -> None:
    spec = _yolov8n()
    grid = make_grid((640, 640), (8, 16, 32), 0.5)
    raw = np.full((144, 8400), -20.0, np.float32)
    a = _anchor(grid, 16, 16 * 10 + 8, 16 * 5 + 8)  # stride-16 cell (row 5, col 10), centre (168, 88)
    raw[:64, a] = -50.0
    for side, dist in enumerate((2, 3, 4, 5)):  # one-hot DFL bins: exact distances in stride units
        raw[side * 16 + dist, a] = 50.0
    raw[64 + 17, a] = 3.0  # class 17 (horse)
    cand = decode_yolov8(raw, (640, 640), spec.post.params, 0.25)
    assert cand.classes.tolist() == [17]
    np.testing.assert_allclose(cand.boxes[0], [168 - 32, 88 - 48, 168 + 64, 88 + 80], atol=1e-3)
    assert cand.scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-5)


def test_decode_yolox_known_box() -> None:
    spec = _yolox_s()
    grid = make_grid((640, 640), (8, 16, 32), 0.0)
    raw = np.full((85, 8400), -20.0, np.float32)
    a = _anchor(grid, 32, 32 * 3, 32 * 7)  # stride-32 cell (row 7, col 3)
    raw[:4, a] = [0.5, 0.25, np.log(4.0), np.log(2.0)]
    raw[4, a], raw[5 + 2, a] = 4.0, 4.0  # objectness and class 2 (car)
    cand = decode_yolox(raw, (640, 640), spec.post.params, 0.25)
    cx, cy, w, h = (3 + 0.5) * 32, (7 + 0.25) * 32, 4 * 32, 2 * 32
    np.testing.assert_allclose(cand.boxes[0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], atol=1e-3)
    assert cand.classes.tolist() == [2]
    assert cand.scores[0] == pytest.approx((1 / (1 + np.exp(-4.0))) ** 2, rel=1e-5)


def test_decode_fcos_known_box_multilabel() -> None:
    spec = _fcos()
    grid = make_grid((640, 640), (8, 16, 32, 64, 128), 0.0)
    assert len(grid.points) == spec.component.outputs[0].shape[2] == 8525
    raw = np.full((96, 8525), -20.0, np.float32)
    a = _anchor(grid, 64, 64 * 4, 64 * 2)  # P6 cell (row 2, col 4) → point (256, 128)
    raw[:4, a] = [1.0, 0.5, 2.0, 1.5]
    raw[4, a] = 2.0
    raw[5 + 1, a], raw[5 + 3, a] = 3.0, 1.0  # person and car
    cand = decode_fcos(raw, (640, 640), spec.post.params, 0.2)
    order = np.argsort(-cand.scores)
    assert cand.classes[order].tolist() == [1, 3]
    np.testing.assert_allclose(cand.boxes[order[0]], [256 - 64, 128 - 32, 256 + 128, 128 + 96], atol=1e-3)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    assert cand.scores[order[0]] == pytest.approx(np.sqrt(sig(3.0) * sig(2.0)), rel=1e-5)


def test_decoders_reject_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="anchors"):
        decode_yolov8(np.zeros((144, 100), np.float32), (640, 640), _yolov8n().post.params, 0.25)


# -- NMS -----------------------------------------------------------------------------------------
def _brute_nms(boxes: np.ndarray, scores: np.ndarray, thr: float, classes: np.ndarray) -> np.ndarray:
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(classes[i] != classes[j] or box_iou(boxes[i : i + 1], boxes[j : j + 1])[0, 0] <= thr for j in kept):
            kept.append(int(i))
    return np.array(kept, dtype=np.intp)


@pytest.mark.parametrize("n", [0, 1, 7, 60, 250])
def test_nms_matches_brute_force(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(5):
        xy = rng.uniform(-20, 300, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 80, (n, 2))], 1).astype(np.float32)
        scores = rng.random(n).astype(np.float32)
        classes = rng.integers(0, 3, n)
        np.testing.assert_array_equal(nms(boxes, scores, 0.45, classes), _brute_nms(boxes, scores, 0.45, classes))


def test_nms_long_chain_uses_greedy_scan_and_matches_brute_force() -> None:
    # boxes sliding by one pixel: each suppresses the next, a chain longer than the fixpoint budget
    n = 80
    x = np.arange(n, dtype=np.float32) * 3
    boxes = np.stack([x, np.zeros(n), x + 10, np.full(n, 10)], 1).astype(np.float32)
    scores = np.linspace(1, 0.1, n).astype(np.float32)
    classes = np.zeros(n, np.int64)
    ref = _brute_nms(boxes, scores, 0.3, classes)
    np.testing.assert_array_equal(nms(boxes, scores, 0.3, classes), ref)
    np.testing.assert_array_equal(nms(boxes, scores, 0.3, classes, max_det=5), ref[:5])
    assert _greedy_scan(np.zeros((0, 0), bool), 10).size == 0


def test_nms_is_class_aware() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.5, np.array([0, 1])).tolist() == [0, 1]
    assert nms(boxes, scores, 0.5, np.array([4, 4])).tolist() == [0]


# -- postprocess, results ------------------------------------------------------------------------
def test_zero_detections_is_an_empty_result() -> None:
    spec = _yolov8n()
    x, ctx = processing.preprocess(_image(50, 70), spec.pre)
    det = processing.postprocess({"out0": np.full((1, 144, 8400), -30.0, np.float32)}, ctx, spec, {})
    assert len(det) == 0 and det.to_dict()["detections"] == [] and det.summary() == "no detections"
    assert det.draw(_image(50, 70)).shape == (50, 70, 3)


def test_postprocess_maps_boxes_to_original_pixels_and_honours_options() -> None:
    spec = _yolox_s()
    image = _image(320, 640)  # letterboxed at ratio 1, 160 px of padding on top
    _, ctx = processing.preprocess(image, spec.pre)
    grid = make_grid((640, 640), (8, 16, 32), 0.0)
    raw = np.full((85, 8400), -20.0, np.float32)
    a = _anchor(grid, 32, 32 * 5, 32 * 10)
    raw[:4, a] = [0.0, 0.0, np.log(2.0), np.log(2.0)]
    raw[4, a], raw[5, a] = 1.0, 1.0  # score sigmoid(1)^2 = 0.53
    det = processing.postprocess({"whatever": raw[None]}, ctx, spec, {"conf": None})
    assert det.names == ("person",)
    np.testing.assert_allclose(det.boxes[0], [160 - 32, 320 - 160 - 32, 160 + 32, 320 - 160 + 32], atol=1e-3)
    assert len(processing.postprocess({"out0": raw[None]}, ctx, spec, {"conf": 0.6})) == 0
    d = det.to_dict()
    assert d["count"] == 1 and d["image_size"] == {"height": 320, "width": 640}
    assert "person" in det.summary()
    drawn = det.draw(image)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)


def test_labels() -> None:
    assert len(processing.labels("coco")) == 80 and processing.labels("coco")[0] == "person"
    coco91 = processing.labels("coco91")
    assert len(coco91) == 91 and coco91[1] == "person" and coco91[90] == "toothbrush"


def _det(boxes: list[list[float]], scores: list[float], classes: list[int]) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                      np.array(classes, np.int64), tuple(str(c) for c in classes))


def test_agreement() -> None:
    ref = [_det([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [1, 2]), _det([], [], [])]
    same = agreement(ref, ref)
    assert same == {"box_match": 1.0, "box_match_reverse": 1.0, "mean_iou": 1.0, "max_score_diff": 0.0,
                    "reference_boxes": 2.0, "map_vs_reference": 1.0}
    cand = [_det([[0, 0, 10, 11], [20, 20, 30, 30], [50, 50, 60, 60]], [0.85, 0.8, 0.5], [1, 3, 1]), _det([], [], [])]
    got = agreement(ref, cand)
    assert got["box_match"] == 0.5  # the second box changed class
    assert got["box_match_reverse"] == pytest.approx(1 / 3)
    assert got["mean_iou"] == pytest.approx(10 / 11, rel=1e-5)
    assert got["max_score_diff"] == pytest.approx(0.05, abs=1e-6)
    # class 2's only box became class 3: class 2 scores 0; class 1 keeps its box (IoU 10/11)
    assert got["map_vs_reference"] == pytest.approx(0.45, abs=1e-3)  # class 1: AP 0.9 (IoU 10/11 < .95)
    assert agreement([_det([], [], [])], [_det([], [], [])])["box_match"] == 1.0
    assert agreement([], []) == {}
    # a box clipped flat at the image edge matches nothing, not even itself: left out on both sides
    flat = [_det([[0, 0, 10, 10], [5, 0, 9, 0]], [0.9, 0.95], [1, 1])]
    assert agreement(flat, flat) == {"box_match": 1.0, "box_match_reverse": 1.0, "mean_iou": 1.0,
                                     "max_score_diff": 0.0, "reference_boxes": 1.0, "map_vs_reference": 1.0}


@pytest.mark.parametrize("hw", [(480, 640), (640, 480), (1, 1), (3, 4000), (2000, 3000), (333, 517), (640, 640)])
def test_ncnn_letterbox_blob_matches_the_numpy_reference(hw: tuple[int, int]) -> None:
    from zoo_detector.letterbox import letterbox_blob

    img = _image(*hw, seed=sum(hw))
    ref, geo = letterbox(img, (640, 640))
    blob, geo2 = letterbox_blob(img, (640, 640), scale=1.0)
    assert geo2 == geo and blob.shape == (3, 640, 640) and blob.dtype == np.float32
    diff = np.abs(blob - ref.transpose(2, 0, 1).astype(np.float32))
    # OpenCV-style fixed-point bilinear (ncnn) vs float bilinear (numpy): at most one grey level
    assert diff.max() <= 1.0 and diff.mean() < 0.5
    bgr, _ = letterbox_blob(img[::-1, ::-1], (640, 640), bgr=True, scale=1.0)  # non-contiguous input
    ref_bgr, _ = letterbox(np.ascontiguousarray(img[::-1, ::-1]), (640, 640))
    assert np.abs(bgr - ref_bgr[..., ::-1].transpose(2, 0, 1)).max() <= 1.0


@pytest.mark.parametrize("hw", [(608, 810), (720, 1280), (333, 517), (1000, 37)])
def test_padded_normalised_blob_matches_the_numpy_reference(hw: tuple[int, int]) -> None:
    """Rectangles, padding and mean/std (FCOS-style): the fast path's padding is written after the
    normalisation, so the pad value must come out normalised exactly as the pixels are."""
    from zoo_detector.letterbox import letterbox_blob

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    img = _image(*hw, seed=7)
    for stride in (0, 32):
        ref, geo = letterbox(img, (640, 640), stride=stride)
        blob, geo2 = letterbox_blob(img, (640, 640), scale=1 / 255, mean=mean, std=std, stride=stride)
        assert geo2 == geo and blob.shape == (3, *geo.canvas) and blob.flags.c_contiguous
        want = (ref.transpose(2, 0, 1) / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
        assert np.abs(blob - want).max() <= 1.0 / 255 / min(std) + 1e-5  # one grey level, normalised
        pad = np.ones(geo.canvas, bool)
        pad[geo.top : geo.top + geo.new_shape[0], geo.left : geo.left + geo.new_shape[1]] = False
        if pad.any():
            np.testing.assert_allclose(blob[:, pad], want[:, pad], atol=1e-5)  # padding exact


def test_division_free_iou_test_matches_box_iou() -> None:
    from zoo_detector.nms import iou_above

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 600, (300, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(0, 80, (300, 2)).astype(np.float32)], 1)
    boxes[:5, 2:] = boxes[:5, :2]  # degenerate boxes: zero area, never above any threshold
    for t in (0.3, 0.45, 0.7):
        np.testing.assert_array_equal(iou_above(boxes, t), box_iou(boxes, boxes) > t)


def test_exact_score_ties_break_by_anchor_whatever_the_threshold() -> None:
    # letterbox padding gives identical logits at many anchors: the boxes kept above a high
    # threshold must be the same whether the candidates were cut at that threshold or far below
    spec = _yolov8n()
    rng = np.random.default_rng(5)
    raw = rng.normal(0, 1, (144, 8400)).astype(np.float32)
    raw[64:] -= 6.0
    raw[64 + 7, rng.choice(8400, 600, replace=False)] = 0.0  # 600 anchors tied at score 0.5 for class 7
    _, ctx = processing.preprocess(_image(640, 640), spec.pre)
    high = processing.postprocess({"out0": raw[None]}, ctx, spec, {"conf": 0.4, "iou": 0.45, "max_det": 300})
    low = processing.postprocess({"out0": raw[None]}, ctx, spec, {"conf": 0.001, "iou": 0.45, "max_det": 300})
    sel = low.scores >= 0.4
    assert len(high) > 10 and np.all(high.scores == np.float32(0.5))
    np.testing.assert_array_equal(low.boxes[sel], high.boxes)
