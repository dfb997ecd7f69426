"""ByteTrack's Kalman filter, batched over tracks: pure numpy functions, no state.

State per track: (cx, cy, a, h, vcx, vcy, va, vh) — box centre, aspect ratio w/h, height and their
velocities; constant-velocity motion, (cx, cy, a, h) observed directly. Process and measurement
noise scale with the box height, with ByteTrack's weights (1/20 for position, 1/160 for velocity;
fixed small terms for the aspect ratio). These are the semantics of ByteTrack's
``yolox/tracker/kalman_filter.py`` (itself from DeepSORT), written for arrays of tracks: every
function takes ``mean`` (N, 8) and ``cov`` (N, 8, 8) and returns new arrays.
"""

from __future__ import annotations

import numpy as np

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160

NDIM = 4
MOTION = np.eye(2 * NDIM) + np.eye(2 * NDIM, k=NDIM)
"""x_{t+1} = x_t + v_t (dt = 1 frame), v_{t+1} = v_t."""


def xyxy_to_xyah(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) corner boxes -> (N, 4) centre x, centre y, aspect ratio w/h, height."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 3] = b[:, 3] - b[:, 1]
    out[:, 2] = (b[:, 2] - b[:, 0]) / out[:, 3]
    out[:, 0] = (b[:, 0] + b[:, 2]) / 2
    out[:, 1] = (b[:, 1] + b[:, 3]) / 2
    return out


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, centre y, aspect ratio, height -> (N, 4) corner boxes."""
    z = np.asarray(xyah, dtype=np.float64).reshape(-1, 4)
    half_w = z[:, 2] * z[:, 3] / 2
    half_h = z[:, 3] / 2
    out = np.empty_like(z)
    out[:, 0] = z[:, 0] - half_w
    out[:, 1] = z[:, 1] - half_h
    out[:, 2] = z[:, 0] + half_w
    out[:, 3] = z[:, 1] + half_h
    return out


_DIAG8 = np.arange(2 * NDIM)
_DIAG4 = np.arange(NDIM)


def _variances(h: np.ndarray, weights: tuple[float, ...], fixed: dict[int, float]) -> np.ndarray:
    """(N, k) variances: (weight * height)^2 per component, except the ``fixed`` standard deviations."""
    std = np.multiply.outer(h, np.asarray(weights))
    for i, v in fixed.items():
        std[:, i] = v
    return std * std


def initiate(measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from unmatched (N, 4) xyah measurements: zero velocity, wide uncertainty."""
    z = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
    mean = np.concatenate([z, np.zeros_like(z)], axis=1)
    wp, wv = 2 * STD_WEIGHT_POSITION, 10 * STD_WEIGHT_VELOCITY
    cov = np.zeros((len(z), 2 * NDIM, 2 * NDIM))
    cov[:, _DIAG8, _DIAG8] = _variances(z[:, 3], (wp, wp, 0.0, wp, wv, wv, 0.0, wv), {2: 1e-2, 6: 1e-5})
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: x += v; P = F P F^T + Q, with Q scaled by each track's current height."""
    wp, wv = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
    q = _variances(mean[:, 3], (wp, wp, 0.0, wp, wv, wv, 0.0, wv), {2: 1e-2, 6: 1e-5})
    new_mean = mean @ MOTION.T
    new_cov = MOTION @ cov @ MOTION.T
    new_cov[:, _DIAG8, _DIAG8] += q
    return new_mean, new_cov


def project(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The state distribution in measurement space: (N, 4) mean and (N, 4, 4) innovation covariance."""
    wp = STD_WEIGHT_POSITION
    s = cov[:, :NDIM, :NDIM].copy()
    s[:, _DIAG4, _DIAG4] += _variances(mean[:, 3], (wp, wp, 0.0, wp), {2: 1e-1})
    return mean[:, :NDIM], s


def update(mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct (N, 8) states with (N, 4) xyah measurements: the standard Kalman update, batched.

    K = P H^T S^-1 through a linear solve (S is symmetric positive definite; ByteTrack uses a
    Cholesky solve, which gives the same result to float precision).
    """
    projected_mean, s = project(mean, cov)
    pht = cov[:, :, :NDIM]  # P H^T with H = [I 0]
    gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # (N, 8, 4)
    innovation = np.asarray(measurement, dtype=np.float64).reshape(-1, NDIM) - projected_mean
    new_mean = mean + (gain @ innovation[:, :, None])[:, :, 0]
    new_cov = cov - gain @ s @ gain.transpose(0, 2, 1)
    return new_mean, new_cov
