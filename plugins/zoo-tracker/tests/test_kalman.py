"""ByteTrack's Kalman filter against steps computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_tracker import kalman

# a box 50 wide, 100 high, centred at (100, 50): xyah = (100, 50, 0.5, 100)
BOX = np.array([[75.0, 0.0, 125.0, 100.0]])
H = 100.0
WP, WV = 1 / 20, 1 / 160


def test_box_conversions_round_trip() -> None:
    xyah = kalman.xyxy_to_xyah(BOX)
    np.testing.assert_allclose(xyah, [[100, 50, 0.5, 100]])
    np.testing.assert_allclose(kalman.xyah_to_xyxy(xyah), BOX)


def test_initiate_by_hand() -> None:
    mean, cov = kalman.initiate(kalman.xyxy_to_xyah(BOX))
    np.testing.assert_allclose(mean, [[100, 50, 0.5, 100, 0, 0, 0, 0]])
    std = [2 * WP * H, 2 * WP * H, 1e-2, 2 * WP * H, 10 * WV * H, 10 * WV * H, 1e-5, 10 * WV * H]
    np.testing.assert_allclose(cov[0], np.diag(np.square(std)))
    assert cov[0, 0, 0] == pytest.approx(100.0) and cov[0, 4, 4] == pytest.approx(39.0625)


def test_predict_by_hand() -> None:
    mean, cov = kalman.initiate(kalman.xyxy_to_xyah(BOX))
    mean[0, 4] = 3.0  # moving right 3 px/frame
    mean2, cov2 = kalman.predict(mean, cov)
    np.testing.assert_allclose(mean2[0, :4], [103, 50, 0.5, 100])
    # x: P_xx + P_vv + Q_x = 100 + 39.0625 + (h/20)^2; x-v: P_vv; v: P_vv + (h/160)^2
    assert cov2[0, 0, 0] == pytest.approx(100 + 39.0625 + 25)
    assert cov2[0, 0, 4] == pytest.approx(39.0625) and cov2[0, 4, 0] == pytest.approx(39.0625)
    assert cov2[0, 4, 4] == pytest.approx(39.0625 + 0.390625)
    assert cov2[0, 2, 2] == pytest.approx(1e-4 + 1e-10 + 1e-4)  # aspect: init 1e-2^2, vel 1e-5^2, Q 1e-2^2


def test_update_by_hand() -> None:
    mean, cov = kalman.predict(*kalman.initiate(kalman.xyxy_to_xyah(BOX)))
    z = np.array([[110.0, 50.0, 0.5, 100.0]])  # the box moved 10 px right
    new_mean, new_cov = kalman.update(mean, cov, z)
    pxx, pxv, pvv = 164.0625, 39.0625, 39.453125
    s = pxx + (WP * H) ** 2  # innovation variance: + R_x = (h/20)^2
    assert new_mean[0, 0] == pytest.approx(100 + 10 * pxx / s)
    assert new_mean[0, 4] == pytest.approx(10 * pxv / s)
    assert new_mean[0, 1] == pytest.approx(50) and new_mean[0, 5] == pytest.approx(0)
    assert new_cov[0, 0, 0] == pytest.approx(pxx - pxx * pxx / s)
    assert new_cov[0, 4, 4] == pytest.approx(pvv - pxv * pxv / s)
    assert new_cov[0, 0, 4] == pytest.approx(pxv - pxx * pxv / s)


def test_batched_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(0, 500, (6, 2)), rng.uniform(0, 500, (6, 2)) + 600], axis=1)
    mean, cov = kalman.initiate(kalman.xyxy_to_xyah(boxes))
    mean[:, 4:] = rng.normal(0, 2, (6, 4))
    z = kalman.xyxy_to_xyah(boxes + rng.normal(0, 3, boxes.shape))
    bm, bc = kalman.update(*kalman.predict(mean, cov), z)
    for i in range(6):
        m, c = kalman.update(*kalman.predict(mean[i:i + 1], cov[i:i + 1]), z[i:i + 1])
        np.testing.assert_allclose(bm[i], m[0], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(bc[i], c[0], rtol=1e-12, atol=1e-9)


def test_velocity_converges_on_constant_motion() -> None:
    mean, cov = kalman.initiate(kalman.xyxy_to_xyah(BOX))
    for t in range(1, 40):
        mean, cov = kalman.predict(mean, cov)
        mean, cov = kalman.update(mean, cov, kalman.xyxy_to_xyah(BOX + [3 * t, -2 * t, 3 * t, -2 * t]))
    assert mean[0, 4] == pytest.approx(3.0, abs=0.05)
    assert mean[0, 5] == pytest.approx(-2.0, abs=0.05)
    np.testing.assert_allclose(cov, cov.transpose(0, 2, 1), atol=1e-9)  # stays symmetric
    assert (np.linalg.eigvalsh(cov) > 0).all()  # and positive definite
