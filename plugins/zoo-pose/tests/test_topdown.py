"""Top-down crops, SimCC decoding and the inverse map, without a model."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.images import sample_images
from zoo_pose import topdown
from zoo_pose.processing import TopDownConfig, estimate_poses
from zoo_pose.simcc import decode_simcc, encode_simcc_targets, flip_simcc

SIZE = (192, 256)  # (w, h)


def test_center_scale_and_aspect_follow_mmpose() -> None:
    center, scale = topdown.box_center_scale(np.array([[10, 20, 110, 420]]))
    np.testing.assert_allclose(center, [[60, 220]])
    np.testing.assert_allclose(scale, [[125, 500]])  # × 1.25
    # tall box: width grows to 0.75 h; wide box: height grows to w / 0.75
    np.testing.assert_allclose(topdown.fix_aspect_ratio(scale, 0.75), [[375, 500]])
    np.testing.assert_allclose(topdown.fix_aspect_ratio(np.array([[300, 100]]), 0.75), [[300, 400]])


def test_warp_matrix_maps_box_centre_to_crop_centre_and_inverts() -> None:
    c, s = np.array([[100.0, 200.0]]), np.array([[150.0, 200.0]])
    m = topdown.warp_matrices(c, s, SIZE)
    mapped = topdown.apply_affine(np.array([[[100.0, 200.0], [25.0, 100.0]]]), m)
    np.testing.assert_allclose(mapped[0, 0], [96, 128])  # centre → centre of the 192×256 crop
    np.testing.assert_allclose(mapped[0, 1], [0, 0])  # top-left corner of the scaled box → (0, 0)
    back = topdown.apply_affine(mapped, topdown.invert_affine(m))
    np.testing.assert_allclose(back, [[[100, 200], [25, 100]]], atol=1e-9)


def test_affine_crop_and_inverse_map_round_trip() -> None:
    """Image point → crop pixel (forward affine) → back through crop_to_image is the identity."""
    rng = np.random.default_rng(0)
    boxes = np.array([[50, 40, 170, 400], [0, 0, 640, 100], [300.5, 12.25, 333.75, 60]])
    center, scale = topdown.box_center_scale(boxes)
    scale = topdown.fix_aspect_ratio(scale, SIZE[0] / SIZE[1])
    pts = rng.uniform(0, 640, size=(3, 17, 2))
    in_crop = topdown.apply_affine(pts, topdown.warp_matrices(center, scale, SIZE))
    np.testing.assert_allclose(topdown.crop_to_image(in_crop, center, scale, SIZE), pts, atol=1e-9)


def test_warp_affine_puts_image_pixels_where_the_matrix_says() -> None:
    """A scale-1 integer shift copies pixels exactly; outside the image is the constant 0."""
    img = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    m = np.array([[[1.0, 0.0, -10.0], [0.0, 1.0, -5.0]]])  # crop(x, y) = img(x + 10, y + 5)
    out = topdown.warp_affine(img, m, (90, 70))[0]
    np.testing.assert_array_equal(out[:55, :70], img[5:60, 10:80])
    assert not out[55:].any() and not out[:, 70:].any()
    # half-pixel shift: the mean of two neighbours, rounded
    half = topdown.warp_affine(img, np.array([[[1.0, 0.0, -0.5], [0.0, 1.0, 0.0]]]), (79, 60))[0]
    expect = np.rint((img[:, :79].astype(np.float64) + img[:, 1:80]) / 2)
    assert np.abs(half.astype(np.int64) - expect).max() <= 1


def test_warp_affine_matches_opencv() -> None:
    """Byte for byte what mmpose's TopdownAffine (cv2.warpAffine, INTER_LINEAR) gives, within one
    grey level on a handful of values with OpenCV 5 (float coordinates and weights); OpenCV 4's
    1/32-pixel grid differs by up to 4 levels on ~4 % of values (measured on these photos)."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(2)
    legacy = int(cv2.__version__.split(".")[0]) < 5
    for img in sample_images(4):
        h, w = img.shape[:2]
        x1, y1 = rng.uniform(-40, w * 0.6), rng.uniform(-40, h * 0.6)
        box = np.array([[x1, y1, x1 + rng.uniform(30, w), y1 + rng.uniform(30, h)]])
        c, s = topdown.box_center_scale(box)
        m = topdown.warp_matrices(c, topdown.fix_aspect_ratio(s, 0.75), SIZE)
        ours = topdown.warp_affine(img, m, SIZE)[0].astype(np.int64)
        ref = cv2.warpAffine(img, m[0], SIZE, flags=cv2.INTER_LINEAR).astype(np.int64)
        diff = np.abs(ours - ref)
        if legacy:
            assert diff.max() <= 4 and (diff > 0).mean() < 0.1
        else:
            assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_normalize_is_rgb_mean_std_nchw() -> None:
    crops = np.zeros((2, 4, 3, 3), np.uint8)
    crops[..., 0] = 255
    x = topdown.normalize(crops)
    assert x.shape == (2, 3, 4, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], [(255 - 123.675) / 58.395, -116.28 / 57.12, -103.53 / 57.375], rtol=1e-6)


def test_decode_simcc_argmax_split_ratio_and_min_score() -> None:
    sx = np.zeros((1, 2, 384), np.float32)
    sy = np.zeros((1, 2, 512), np.float32)
    sx[0, 0, 101], sy[0, 0, 300] = 0.9, 0.4
    sx[0, 1], sy[0, 1] = -1.0, -1.0
    sx[0, 1, 10], sy[0, 1, 20] = -0.5, -0.2  # a score ≤ 0: location −1 as upstream
    kps, scores = decode_simcc(sx, sy, 2.0)
    np.testing.assert_allclose(kps[0, 0], [50.5, 150.0])
    assert scores[0, 0] == pytest.approx(0.4)  # mmpose: the smaller of the two maxima
    np.testing.assert_allclose(kps[0, 1], [-0.5, -0.5])
    assert scores[0, 1] == pytest.approx(-0.5)


def test_flip_simcc_swaps_sides_and_reverses_x() -> None:
    sx = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    sy = -sx
    fx, fy = flip_simcc(sx, sy, [0, 2, 1])
    np.testing.assert_array_equal(fx[:, 1], sx[:, 2, ::-1])
    np.testing.assert_array_equal(fy[:, 2], sy[:, 1])


def test_keypoint_at_known_pixel_decodes_back_within_one_simcc_bin() -> None:
    """End to end without a network: joints at known image pixels → their crop positions under
    the affine crop → synthetic SimCC outputs peaking there → decode → image pixels again,
    within one SimCC bin (half a crop pixel) scaled back to the image."""
    rng = np.random.default_rng(3)
    image = np.zeros((480, 640, 3), np.uint8)
    boxes = np.array([[100, 50, 220, 430], [400, 200, 620, 300]], np.float32)
    truth = np.stack([rng.uniform(b[:2] + 5, b[2:] - 5, size=(17, 2)) for b in boxes])
    center, scale = topdown.box_center_scale(boxes)
    scale = topdown.fix_aspect_ratio(scale, SIZE[0] / SIZE[1])
    in_crop = topdown.apply_affine(truth, topdown.warp_matrices(center, scale, SIZE))
    sx, sy = encode_simcc_targets(in_crop, SIZE, 2.0)

    def network(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert x.shape[1:] == (3, 256, 192)
        return sx[: len(x)], sy[: len(x)]

    poses = estimate_poses(image, boxes, [0.9, 0.8], network)
    bin_px = (scale[:, 0] / SIZE[0] / 2.0)[:, None]  # one bin, in image pixels, per person
    err = np.abs(poses.keypoints - truth)
    assert (err <= bin_px[..., None] + 1e-6).all(), err.max()
    np.testing.assert_allclose(poses.keypoint_scores, 1.0)
    np.testing.assert_allclose(poses.box_scores, [0.9, 0.8])


def test_one_crop_at_a_time_gives_the_batched_result() -> None:
    boxes = np.array([[10, 10, 100, 200], [50, 60, 300, 200], [0, 0, 511, 511]], np.float32)
    rng = np.random.default_rng(4)
    table = {}

    def network(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = [float(v) for v in x.reshape(len(x), -1)[:, :64].sum(1)]
        for k in keys:
            table.setdefault(k, (rng.normal(size=(17, 384)), rng.normal(size=(17, 512))))
        return np.stack([table[k][0] for k in keys]), np.stack([table[k][1] for k in keys])

    img = sample_images(1)[0]
    batched = estimate_poses(img, boxes, None, network)
    single = estimate_poses(img, boxes, None, network, batch=1)
    np.testing.assert_array_equal(batched.keypoints, single.keypoints)
    np.testing.assert_array_equal(batched.keypoint_scores, single.keypoint_scores)


def test_flip_test_averages_the_mirrored_crop() -> None:
    calls = []

    def network(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(x.copy())
        sx = np.zeros((len(x), 17, 384), np.float32)
        sy = np.zeros((len(x), 17, 512), np.float32)
        sx[:, :, 100] = 1.0
        sy[:, :, 200] = 1.0
        return sx, sy

    img = sample_images(1)[0]
    poses = estimate_poses(img, [[0, 0, 200, 300]], None, network, flip_test=True)
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[1], calls[0][..., ::-1])
    # bin 100 and its mirror bin 283 tie at 0.5: argmax takes the first, the score halves
    np.testing.assert_allclose(poses.keypoint_scores, 0.5)


def test_frame_without_people_is_an_empty_result() -> None:
    def network(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise AssertionError("the network must not run without boxes")

    poses = estimate_poses(sample_images(1)[0], np.zeros((0, 4)), None, network)
    assert len(poses) == 0 and poses.keypoints.shape == (0, 17, 2) and poses.image_shape == (512, 512)
    assert poses.summary() == "no people" and poses.to_dict()["people"] == []
    drawn = poses.draw(sample_images(1)[0])
    assert drawn.shape == (512, 512, 3)


@pytest.mark.parametrize(
    ("boxes", "scores", "message"),
    [
        (np.zeros((2, 3)), None, "(N, 4)"),
        (np.zeros((2, 4)), [1.0], "2 person boxes but 1 box scores"),
        (np.array([[0, 0, np.nan, 1]]), None, "NaN"),
    ],
)
def test_bad_boxes_give_one_line(boxes: np.ndarray, scores: list[float] | None, message: str) -> None:
    with pytest.raises(InputError) as err:
        estimate_poses(sample_images(1)[0], boxes, scores, lambda x: (x, x), TopDownConfig())
    assert message in str(err.value) and "\n" not in str(err.value)


def test_image_must_be_rgb_uint8() -> None:
    with pytest.raises(InputError, match="RGB uint8"):
        estimate_poses(np.zeros((10, 10), np.float32), [[0, 0, 5, 5]], None, lambda x: (x, x))


def test_axis_aligned_fast_path_equals_the_general_warp() -> None:
    """Crops take the separable path; a shear of 1e-300 (no effect on any coordinate) forces the
    general one: the bytes must be the same."""
    rng = np.random.default_rng(5)
    img = sample_images(2)[1]
    boxes = np.array([[-50, -20, 100, 200], [10, 30, 440, 290], [400, 250, 470, 330]], np.float64)
    c, s = topdown.box_center_scale(boxes)
    m = topdown.warp_matrices(c, topdown.fix_aspect_ratio(s, 0.75), SIZE)
    m[:, :2, :2] *= rng.uniform(0.9, 1.1, (3, 1, 1))
    fast = topdown.warp_affine(img, m, SIZE)
    sheared = m.copy()
    sheared[:, 0, 1] = 1e-300
    general = topdown.warp_affine(img, sheared, SIZE)
    np.testing.assert_array_equal(fast, general)
