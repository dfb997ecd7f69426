"""Letterbox: resize keeping the aspect ratio, pad to the network size, and its inverse.

The network size is the model's square input, or (rectangular inference, ``rect_size``) the smallest
multiple of the stride that holds the image at the same scale.

The resize is bilinear with half-pixel centres and no antialiasing, as OpenCV's INTER_LINEAR that
Ultralytics and Megvii train and predict with (Pillow's resize antialiases when shrinking, which
shifts activations away from what the weights saw). Two implementations of the same rule:

* ``letterbox_blob`` — the inference path: ``zoo.imageops`` (ncnn's own C++ pixel routines,
  ``from_pixels_resize`` and ``substract_mean_normalize``, OpenCV's fixed-point bilinear, so within
  ±1 grey level of it; the padding written in numpy), straight to the network's float CHW input.
  About 10× faster than numpy on a 640×480 photo, and it needs nothing the Pi-side runtime doesn't
  already have.
* ``resize_bilinear`` / ``letterbox`` — pure numpy, float arithmetic: the readable reference that
  the tests hold the fast path to, and the uint8 canvas for drawing and evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) uint8 → (height, width, C) uint8, OpenCV INTER_LINEAR semantics, vectorised."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image

    def taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0.0, n_in - 1)
        i0 = np.floor(src).astype(np.intp)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (src - i0).astype(np.float32)

    y0, y1, wy = taps(h, height)
    x0, x1, wx = taps(w, width)
    img = image.astype(np.float32)
    rows = img[y0] * (1 - wy)[:, None, None] + img[y1] * wy[:, None, None]
    out = rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Letterbox:
    """Where the image went inside the network input: scale, then offset (top, left), in a canvas of
    ``canvas`` (height, width) pixels, the network's input shape."""

    ratio: float
    top: int
    left: int
    new_shape: tuple[int, int]
    orig_shape: tuple[int, int]
    canvas: tuple[int, int]


def letterbox_geometry(orig_hw: tuple[int, int], size: tuple[int, int], stride: int = 0) -> Letterbox:
    """Ultralytics' LetterBox arithmetic (scaleup=True, centred): the image scaled to fit ``size``.

    ``stride`` 0 is LetterBox(auto=False): the canvas is ``size``. A stride is LetterBox(auto=True),
    rectangular inference: the same scale (the one that fits ``size``), the canvas cut to the
    smallest multiple of the stride that holds the scaled image (padding modulo the stride). The
    scale stays the square's, as Ultralytics': an 810x608 photo becomes 640x480 with no padding, not
    639x480 plus a column (which "fit the 480x640 rectangle" would give)."""
    h, w = orig_hw
    th, tw = size
    r = min(th / h, tw / w)
    nh, nw = max(1, min(th, int(round(h * r)))), max(1, min(tw, int(round(w * r))))
    if stride:
        th, tw = nh + (th - nh) % stride, nw + (tw - nw) % stride
    dh, dw = (th - nh) / 2, (tw - nw) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    return Letterbox(ratio=r, top=max(0, top), left=max(0, left), new_shape=(nh, nw), orig_shape=(h, w),
                     canvas=(th, tw))  # fmt: skip


def rect_size(orig_hw: tuple[int, int], size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The smallest network input, in multiples of ``stride``, that holds the image at the scale the
    square ``size`` letterbox gives it: Ultralytics' LetterBox(auto=True) (padding modulo the stride).
    A 4:3 photo at 640 runs at 480×640, a 16:9 frame at 384×640: 25 % and 40 % fewer pixels."""
    return letterbox_geometry(orig_hw, size, stride).canvas


def letterbox(
    image: np.ndarray, size: tuple[int, int], pad_value: int = 114, stride: int = 0
) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` (H, W, 3 uint8) into ``size`` (height, width), centred, padded with ``pad_value``
    (with ``stride``: into the rectangle ``letterbox_geometry`` cuts)."""
    geo = letterbox_geometry(image.shape[:2], size, stride)
    resized = resize_bilinear(image, *geo.new_shape)
    canvas = np.full((*geo.canvas, image.shape[2]), pad_value, dtype=np.uint8)
    nh, nw = geo.new_shape
    canvas[geo.top : geo.top + nh, geo.left : geo.left + nw] = resized
    return canvas, geo


def letterbox_blob(
    image: np.ndarray,
    size: tuple[int, int],
    pad_value: int = 114,
    *,
    bgr: bool = False,
    scale: float = 1 / 255,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
    stride: int = 0,
) -> tuple[np.ndarray, Letterbox]:
    """RGB uint8 H×W×3 → the letterboxed network input, float32 3×H×W: ``(pixel·scale − mean) / std``
    per channel (in the output channel order), padding ``pad_value`` before normalisation; with
    ``stride``, into the rectangle ``letterbox_geometry`` cuts."""
    from zoo.imageops import resize_pad_normalize

    geo = letterbox_geometry(image.shape[:2], size, stride)
    (nh, nw), (th, tw) = geo.new_shape, geo.canvas
    pad = (geo.top, th - nh - geo.top, geo.left, tw - nw - geo.left)
    blob = resize_pad_normalize(image, (nh, nw), pad, float(pad_value), bgr=bgr, scale=scale, mean=mean, std=std)
    return blob, geo


def unletterbox_boxes(boxes: np.ndarray, geo: Letterbox) -> np.ndarray:
    """Boxes (N, 4) xyxy in network-input pixels → original-image pixels, clipped to the image."""
    out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    out[:, [0, 2]] -= geo.left
    out[:, [1, 3]] -= geo.top
    out /= geo.ratio
    h, w = geo.orig_shape
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out


def letterbox_boxes(boxes: np.ndarray, geo: Letterbox) -> np.ndarray:
    """Original-image pixels → network-input pixels (the forward map; used by tests and eval)."""
    out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * geo.ratio
    out[:, [0, 2]] += geo.left
    out[:, [1, 3]] += geo.top
    return out
