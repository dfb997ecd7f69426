"""Image I/O: any file Pillow reads becomes an RGB uint8 HxWx3 array, upright, or one clear error."""

from __future__ import annotations

import warnings
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
"""Suffixes taken as images when listing a folder (any case)."""

MAX_PIXELS = 120_000_000
"""Largest image accepted, in pixels (width x height).

A 108-megapixel phone photo (12000x9000) passes; a file declaring more is refused before any pixel
is decoded. Decoding costs about 7 bytes a pixel at peak (Pillow holds RGB as 4 bytes, the array
3), so this caps one image near 840 MB: heavy but survivable on a 4 GB Raspberry Pi 5, where a
decompression bomb (a few kB declaring 65535x65535, 13 GB decoded) is not. Pillow's own limit
(``Image.MAX_IMAGE_PIXELS``, global state zoo does not touch) refuses above 179 MP; this one is
checked on the header whatever that setting is."""

MAX_ASPECT = 64
"""Largest ratio of the longer side to the shorter one.

Stitched phone panoramas run to about 10:1; past 64:1 an image is a strip, not a photo, and
"resize the shorter side to 256" (classifiers) would make a 1x60000 image 256x15,360,000, 11 GB.
With both limits, the largest array any preprocessing builds from an accepted image stays small."""

EXIF_ORIENTATION = 0x0112


def _check_size(path: Path, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise InputError(f"{path}: image has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise InputError(
            f"{path}: image is {width}x{height} ({width * height / 1e6:.0f} MP), over zoo's limit of "
            f"{MAX_PIXELS / 1e6:.0f} MP (a decompression bomb, or a photo to downscale first)"
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(
            f"{path}: image is {width}x{height}, an aspect ratio over {MAX_ASPECT}:1; crop it into pieces first"
        )


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1-8; 1 = upright), 1 when absent or unreadable.

    A malformed EXIF block is common in files edited by old tools; it is ignored rather than
    refused, since the pixels themselves are fine."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Corrupt EXIF", category=UserWarning)
            value = im.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, TypeError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def load_image(path: str | Path, *, orientation: bool = True) -> np.ndarray:
    """Read ``path`` as RGB uint8 HxWx3, upright.

    - EXIF orientation is applied (a phone photo tagged 6, "rotate 90° clockwise to view", comes
      out upright), so results are in the pixel frame a viewer shows the user. ``orientation=False``
      gives the stored pixels instead, for datasets annotated in that frame (annotation tools
      disagree on this; detectron2 applies EXIF and checks the annotated size, as zoo's eval does).
    - Grayscale, palette, CMYK, 16-bit and RGBA images are converted (alpha over white).
    - Refused with one line, before decoding: more than ``MAX_PIXELS`` pixels (120 MP; Pillow's
      DecompressionBombError too), or an aspect ratio over ``MAX_ASPECT`` (64:1).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; pass the path of an image (JPEG, PNG, BMP, WebP...)")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; pass one image file")
    try:
        with warnings.catch_warnings():
            # zoo checks the size itself (MAX_PIXELS); Pillow's warning would only be noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # a malformed EXIF block: its orientation is read as 1 (exif_orientation), the pixels are fine
            warnings.filterwarnings("ignore", message="Corrupt EXIF", category=UserWarning)
            with Image.open(path) as opened:
                _check_size(path, *opened.size)
                upright = not orientation or exif_orientation(opened) == 1
                fast = _decode_jpeg(path, opened) if upright else None
                if fast is not None:
                    return fast
                opened.load()
                im: Image.Image = opened
                if not upright:
                    im = ImageOps.exif_transpose(im)
                if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                    arr = np.asarray(im, dtype=np.float64)
                    span = float(arr.max() - arr.min()) or 1.0
                    im = Image.fromarray(((arr - arr.min()) * (255.0 / span)).astype(np.uint8))
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    rgba = im.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(background, rgba)
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as err:
        raise InputError(
            f"{path}: image declares too many pixels for Pillow ({err}); refusing it as a decompression bomb"
        ) from err
    except UnidentifiedImageError as err:
        raise InputError(f"{path}: not an image Pillow can read; pass a JPEG, PNG, BMP or WebP file") from err
    except OSError as err:
        raise InputError(f"{path}: cannot read image ({err}); is the file truncated?") from err
    return rgb


def _decode_jpeg(path: Path, opened: Image.Image) -> np.ndarray | None:
    """A colour JPEG decoded by libjpeg-turbo straight into an RGB array (simplejpeg), or None to
    let Pillow decode it.

    The same pixels as Pillow's decoder (both libjpeg-turbo: accurate integer IDCT, fancy
    upsampling; tests/core/test_media.py holds them equal), without Pillow's 4-bytes-a-pixel
    buffer and the copy out of it: 2.1 against 3.1 ms for an 810x608 photo on the 2-core x86 host,
    about a third of what a detector spends outside its network. Only for what Pillow reads as a
    YCbCr/RGB JPEG; grayscale, CMYK and anything simplejpeg refuses (it is strict: any libjpeg
    warning, a truncated file too) go to Pillow, whose errors are the ones zoo reports."""
    if opened.format != "JPEG" or opened.mode != "RGB":
        return None
    try:
        import simplejpeg
    except ImportError:  # a trimmed install: Pillow decodes everything
        return None
    try:
        rgb = simplejpeg.decode_jpeg(path.read_bytes(), colorspace="RGB")
    except (ValueError, OSError):
        return None
    return rgb if rgb.shape[:2] == (opened.height, opened.width) else None


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
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
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
