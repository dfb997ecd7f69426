"""CLIP's pre- and post-processing: pure functions on numpy arrays (no torch, no ncnn).

Image preprocessing is open_clip's / OpenAI's eval transform: resize the shorter side to the
model's size with bicubic filtering (Pillow's, which is what torchvision's ``Resize`` calls on a
PIL image, so the pixels are the same), centre crop, scale to [0, 1], normalise by CLIP's mean and
std. Zero-shot classification is ``softmax(exp(logit_scale) * img @ txt.T)`` over L2-normalised
embeddings, with each label put through a prompt template ("a photo of a {}").

The label-set cache stores the text embeddings of one (model, artifact, labels, template) so a
Pi does not run the text tower for every image; its key and file format are here, the folder
comes from the core.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import InputError

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_TEMPLATE = "a photo of a {}"


# ----------------------------------------------------------------------------- image


def resize_shorter(image: np.ndarray, size: int, interpolation: str = "bicubic") -> np.ndarray:
    """Shorter side to ``size`` with Pillow's filter, as torchvision's ``Resize(size)`` on a PIL image.

    The longer side becomes ``int(size * long / short)`` (torchvision truncates, it does not
    round). An image already at that size is returned unchanged, as torchvision does.
    """
    from PIL import Image

    h, w = image.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return image
    if interpolation not in _FILTERS:
        raise InputError(f"interpolation must be one of {sorted(_FILTERS)}, got {interpolation!r}")
    return np.asarray(Image.fromarray(image).resize((new_w, new_h), getattr(Image.Resampling, _FILTERS[interpolation])))


_FILTERS = {"bicubic": "BICUBIC", "bilinear": "BILINEAR"}


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """torchvision's ``CenterCrop(size)`` on an image at least ``size`` on each side:
    top = round((h - size) / 2), left likewise (Python's round, halves to even)."""
    h, w = image.shape[:2]
    if h < size or w < size:
        raise InputError(f"center_crop needs an image of at least {size}x{size}, got {w}x{h}")
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return image[top : top + size, left : left + size]


def preprocess_image(
    image: np.ndarray,
    size: int = 224,
    mean: Sequence[float] = OPENAI_MEAN,
    std: Sequence[float] = OPENAI_STD,
    interpolation: str = "bicubic",
    resize: int | None = None,
) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> (1, 3, size, size) float32, open_clip's eval transform: shorter side
    to ``resize`` (default ``size``), centre crop ``size``, scale to [0, 1], normalise.

    CLIP (OpenAI/LAION weights): bicubic, CLIP mean/std. MobileCLIP2-S0: 256, bilinear, mean 0, std 1.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    crop = center_crop(resize_shorter(image, resize or size, interpolation), size).astype(np.float32) / 255.0
    x = (crop - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


# ----------------------------------------------------------------------------- embeddings


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (float32); an all-zero row stays zero."""
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, eps)


def prompts(labels: Sequence[str], template: str = DEFAULT_TEMPLATE) -> list[str]:
    """One prompt per label: ``template`` with ``{}`` replaced by the label."""
    check_labels(labels)
    if template.count("{}") != 1:
        raise InputError(f"--template must contain '{{}}' exactly once (where the label goes), got {template!r}")
    return [template.replace("{}", label.strip()) for label in labels]


def check_labels(labels: Sequence[str]) -> None:
    """At least one label, none empty, none twice (one line naming the problem otherwise)."""
    if isinstance(labels, str) or not len(labels) or not any(str(label).strip() for label in labels):
        raise InputError("the label list is empty: pass --labels 'a cat,a dog' or --labels-file FILE")
    empty = [i for i, label in enumerate(labels) if not str(label).strip()]
    if empty:
        raise InputError(f"label {empty[0] + 1} of {len(labels)} is empty; remove the extra comma")
    dupes = sorted({label for label in labels if list(labels).count(label) > 1})
    if dupes:
        raise InputError(f"label {dupes[0]!r} is given twice; each label must be unique")


def split_labels(text: str) -> list[str]:
    """``--labels 'a cat, a dog'`` → ['a cat', 'a dog'] (commas separate; spaces around are dropped)."""
    return [part.strip() for part in str(text).split(",")]


def read_labels_file(path: str | Path) -> list[str]:
    """One label per line (blank lines skipped), UTF-8."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such labels file; --labels-file takes a text file with one label per line") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read it as UTF-8 text ({type(err).__name__}); one label per line") from None
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise InputError(f"{path}: holds no labels; write one label per line")
    return labels


def labels_from(labels: str | None, labels_file: str | Path | None) -> list[str]:
    """The label list of ``--labels`` or ``--labels-file`` (exactly one of them), checked."""
    if labels is not None and labels_file is not None:
        raise InputError("give --labels or --labels-file, not both")
    if labels is None and labels_file is None:
        raise InputError("zero-shot classification needs labels: pass --labels 'a cat,a dog' or --labels-file FILE")
    out = read_labels_file(labels_file) if labels_file is not None else split_labels(str(labels))
    check_labels(out)
    return out


def labels_problem(text: str) -> str | None:
    """A TaskOption check for ``--labels``: why the value is no label list, or None."""
    try:
        check_labels(split_labels(text))
    except InputError as err:
        return str(err)
    return None


def zero_shot_logits(image_embeddings: np.ndarray, text_embeddings: np.ndarray, logit_scale: float) -> np.ndarray:
    """open_clip's ``logit_scale.exp() * img @ txt.T`` on L2-normalised rows: (N_img, N_labels).

    ``logit_scale`` is the checkpoint's log-scale parameter (log(100) for trained CLIPs, which
    open_clip clamps to at most log(100)).
    """
    img, txt = l2_normalize(image_embeddings), l2_normalize(text_embeddings)
    return np.float32(np.exp(logit_scale)) * (img @ txt.T)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- label-set cache

CACHE_FORMAT = "zoo-clip-text-embeddings/1"


@dataclass(frozen=True)
class CacheKey:
    """What a cached set of text embeddings depends on."""

    model_id: str
    artifact_sha256: str
    """sha256 of the text tower's weights as run (the ncnn .bin, or the checkpoint for PyTorch)."""
    labels: tuple[str, ...]
    template: str

    def digest(self) -> str:
        blob = json.dumps([CACHE_FORMAT, self.model_id, self.artifact_sha256, list(self.labels), self.template],
                          ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def path(self, cache_dir: Path) -> Path:
        """``<cache_dir>/<model id>/<digest[:24]>.npz``."""
        safe_id = "".join(c if c.isalnum() or c in "-._" else "_" for c in self.model_id)
        return Path(cache_dir) / safe_id / f"{self.digest()[:24]}.npz"


def save_text_cache(path: Path, key: CacheKey, embeddings: np.ndarray, truncated: Sequence[str] = ()) -> Path:
    """Write L2-normalised text embeddings (N_labels, D) with their key and the prompts that were
    truncated, atomically (.npz)."""
    embeddings = l2_normalize(embeddings)
    if embeddings.shape[0] != len(key.labels):
        raise InputError(f"{len(key.labels)} labels but {embeddings.shape[0]} embeddings to cache")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": CACHE_FORMAT, "model_id": key.model_id, "artifact_sha256": key.artifact_sha256,
            "labels": list(key.labels), "template": key.template, "digest": key.digest(),
            "truncated": list(truncated)}
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, embeddings=embeddings, meta=np.array(json.dumps(meta, ensure_ascii=False)))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_text_cache(path: Path, key: CacheKey) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The cached embeddings for ``key`` and the prompts that were truncated, or None if there is
    no such file.

    A file that exists but was written for another model, artifact, label set or template (or
    is not a cache file at all) is refused with one line naming the file and what differs.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            embeddings = np.asarray(data["embeddings"], np.float32)
    except (OSError, ValueError, KeyError, EOFError) as err:
        raise InputError(f"{path}: not a zoo CLIP text-embedding cache ({type(err).__name__}); delete it") from err
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise InputError(f"{path}: cache format {got!r}, expected {CACHE_FORMAT!r}; delete it")
    expected = {"model_id": key.model_id, "artifact_sha256": key.artifact_sha256,
                "labels": list(key.labels), "template": key.template}
    for field, want in expected.items():
        if meta.get(field) != want:
            got = meta.get(field)
            raise InputError(
                f"{path}: text-embedding cache written for {field} {_short(got)}, not {_short(want)}; "
                "delete it or use the model it was made for"
            )
    if embeddings.ndim != 2 or embeddings.shape[0] != len(key.labels):
        raise InputError(f"{path}: {embeddings.shape} cached embeddings for {len(key.labels)} labels; delete it")
    return embeddings, tuple(str(t) for t in meta.get("truncated", []))


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
