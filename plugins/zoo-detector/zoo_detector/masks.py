"""YOLO instance masks from prototypes, in numpy: what Ultralytics' ``process_mask_native`` computes.

A YOLOv8-seg network gives, per kept box, 32 mask coefficients, and once per image 32 prototype
masks at stride 4 of the network input (32×160×160 for 640×640, 32×120×160 for a 480×640 rectangle).
An instance's mask logits are ``coefficients · prototypes``; Ultralytics (8.4, ``retina_masks``: masks
in original-image pixels) then

1. upsamples the logits by ``f`` ∈ {1, 2, 4} (bilinear, half-pixel centres), the smallest factor at
   which the letterbox padding falls on whole pixels,
2. cuts the padding off and resizes what is left to the original image (bilinear again: ``scale_masks``),
3. thresholds at 0 (sigmoid > 0.5) and zeroes every pixel outside the box (``crop_mask``: columns
   ``x1 <= c < x2``, rows likewise, box in original pixels).

Its default path (masks at network-input resolution) upsamples first and crops after too, since
8.4 (cropping first smeared the bilinear edge outside the box).

Both resizes are linear and separable, so each axis is one matrix (original pixels × prototype
cells, a few non-zeros per row) and an instance's mask is ``Ay[rows] @ logits @ Ax[cols].T`` over
its box only: the same numbers, without ever building an N×H×W float stack. The matrices depend only
on the image and prototype shapes (cached).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def resize_weights(n_in: int, n_out: int, scale: float | None = None) -> np.ndarray:
    """(n_out, n_in) bilinear interpolation weights, PyTorch ``F.interpolate(mode='bilinear',
    align_corners=False)`` semantics: source = max(scale·(dst + 0.5) − 0.5, 0), taps at floor(source)
    and the next cell (clamped). ``scale`` defaults to n_in / n_out (the ``size=`` call); a
    ``scale_factor=f`` call uses 1 / f."""
    s = n_in / n_out if scale is None else scale
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    w = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(w, (rows, i0), 1.0 - frac)
    np.add.at(w, (rows, i1), frac)
    return w


def _upsample_factor(proto_hw: tuple[int, int], orig_hw: tuple[int, int]) -> int:
    """Ultralytics' ``f``: 1, 2 or 4 so that the letterbox padding crops on whole upsampled cells."""
    mh, mw = proto_hw
    h, w = orig_hw
    gain = min(4 * mh / h, 4 * mw / w)
    pad = (4 * mh - max(round(h * gain), 1)) | (4 * mw - max(round(w * gain), 1))
    return 4 // int(np.gcd(4, pad | (pad // 2)))


@lru_cache(maxsize=32)
def native_axis_maps(proto_hw: tuple[int, int], orig_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(Ay (H, mh), Ax (W, mw)) float32: prototype cells → original-image pixels, per axis, as
    ``process_mask_native`` resamples (f× upsample, padding cut, resize to the image)."""
    mh, mw = proto_hw
    h, w = orig_hw
    f = _upsample_factor(proto_hw, orig_hw)
    uh, uw = f * mh, f * mw
    gain = min(uh / h, uw / w)
    pad_w, pad_h = (uw - max(round(w * gain), 1)) / 2, (uh - max(round(h * gain), 1)) / 2
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    bottom, right = top + max(round(h * gain), 1), left + max(round(w * gain), 1)
    up_y = resize_weights(mh, uh, 1.0 / f) if f > 1 else np.eye(mh)
    up_x = resize_weights(mw, uw, 1.0 / f) if f > 1 else np.eye(mw)
    ay = resize_weights(bottom - top, h) @ up_y[top:bottom]
    ax = resize_weights(right - left, w) @ up_x[left:right]
    ay, ax = ay.astype(np.float32), ax.astype(np.float32)
    ay.flags.writeable = False
    ax.flags.writeable = False
    return ay, ax


def box_pixel_span(lo: float, hi: float, size: int) -> tuple[int, int]:
    """The pixel indices c with lo <= c < hi, within [0, size): ``crop_mask``'s rule, as [start, stop)."""
    start = min(max(int(np.ceil(lo)), 0), size)
    stop = min(max(int(np.ceil(hi)), start), size)
    return start, stop


@lru_cache(maxsize=32)
def _spans(proto_hw: tuple[int, int], orig_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per axis, each pixel's first and one-past-last prototype cell with a non-zero weight; both grow
    with the pixel, so pixels a..b read cells first[a] to last[b]."""
    out = []
    for m in native_axis_maps(proto_hw, orig_hw):
        nz = m != 0
        first = nz.argmax(1)
        last = m.shape[1] - nz[:, ::-1].argmax(1)
        out.append(np.stack((first, last), 1))
    return out[0], out[1]


def instance_masks(
    coefficients: np.ndarray, prototypes: np.ndarray, boxes: np.ndarray, orig_hw: tuple[int, int]
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Binary masks in original-image pixels, each cropped to its box.

    ``coefficients`` (N, K), ``prototypes`` (K, mh, mw) as the network gives them (letterboxed input
    at stride 4), ``boxes`` (N, 4) xyxy in original pixels. Returns (crops, origins): crop i is bool
    (h_i, w_i), the mask inside box i's pixel span, whose top-left pixel is origins[i] = (row, col).
    """
    protos = np.asarray(prototypes, dtype=np.float32)
    k, mh, mw = protos.shape
    coefficients = np.asarray(coefficients, dtype=np.float32).reshape(len(boxes), k)
    h, w = int(orig_hw[0]), int(orig_hw[1])
    ay, ax = native_axis_maps((mh, mw), (h, w))
    span_y, span_x = _spans((mh, mw), (h, w))
    logits = (coefficients @ protos.reshape(k, -1)).reshape(-1, mh, mw)  # one BLAS call for all instances
    crops: list[np.ndarray] = []
    origins = np.zeros((len(boxes), 2), dtype=np.int64)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        r0, r1 = box_pixel_span(y1, y2, h)
        c0, c1 = box_pixel_span(x1, x2, w)
        origins[i] = (r0, c0)
        if r1 <= r0 or c1 <= c0:
            crops.append(np.zeros((r1 - r0, c1 - c0), dtype=bool))
            continue
        p0, p1, q0, q1 = span_y[r0, 0], span_y[r1 - 1, 1], span_x[c0, 0], span_x[c1 - 1, 1]
        wy, wx, cell = ay[r0:r1, p0:p1], ax[c0:c1, q0:q1], logits[i, p0:p1, q0:q1]
        rows, cols, n_p, n_q = r1 - r0, c1 - c0, p1 - p0, q1 - q0
        # (wy @ cell) @ wx.T or wy @ (cell @ wx.T): whichever multiplies less
        if rows * n_p * n_q + rows * n_q * cols <= n_p * n_q * cols + rows * n_p * cols:
            mask = (wy @ cell) @ wx.T
        else:
            mask = wy @ (cell @ wx.T)
        crops.append(mask > 0.0)
    return tuple(crops), origins
