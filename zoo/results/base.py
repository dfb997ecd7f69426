"""The Result protocol and the drawing helpers every result type shares."""

from __future__ import annotations

import colorsys
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Result(Protocol):
    """What a predictor returns. ``to_dict`` is what ``--json`` prints (plain JSON types only)."""

    def to_dict(self) -> dict[str, Any]: ...

    def summary(self) -> str: ...

    def draw(self, image: np.ndarray) -> np.ndarray: ...


# Optional, for results whose text is streamed (``Predictor.stream``): ``stats() -> str``, one line
# on how it ran (token counts, timings), printed after the streamed text instead of ``summary()``.


def colour(index: int) -> tuple[int, int, int]:
    """A stable, distinct colour per class or track id (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618033988749895) % 1.0, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


@lru_cache(maxsize=16)
def font(size: int) -> Any:
    """Pillow's default font at ``size`` px (one fixed size on Pillow < 10.1)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def canvas(image: np.ndarray) -> tuple[Any, Any, int]:
    """(PIL image copy, ImageDraw, a line width that scales with the image) for drawing on ``image``."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    return im, ImageDraw.Draw(im), max(1, round(min(im.size) / 300))


def label(pen: Any, xy: tuple[float, float], text: str, fill: tuple[int, int, int], size: int) -> None:
    """``text`` in white on a ``fill`` box whose bottom-left is at ``xy`` (or below it at the top edge)."""
    f = font(size)
    left, top, right, bottom = pen.textbbox(xy, text, font=f)
    th = bottom - top
    x, y = xy
    ty = y - th - 2 if y - th - 2 >= 0 else y
    pen.rectangle((x, ty, x + (right - left) + 4, ty + th + 2), fill=fill)
    pen.text((x + 2, ty), text, fill=(255, 255, 255), font=f)


def text_size(image_shape: tuple[int, ...]) -> int:
    return max(10, min(int(image_shape[0]), int(image_shape[1])) // 40)
