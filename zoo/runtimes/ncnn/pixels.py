"""Image → network input through ncnn's own C pixel routines (OpenCV's fixed-point bilinear).

``from_pixels_resize`` + ``copy_make_border`` + ``substract_mean_normalize``: about 10× faster than
numpy on a 640×480 photo, within ±1 grey level of OpenCV's INTER_LINEAR, and nothing the Pi-side
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
    top, bottom, left, right = pad
    if top or bottom or left or right:
        mat = ncnn.copy_make_border(mat, top, bottom, left, right, ncnn.BorderType.BORDER_CONSTANT, float(pad_value))
    # (p·scale − mean)/std == (p − mean/scale) · (scale/std): ncnn's subtract-then-multiply form
    if any(mean) or scale != 1.0 or any(s != 1.0 for s in std):
        mat.substract_mean_normalize([m / scale for m in mean] if any(mean) else [], [scale / s for s in std])
    return np.array(mat, dtype=np.float32, copy=True).reshape(3, nh + top + bottom, nw + left + right)
