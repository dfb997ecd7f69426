"""Instance segmentation without a model: mask maths, post-processing, the result type, agreement,
the mask evaluator on a set these tests draw, and rectangular letterboxing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.results import InstanceMasks
from zoo_detector import segment
from zoo_detector.letterbox import letterbox_geometry, rect_size
from zoo_detector.masks import box_pixel_span, instance_masks, native_axis_maps, resize_weights
from zoo_detector.plugin import _yolov8n_seg
from zoo_detector.processing import network_size, preprocess


def _masks(n: int, hw: tuple[int, int], seed: int = 0) -> InstanceMasks:
    """Random instances: boxes inside the image, masks = random blobs inside each box."""
    rng = np.random.default_rng(seed)
    h, w = hw
    boxes, crops, origins = [], [], []
    for _ in range(n):
        x1, y1 = rng.uniform(0, w * 0.6), rng.uniform(0, h * 0.6)
        x2, y2 = x1 + rng.uniform(5, w * 0.4), y1 + rng.uniform(5, h * 0.4)
        boxes.append((x1, y1, x2, y2))
        r0, r1 = box_pixel_span(y1, y2, h)
        c0, c1 = box_pixel_span(x1, x2, w)
        crops.append(rng.random((r1 - r0, c1 - c0)) > 0.3)
        origins.append((r0, c0))
    return InstanceMasks(boxes=np.asarray(boxes, np.float32), scores=np.linspace(0.9, 0.5, n, dtype=np.float32),
                         class_ids=rng.integers(0, 3, n), names=(), image_shape=hw, mask_crops=tuple(crops),
                         mask_origins=np.asarray(origins, np.int64).reshape(-1, 2))  # fmt: skip


# -- mask maths -----------------------------------------------------------------------------------
def test_resize_weights_match_torch_bilinear() -> None:
    torch = pytest.importorskip("torch")
    x = torch.rand(1, 1, 7, 11)
    f = torch.nn.functional.interpolate
    for w, ref in ((resize_weights(11, 23), f(x, size=(7, 23), mode="bilinear")),
                   (resize_weights(11, 5), f(x, size=(7, 5), mode="bilinear")),
                   (resize_weights(11, 44, 0.25), f(x, scale_factor=(1.0, 4.0), mode="bilinear"))):  # fmt: skip
        np.testing.assert_allclose(x[0, 0].numpy() @ w.T, ref[0, 0].numpy(), atol=1e-6)
    assert np.allclose(resize_weights(9, 30).sum(1), 1.0)


def test_crop_rule_is_ultralytics() -> None:
    # crop_mask keeps pixel c iff x1 <= c < x2
    assert box_pixel_span(2.0, 5.0, 10) == (2, 5)
    assert box_pixel_span(2.1, 5.0, 10) == (3, 5)
    assert box_pixel_span(-3, 4.5, 10) == (0, 5)
    assert box_pixel_span(8.2, 14, 10) == (9, 10)
    assert box_pixel_span(4.2, 4.5, 10) == (5, 5)  # no pixel inside


@pytest.mark.parametrize("orig", [(300, 451), (480, 640), (160, 160), (1080, 1920)])
def test_instance_masks_equal_dense_upsample_then_crop(orig: tuple[int, int]) -> None:
    """The separable per-box computation equals building the full-image logits and cropping."""
    rng = np.random.default_rng(1)
    size = rect_size(orig, (640, 640), 32)
    protos = rng.normal(size=(32, size[0] // 4, size[1] // 4)).astype(np.float32)
    coeffs = rng.normal(size=(4, 32)).astype(np.float32)
    h, w = orig
    boxes = np.array([[0, 0, w, h], [w * 0.1, h * 0.2, w * 0.5, h * 0.9], [3.5, 2.2, 40.7, 30.1],
                      [w - 10.5, h - 7.3, w + 5, h + 5]], np.float32)  # fmt: skip
    crops, origins = instance_masks(coeffs, protos, boxes, orig)
    ay, ax = native_axis_maps(protos.shape[1:], orig)
    logits = np.einsum("nk,khw->nhw", coeffs, protos)
    full = np.stack([ay @ m @ ax.T for m in logits]) > 0
    for i, (crop, (top, left)) in enumerate(zip(crops, origins, strict=True)):
        r0, r1 = box_pixel_span(boxes[i, 1], boxes[i, 3], h)
        c0, c1 = box_pixel_span(boxes[i, 0], boxes[i, 2], w)
        assert (top, left) == (r0, c0) and crop.shape == (r1 - r0, c1 - c0)
        assert (crop != full[i, r0:r1, c0:c1]).sum() <= 2  # float32 summation order at logit 0
    assert instance_masks(np.zeros((0, 32)), protos, np.zeros((0, 4)), orig)[0] == ()


def test_axis_maps_cut_the_letterbox_padding() -> None:
    """A prototype that is 1 inside the letterboxed content and -1 in the padding maps to all-positive
    logits over the whole original image."""
    orig = (300, 451)
    size = rect_size(orig, (640, 640), 32)  # 448 x 640: 11 px padding top and bottom
    geo = letterbox_geometry(orig, size)
    proto = -np.ones((size[0] // 4, size[1] // 4), np.float32)
    first, last = geo.top // 4, -(-(geo.top + geo.new_shape[0]) // 4)  # cells the content touches
    proto[first:last] = 1.0
    ay, ax = native_axis_maps(proto.shape, orig)
    assert ((ay @ proto @ ax.T) > 0).all()
    proto[first] = proto[last - 1] = -1.0  # the partly-padding cells do reach the image's edge rows
    edge = ay @ proto @ ax.T
    assert (edge[0] < 0).all() and (edge[-1] < 0).all() and (edge[10:-10] > 0).all()


# -- post-processing ----------------------------------------------------------------------------
def _head(anchors: int, nc: int = 80, nm: int = 32) -> np.ndarray:
    head = np.zeros((64 + nc + nm, anchors), np.float32)
    head[64 : 64 + nc] = -20.0  # no class anywhere
    return head


def test_postprocess_builds_masks_for_kept_boxes_only() -> None:
    spec = _yolov8n_seg()
    image = np.zeros((300, 400, 3), np.uint8)
    x, ctx = preprocess(image, spec.pre, rect=True)
    h, w = ctx["input_hw"]
    assert (h, w) == (480, 640) and x.shape == (1, 3, 480, 640)
    a = (h // 8) * (w // 8) + (h // 16) * (w // 16) + (h // 32) * (w // 32)
    head = _head(a)
    cell = 30 * (w // 8) + 20  # stride-8 cell (row 30, column 20): centre (164, 244) in input pixels
    head[:64, cell] = np.tile(np.eye(16, dtype=np.float32)[3] * 30, 4)  # each side 3 cells: a 48x48 box
    head[64 + 5, cell] = 4.0  # class 5, score sigmoid(4)
    head[64 + 80, cell] = 1.0  # coefficient 0 → prototype 0
    protos = -np.ones((32, h // 4, w // 4), np.float32)
    protos[0, 55:65, 35:45] = 1.0  # a 40x40 square around the box centre (input pixels 140..180, 220..260)
    out = segment.postprocess({"out0": head[None], "out1": protos[None]}, ctx, spec, {})
    assert isinstance(out, InstanceMasks) and len(out) == 1 and out.class_ids[0] == 5
    assert ctx["letterbox"].top == 0 and ctx["letterbox"].ratio == 1.6  # 300x400 fills 480x640 exactly
    np.testing.assert_allclose(out.boxes[0], np.array([140, 220, 188, 268]) / 1.6, atol=1e-3)
    mask = out.mask(0)
    # the prototype square spans input x 140..180, y 220..260; the box cuts it at x 188, y 268 (no cut)
    assert mask.shape == (300, 400) and 500 < mask.sum() < 750  # about (40/1.6)^2 = 625 pixels
    rows, cols = np.nonzero(mask)
    assert abs(rows.mean() - 240 / 1.6) < 2 and abs(cols.mean() - 160 / 1.6) < 2
    # the same head with a prototype that is negative everywhere: the empty mask drops the instance
    assert len(segment.postprocess({"out0": head[None], "out1": -np.abs(protos)[None]}, ctx, spec, {})) == 0
    with pytest.raises(ValueError, match="channels"):
        segment.postprocess({"out0": head[None, :-1], "out1": protos[None]}, ctx, spec, {})


# -- the result -----------------------------------------------------------------------------------
def test_instance_masks_rle_round_trips_and_helpers() -> None:
    mask_util = pytest.importorskip("faster_coco_eval.core.mask")
    res = _masks(4, (120, 160))
    data = json.loads(json.dumps(res.to_dict()))  # plain JSON types
    assert data["count"] == 4 and data["mask_format"] == "coco-rle"
    for i, entry in enumerate(data["detections"]):
        rle = {"size": entry["mask"]["size"], "counts": entry["mask"]["counts"].encode()}
        np.testing.assert_array_equal(mask_util.decode(rle).astype(bool), res.mask(i))
        assert entry["mask_area"] == res.mask(i).sum()
    dense = res.dense_masks()
    assert dense.shape == (4, 120, 160) and dense.dtype == bool
    sub = res.take(np.array([2, 0]))
    np.testing.assert_array_equal(sub.mask(0), res.mask(2))
    assert len(res.detections) == 4 and "mask" in res.summary().splitlines()[0]
    drawn = res.draw(np.zeros((120, 160, 3), np.uint8))
    assert drawn.shape == (120, 160, 3) and drawn[res.mask(0)].any()
    assert InstanceMasks().summary() == "no instances" and InstanceMasks().dense_masks().shape == (0, 0, 0)
    with pytest.raises(ValueError, match="masks"):
        InstanceMasks(scores=np.ones(1, np.float32), boxes=np.zeros((1, 4), np.float32), class_ids=np.zeros(1, int))


# -- agreement --------------------------------------------------------------------------------------
def test_agreement_identical_and_degraded() -> None:
    pytest.importorskip("faster_coco_eval")
    ref = [_masks(5, (120, 160), seed=s) for s in range(3)]
    same = segment.agreement(ref, ref)
    assert same["mask_match"] == 1.0 and same["mean_mask_iou"] == 1.0 and same["box_match"] == 1.0
    assert same["mask_map_vs_reference"] > 0.99 and same["map_vs_reference"] > 0.99
    eroded = [r.__class__(**{**r.__dict__, "mask_crops": tuple(c & (np.random.default_rng(9).random(c.shape) > 0.5)
                                                                for c in r.mask_crops)}) for r in ref]  # fmt: skip
    worse = segment.agreement(ref, eroded)
    assert worse["box_match"] == 1.0 and worse["mean_mask_iou"] < 0.8 and worse["mask_map_vs_reference"] < 0.5
    assert segment.agreement([], []) == {}


# -- the evaluator, on a COCO-format set drawn here -------------------------------------------------
def _ground_truth_predictor(data: Path) -> object:
    """Returns each image's ground-truth instances (rasterised by the COCO tools) as the prediction."""
    from faster_coco_eval.core import mask as mask_util

    gt = json.loads(next((data / "annotations").glob("*.json")).read_text())
    by_size = {}
    for im in gt["images"]:
        by_size.setdefault(im["id"], im)

    class Oracle:
        calls = 0

        def __call__(self, rgb: np.ndarray, **options: object) -> InstanceMasks:
            image_id = gt["images"][Oracle.calls]["id"]
            Oracle.calls += 1
            anns = [a for a in gt["annotations"] if a["image_id"] == image_id]
            h, w = rgb.shape[:2]
            masks = [mask_util.decode(mask_util.merge(mask_util.frPyObjects(a["segmentation"], h, w))).astype(bool)
                     for a in anns]  # fmt: skip
            boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns], np.float32).reshape(-1, 4)  # fmt: skip
            return InstanceMasks(boxes=boxes, scores=np.ones(len(anns), np.float32),
                                 class_ids=np.array([a["category_id"] - 1 for a in anns], np.int64),
                                 image_shape=(h, w), mask_crops=tuple(masks),
                                 mask_origins=np.zeros((len(anns), 2), np.int64))  # fmt: skip

    return Oracle()


def test_mask_evaluator_scores_ground_truth_as_perfect(tmp_path: Path) -> None:
    pytest.importorskip("faster_coco_eval")
    from zoo.eval.coco import MaskEvaluator
    from zoo_detector.synthetic import write_coco

    write_coco(tmp_path, 3, 160, 120, seed=3)
    ev = MaskEvaluator(defaults={"conf": 0.001})
    outcome = ev.evaluate(ev.load(tmp_path, limit=None, name=None), _ground_truth_predictor(tmp_path), options={},
                          results_file=tmp_path / "res.json", progress=None)  # fmt: skip
    metrics = {m.name: m.value for m in outcome.metrics}
    assert metrics["mask mAP@[.5:.95]"] > 0.99 and metrics["box mAP@[.5:.95]"] > 0.99, metrics
    written = json.loads((tmp_path / "res.json").read_text())
    assert written and {"bbox", "segmentation", "score"} <= set(written[0])


def test_mask_evaluator_refuses_box_only_sets_and_bad_polygons(tmp_path: Path) -> None:
    from zoo.eval.coco import MaskEvaluator, load_coco
    from zoo_detector.synthetic import write_coco

    path = write_coco(tmp_path, 2, 96, 64, seed=4)
    data = json.loads(path.read_text())
    del data["annotations"][0]["segmentation"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"has no 'segmentation'.*evaluate a detector"):
        MaskEvaluator().load(tmp_path, limit=None, name=None)
    data["annotations"][0]["segmentation"] = [[1, 2, 3]]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"annotations\[0\]\.segmentation.*at least 3"):
        load_coco(tmp_path)


# -- rectangular letterbox ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hw", "expected"),
    [((480, 640), (480, 640)), ((960, 1280), (480, 640)), ((1080, 1920), (384, 640)), ((720, 1280), (384, 640)),
     ((640, 480), (640, 480)), ((512, 512), (640, 640)), ((300, 451), (448, 640)), ((40, 4000), (32, 640))],
)  # fmt: skip
def test_rect_size_is_ultralytics_auto_letterbox(hw: tuple[int, int], expected: tuple[int, int]) -> None:
    assert rect_size(hw, (640, 640), 32) == expected
    spec = _yolov8n_seg()
    assert network_size(hw, spec.pre, rect=True) == expected
    assert network_size(hw, spec.pre, rect=False) == (640, 640)


@pytest.mark.parametrize(
    ("hw", "new_shape", "top_left"),
    [((608, 810), (480, 640), (0, 0)), ((300, 451), (426, 640), (11, 0)), ((720, 1280), (360, 640), (12, 0)),
     ((1001, 750), (640, 480), (0, 0)), ((481, 641), (480, 640), (0, 0))],
)  # fmt: skip
def test_rect_letterbox_keeps_the_square_scale(hw: tuple[int, int], new_shape: tuple[int, int],
                                               top_left: tuple[int, int]) -> None:
    """Ultralytics' LetterBox(auto=True): the scale that fits the 640 square, then padding modulo the
    stride. An 810x608 photo fills 640x480 exactly (scaling it to fit the 480x640 rectangle instead,
    480/608 < 640/810, would give 639 columns and a pad column)."""
    geo = letterbox_geometry(hw, (640, 640), 32)
    assert geo.ratio == min(640 / hw[0], 640 / hw[1])
    assert (geo.new_shape, (geo.top, geo.left)) == (new_shape, top_left)
    assert geo.canvas == rect_size(hw, (640, 640), 32) and all(v % 32 == 0 for v in geo.canvas)
    x, context = preprocess(np.zeros((*hw, 3), np.uint8), _yolov8n_seg().pre, rect=True)
    assert x.shape[2:] == geo.canvas and context["letterbox"] == geo and context["input_hw"] == geo.canvas


# -- the predictor: rect decisions and bad input ----------------------------------------------------
class _Echo:
    """A session that returns an all-background head at whatever input shape it is fed."""

    def __init__(self, spec: object) -> None:
        self.spec, self.shapes = spec, []
        self.input_names, self.output_names = ["in0"], ["out0", "out1"]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["in0"]
        self.shapes.append(x.shape)
        h, w = x.shape[2:]
        a = sum((h // s) * (w // s) for s in (8, 16, 32))
        return {"out0": _head(a)[None], "out1": np.zeros((1, 32, h // 4, w // 4), np.float32)}

    def close(self) -> None:
        pass


def _predictor(fixed_export: bool | None = None) -> tuple[object, _Echo]:
    from types import SimpleNamespace

    from zoo.registry import get_registry
    from zoo.specs import TensorSpec

    spec = _yolov8n_seg()
    echo = _Echo(spec)
    pred = get_registry().task("segmenter").build_predictor(spec, {"model": echo})
    if fixed_export is not None:
        inp = spec.component.inputs[0] if not fixed_export else TensorSpec(name="in0", shape=(1, 3, 640, 640))
        pred.export = SimpleNamespace(folder=Path("/exports/yolov8n-seg"),
                                      manifest=SimpleNamespace(components={"model": SimpleNamespace(inputs=[inp])}))  # fmt: skip
    return pred, echo


def test_rect_by_default_square_on_request() -> None:
    pred, echo = _predictor()
    image = np.zeros((720, 1280, 3), np.uint8)
    assert len(pred(image)) == 0
    pred(image, rect=False)
    pred(image, rect=True)
    assert [s[2:] for s in echo.shapes] == [(384, 640), (640, 640), (384, 640)]


def test_fixed_shape_exports_run_square_and_refuse_rect() -> None:
    pred, echo = _predictor(fixed_export=True)
    image = np.zeros((480, 640, 3), np.uint8)
    pred(image)
    assert echo.shapes[-1][2:] == (640, 640)  # default: the square the export was made at
    with pytest.raises(InputError, match=r"fixed 640x640 input shape.*drop --rect, or export again"):
        pred(image, rect=True)
    pred, echo = _predictor(fixed_export=False)
    pred(image, rect=True)
    assert echo.shapes[-1][2:] == (480, 640)


def test_images_smaller_than_one_stride_are_refused() -> None:
    from zoo.media import Frame

    pred, _ = _predictor()
    with pytest.raises(InputError, match=r"tiny.png: 20x40 pixels is smaller than one stride of yolov8n-seg \(32 px\)"):
        pred(Frame(image=np.zeros((40, 20, 3), np.uint8), index=0, name="tiny.png"))
    assert len(pred(np.zeros((32, 32, 3), np.uint8))) == 0


def test_models_without_dynamic_axes_refuse_rect() -> None:
    from zoo.registry import get_registry
    from zoo.specs import TensorSpec

    spec = _yolov8n_seg()
    fixed = spec.model_copy(update={"components": {"model": spec.component.model_copy(
        update={"inputs": (TensorSpec(name="in0", shape=(1, 3, 640, 640)),)})}})  # fmt: skip
    pred = get_registry().task("segmenter").build_predictor(fixed, {"model": _Echo(fixed)})
    with pytest.raises(InputError, match="runs at a fixed 640x640 input only: drop --rect"):
        pred(np.zeros((64, 64, 3), np.uint8), rect=True)


def test_shape_checked_session_refuses_what_the_export_cannot_take() -> None:
    from zoo.runtimes import ShapeCheckedSession
    from zoo.specs import TensorSpec

    spec = _yolov8n_seg()
    dynamic = ShapeCheckedSession(_Echo(spec), spec.component.inputs, "exp/model")
    dynamic.run({"in0": np.zeros((1, 3, 384, 640), np.float32)})
    with pytest.raises(InputError, match="axis 2 must be a positive multiple of 32"):
        dynamic.run({"in0": np.zeros((1, 3, 380, 640), np.float32)})
    fixed = ShapeCheckedSession(_Echo(spec), [TensorSpec(name="in0", shape=(1, 3, 640, 640))], "old/model")
    with pytest.raises(InputError, match=r"old/model: input in0 takes shape 1x3x640x640 \(this export has a fixed shape\)"):
        fixed.run({"in0": np.zeros((1, 3, 480, 640), np.float32)})
    assert fixed.output_names == ["out0", "out1"]  # everything else is the session's


def test_pnnx_alternative_shapes_move_each_dynamic_axis_differently() -> None:
    from zoo.convert.steps import alternative_shape
    from zoo.specs import TensorSpec

    assert alternative_shape(_yolov8n_seg().component.inputs[0]) == (1, 3, 480, 352)
    # every pyramid level up to stride 128 changes size too, or pnnx writes it as a constant
    for traced, alt in zip((640, 640), (480, 352), strict=True):
        assert all(-(-traced // s) != -(-alt // s) for s in (8, 16, 32, 64, 128))
    assert alternative_shape(TensorSpec(name="x", shape=(1, 3, 64, 32), dynamic_axes=(2, 3), size_multiple=32)) == (
        1, 3, 32, 96)  # fmt: skip
    with pytest.raises(ValueError, match="not multiples"):
        TensorSpec(name="x", shape=(1, 3, 100, 64), dynamic_axes=(2, 3), size_multiple=32)
