"""Image → network input through ncnn's own C pixel routines (OpenCV's fixed-point bilinear).

``from_pixels_resize`` + ``substract_mean_normalize``, then padding written in numpy: about 10× faster
than numpy alone on a 640×480 photo, within ±1 grey level of OpenCV's INTER_LINEAR, and nothing the Pi-side
runtime doesn't already have. Reached through ``zoo.imageops`` (plugins never import ncnn).
"""

from __future__ import annotations

import numpy as np


def resize_pad_normalize(
    image: np.ndarray,
    new_hw: tuple[int, int],
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
    pad_value: float = 0.0,
    *,
    bgr: bool = False,
    scale: float = 1 / 255,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """RGB uint8 H×W×3 → float32 3×(nh+top+bottom)×(nw+left+right): bilinear resize to ``new_hw``,
    constant padding ``pad`` = (top, bottom, left, right) of ``pad_value``, then
    ``(pixel·scale − mean) / std`` per channel (in the output channel order)."""
    import ncnn

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}")
    if scale == 0:
        raise ValueError("scale must be non-zero")
    (h, w), (nh, nw) = image.shape[:2], new_hw
    kind = ncnn.Mat.PixelType.PIXEL_RGB2BGR if bgr else ncnn.Mat.PixelType.PIXEL_RGB
    mat = ncnn.Mat.from_pixels_resize(np.ascontiguousarray(image), kind, w, h, nw, nh)
    # (p·scale − mean)/std == (p − mean/scale) · (scale/std): ncnn's subtract-then-multiply form
    means = [m / scale for m in mean] if any(mean) else []
    norms = [scale / s for s in std]
    if means or any(n != 1.0 for n in norms):
        mat.substract_mean_normalize(means, norms)
    resized = np.asarray(mat).reshape(3, nh, nw)  # a view: the array keeps the Mat alive
    top, bottom, left, right = pad
    if not (top or bottom or left or right):
        return np.array(resized, dtype=np.float32, copy=True)
    # padding in numpy, not ncnn.copy_make_border: that copies the whole image through a fresh Mat,
    # 5x slower (1.1 vs 0.2 ms at 640x480 here), and a 16:9 frame always pads. Only the bars are
    # filled, with the pad value normalised as the pixels were.
    fill = (np.float32(pad_value) - np.asarray(means or [0.0] * 3, np.float32)) * np.asarray(norms, np.float32)
    fill = fill[:, None, None]
    out = np.empty((3, nh + top + bottom, nw + left + right), np.float32)
    out[:, :top] = fill
    out[:, top + nh :] = fill
    out[:, top : top + nh, :left] = fill
    out[:, top : top + nh, left + nw :] = fill
    out[:, top : top + nh, left : left + nw] = resized
    return out
