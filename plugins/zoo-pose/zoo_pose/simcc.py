"""SimCC decoding in numpy (mmpose ``SimCCLabel.decode`` with ``get_simcc_maximum``).

SimCC (Li et al., 2022) classifies each keypoint's x and y separately over bins of
1 / split_ratio pixel of the network input: RTMPose-s at 192×256 with split ratio 2.0 has 384 x
bins and 512 y bins. The location is the argmax bin of each axis divided by the split ratio.

The keypoint score follows mmpose's ``get_simcc_maximum``: the *smaller* of the two axes' maximum
logits (``mask = max_x > max_y; max_x[mask] = max_y[mask]``), not the larger, and a keypoint whose
score is ≤ 0 gets location bin −1 on both axes (−0.5 input pixels after the division). The RTMPose
configs decode raw logits (``normalize=False``), so scores are logits, not probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """SimCC logits (N, K, Wx), (N, K, Wy) → keypoints (N, K, 2) in input pixels, scores (N, K)."""
    sx = np.asarray(simcc_x, dtype=np.float32)
    sy = np.asarray(simcc_y, dtype=np.float32)
    if sx.ndim != 3 or sy.ndim != 3 or sx.shape[:2] != sy.shape[:2]:
        raise ValueError(f"SimCC outputs must be (N, K, W) and (N, K, H) with the same N, K; got {sx.shape}, {sy.shape}")
    locs = np.stack((sx.argmax(-1), sy.argmax(-1)), axis=-1).astype(np.float32)
    scores = np.minimum(sx.max(-1), sy.max(-1))
    locs[scores <= 0] = -1
    return locs / np.float32(split_ratio), scores


def flip_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, flip_indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """SimCC outputs of a horizontally flipped crop, mapped back (mmpose ``flip_vectors``): left and
    right keypoints swapped, the x axis reversed. Averaging with the unflipped outputs is mmpose's
    flip test (``test_cfg.flip_test``, on in the RTMPose configs' published AP)."""
    idx = np.asarray(flip_indices, dtype=np.int64)
    return np.asarray(simcc_x)[:, idx, ::-1], np.asarray(simcc_y)[:, idx]


def encode_simcc_targets(points: np.ndarray, input_size: tuple[int, int], split_ratio: float = 2.0,
                         sigma: tuple[float, float] = (4.9, 5.66), peak: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian SimCC vectors peaking at ``points`` (N, K, 2) input pixels: (N, K, W·r), (N, K, H·r).

    mmpose's ``SimCCLabel`` training target (``gaussian`` smoothing, sigma in bins, unnormalised),
    scaled by ``peak``. Used to build synthetic network outputs with known answers.
    """
    p = np.asarray(points, dtype=np.float64)
    w, h = input_size
    bins_x = np.arange(int(w * split_ratio), dtype=np.float64)
    bins_y = np.arange(int(h * split_ratio), dtype=np.float64)
    mu = np.around(p * split_ratio)
    gx = np.exp(-((bins_x - mu[..., 0:1]) ** 2) / (2 * sigma[0] ** 2)) * peak
    gy = np.exp(-((bins_y - mu[..., 1:2]) ** 2) / (2 * sigma[1] ** 2)) * peak
    return gx.astype(np.float32), gy.astype(np.float32)
