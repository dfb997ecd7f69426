"""Image I/O: any file Pillow reads becomes an RGB uint8 HxWx3 array, or one clear error."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np

from zoo.errors import InputError


def load_image(path: str | Path) -> np.ndarray:
    """Read ``path`` as RGB uint8. Grayscale, palette, 16-bit and RGBA images are converted."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; pass the path of an image (JPEG, PNG, BMP, WebP...)")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; pass one image file")
    try:
        with Image.open(path) as opened:
            opened.load()
            im: Image.Image = opened
            if im.mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float64)
                span = float(arr.max() - arr.min()) or 1.0
                im = Image.fromarray(((arr - arr.min()) * (255.0 / span)).astype(np.uint8))
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, rgba)
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError as err:
        raise InputError(f"{path}: not an image Pillow can read; pass a JPEG, PNG, BMP or WebP file") from err
    except OSError as err:
        raise InputError(f"{path}: cannot read image ({err}); is the file truncated?") from err
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise InputError(f"{path}: image has no pixels")
    return rgb


def save_image(path: str | Path, rgb: np.ndarray) -> None:
    from PIL import Image

    from zoo.paths import ensure_writable_dir

    path = Path(path)
    ensure_writable_dir(path.parent.resolve())
    Image.fromarray(rgb).save(path)


def sample_image_paths() -> list[Path]:
    """The real photos shipped with zoo (see zoo/data/images/README.md)."""
    folder = files("zoo") / "data" / "images"
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".jpg"))


def sample_images(n: int | None = None) -> list[np.ndarray]:
    """Shipped photos plus mirrored copies: up to 8 distinct real inputs with no download."""
    base = [load_image(p) for p in sample_image_paths()]
    images = base + [img[:, ::-1].copy() for img in base]
    return images if n is None else images[:n]


def calibration_images() -> list[np.ndarray]:
    """Default int8 calibration set: 5 crops (4 corners and centre, 70 % of each side) of every
    shipped photo. Parity runs on the whole photos and their mirrors, so it stays held out."""
    crops = []
    for image in (load_image(p) for p in sample_image_paths()):
        h, w = image.shape[:2]
        ch, cw = int(h * 0.7), int(w * 0.7)
        for top, left in ((0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)):
            crops.append(np.ascontiguousarray(image[top : top + ch, left : left + cw]))
    return crops


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (sorted), or an error naming the folder when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a directory; pass a folder of images")
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in exts and p.is_file())
    if not found:
        raise InputError(f"{folder}: contains no image files (.jpg, .png, .bmp, .webp...)")
    return found


def as_image(item: object) -> np.ndarray:
    """What an image predictor was given, as RGB uint8 H×W×3: an array as it is, a frame's image
    (``zoo.media.Frame``), or a path read with ``load_image``."""
    if isinstance(item, np.ndarray):
        if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
            raise InputError(f"expected an RGB uint8 H×W×3 image, got {item.dtype} {item.shape}")
        return item
    image = getattr(item, "image", None)
    if isinstance(image, np.ndarray):
        return as_image(image)
    if isinstance(item, (str, Path)):
        return load_image(item)
    raise InputError(f"expected an image (array, frame or path), got {type(item).__name__}")
