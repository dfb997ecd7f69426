"""A Siamese single-object tracker's pre- and post-processing in numpy, with the semantics of
NanoTrack's ``nano_tracker.py`` / pysot's ``SiameseTracker.get_subwindow``, and the state that
follows one object from frame to frame.

Per frame: crop a square around the last position (side = the target's size plus context,
scaled by 255/127), resize it to 255x255 (padding outside the frame with the first frame's mean
colour), run the ``search`` network with the ``template`` features of the first frame's 127x127
crop, then pick the best of the 15x15 candidate boxes by score x scale/aspect-change penalty,
blended with a cosine (Hanning) window that favours small motion, and move there, updating the
size with a learning rate proportional to that candidate's penalised score.

Networks are given as callables (``template_fn(crop) -> features``, ``search_fn(crop, features)
-> (cls, reg)``, NCHW float32 arrays), so the same code runs PyTorch, ncnn sessions or a test's
oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from zoo.results import Tracks

TemplateFn = Callable[[np.ndarray], np.ndarray]
SearchFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SiameseConfig:
    """NanoTrack V3's tracking hyper-parameters (``models/config/configv3.yaml``)."""

    exemplar_size: int = 127
    instance_size: int = 255
    stride: int = 16
    score_size: int = 15
    context_amount: float = 0.5
    penalty_k: float = 0.138
    window_influence: float = 0.455
    lr: float = 0.348
    min_size: float = 10.0
    """Smallest box side kept (upstream's _bbox_clip)."""
    bgr: bool = True
    """The networks take BGR crops, 0..255, as upstream reads frames with OpenCV."""

    @classmethod
    def from_spec(cls, spec: Any) -> SiameseConfig:
        """The configuration a model spec declares: crop sizes and channel order in ``pre``
        (``size`` = the search crop; params exemplar_size, context_amount), the window, penalty
        and learning rate in ``post.params``; what it leaves out keeps NanoTrack V3's values."""
        from dataclasses import fields

        from zoo.errors import ConfigError

        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        if spec.pre is not None:
            values["instance_size"] = int(spec.pre.size[0])
            values["bgr"] = spec.pre.channel_order == "BGR"
            values.update(spec.pre.params)
        if spec.post is not None:
            values.update(spec.post.params)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{spec.id}: unknown Siamese tracker parameter(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        return cls(**values)


# --- pure functions ---------------------------------------------------------------------------

def context_size(size: np.ndarray, context_amount: float) -> float:
    """Side of the square exemplar region: sqrt((w + p)(h + p)) with p = context_amount * (w + h)."""
    w, h = float(size[0]), float(size[1])
    pad = context_amount * (w + h)
    return float(np.sqrt((w + pad) * (h + pad)))


def resize_bilinear(image: np.ndarray, out_size: int) -> np.ndarray:
    """Square bilinear resize with half-pixel centres and edge clamping (OpenCV's INTER_LINEAR without
    its fixed-point rounding), HxWxC -> out x out x C float32."""
    h, w = image.shape[:2]

    def axis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.clip((np.arange(out_size) + 0.5) * (n / out_size) - 0.5, 0, n - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n - 1)
        return i0, i1, (src - i0).astype(np.float32)

    y0, y1, wy = axis(h)
    x0, x1, wx = axis(w)
    c = image.shape[2]
    # separable, each pass a gather of whole rows (2-D arrays: numpy's inner loops stay long)
    img = image.astype(np.float32, copy=False).reshape(h, w * c)
    rows = img[y0] * (1 - wy)[:, None] + img[y1] * wy[:, None]  # (out, w*c)
    cols = np.ascontiguousarray(rows.reshape(out_size, w, c).transpose(1, 0, 2)).reshape(w, out_size * c)
    res = cols[x0] * (1 - wx)[:, None] + cols[x1] * wx[:, None]  # (out_x, out_y*c)
    return np.ascontiguousarray(res.reshape(out_size, out_size, c).transpose(1, 0, 2))


def crop_patch(image: np.ndarray, center: np.ndarray, crop_size: float, pad_value: np.ndarray) -> np.ndarray:
    """The square of side round(crop_size) centred on ``center`` (x, y), padded with ``pad_value``
    outside the image, in the image's dtype (a uint8 frame truncates the mean colour, as upstream)."""
    sz = max(1, int(np.round(crop_size)))
    c = (sz + 1) / 2
    xmin = int(np.floor(center[0] - c + 0.5))
    ymin = int(np.floor(center[1] - c + 0.5))
    h, w = image.shape[:2]
    patch = np.empty((sz, sz, image.shape[2]), dtype=image.dtype)
    patch[:] = np.asarray(pad_value).astype(image.dtype)
    x0, x1 = max(0, xmin), min(w, xmin + sz)
    y0, y1 = max(0, ymin), min(h, ymin + sz)
    if x1 > x0 and y1 > y0:
        patch[y0 - ymin:y1 - ymin, x0 - xmin:x1 - xmin] = image[y0:y1, x0:x1]
    return patch


def crop_window(image: np.ndarray, center: np.ndarray, out_size: int, crop_size: float,
                pad_value: np.ndarray) -> np.ndarray:
    """``crop_patch`` resized to out_size: (out, out, C) float32 holding uint8 values (as upstream,
    which pads a uint8 copy of the frame and resizes with OpenCV). The numpy reference of
    ``crop_input``."""
    patch = crop_patch(image, center, crop_size, pad_value)
    if patch.shape[0] == out_size:
        return patch.astype(np.float32)
    resized = resize_bilinear(patch, out_size)
    if image.dtype == np.uint8:
        resized = np.clip(np.round(resized), 0, 255)
    return resized.astype(np.float32)


def crop_input(image: np.ndarray, center: np.ndarray, out_size: int, crop_size: float, pad_value: np.ndarray,
               bgr: bool) -> np.ndarray:
    """The network input (1, 3, out, out) float32 for an RGB uint8 frame: ``crop_patch`` resized by
    ncnn's C pixel routines (OpenCV's fixed-point bilinear, as upstream's cv2.resize; ~10x faster
    than ``crop_window``, within one grey level of it), channels swapped to BGR if ``bgr``."""
    from zoo.imageops import resize_pad_normalize

    patch = crop_patch(image, center, crop_size, pad_value)
    x = resize_pad_normalize(patch, (out_size, out_size), bgr=bgr, scale=1.0)
    return x[None]


def to_network(crop: np.ndarray, bgr: bool) -> np.ndarray:
    """(S, S, 3) crop of an RGB frame -> (1, 3, S, S) float32 network input."""
    if bgr:
        crop = crop[..., ::-1]
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)


def cosine_window(score_size: int) -> np.ndarray:
    """Flattened outer product of two Hanning windows (score_size^2,)."""
    h = np.hanning(score_size)
    return np.outer(h, h).reshape(-1)


def score_points(stride: int, score_size: int) -> np.ndarray:
    """(score_size^2, 2) x, y offsets of each score position from the search crop's centre, row-major."""
    origin = -(score_size // 2) * stride
    xs = origin + stride * np.arange(score_size, dtype=np.float32)
    x, y = np.meshgrid(xs, xs)
    return np.stack([x.reshape(-1), y.reshape(-1)], axis=1)


def decode(cls: np.ndarray, reg: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs -> (target probability (K,), boxes (4, K) as cx, cy, w, h in search-crop pixels
    relative to its centre). cls: (1, 2, S, S) logits; reg: (1, 4, S, S) distances l, t, r, b."""
    logits = cls.reshape(2, -1).astype(np.float64)
    logits = logits - logits.max(axis=0, keepdims=True)
    e = np.exp(logits)
    score = e[1] / e.sum(axis=0)
    d = reg.reshape(4, -1).astype(np.float64)
    x1, y1 = points[:, 0] - d[0], points[:, 1] - d[1]
    x2, y2 = points[:, 0] + d[2], points[:, 1] + d[3]
    return score, np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def _padded_size(w: np.ndarray | float, h: np.ndarray | float) -> np.ndarray:
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


def penalised_scores(score: np.ndarray, boxes: np.ndarray, size: np.ndarray, scale_z: float,
                     config: SiameseConfig, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(penalty (K,), pscore (K,)): penalty = exp(-(r_c * s_c - 1) * k) for the change in scale s_c and
    aspect ratio r_c against the current size; pscore = penalty * score blended with the window."""
    s_c = _change(_padded_size(boxes[2], boxes[3]) / _padded_size(size[0] * scale_z, size[1] * scale_z))
    r_c = _change((size[0] / size[1]) / (boxes[2] / boxes[3]))
    penalty = np.exp(-(r_c * s_c - 1) * config.penalty_k)
    pscore = penalty * score * (1 - config.window_influence) + window * config.window_influence
    return penalty, pscore


def next_state(center: np.ndarray, size: np.ndarray, box: np.ndarray, lr: float,
               image_shape: tuple[int, int], min_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Move to the chosen box (cx, cy offsets, w, h in frame pixels), smoothing the size by ``lr``,
    then clip the centre to the frame and the size to [min_size, frame size]."""
    h_img, w_img = image_shape
    cx = float(np.clip(box[0] + center[0], 0, w_img))
    cy = float(np.clip(box[1] + center[1], 0, h_img))
    width = float(np.clip(size[0] * (1 - lr) + box[2] * lr, min_size, w_img))
    height = float(np.clip(size[1] * (1 - lr) + box[3] * lr, min_size, h_img))
    return np.array([cx, cy]), np.array([width, height])


# --- state --------------------------------------------------------------------------------------

@dataclass
class _State:
    center: np.ndarray
    size: np.ndarray
    pad_value: np.ndarray
    features: np.ndarray
    image_shape: tuple[int, int]
    frame: int = 1
    trail: list[tuple[float, float]] = field(default_factory=list)


class SiameseTracker:
    """Follows one object: ``init(frame, (x, y, w, h))`` on the first frame, then ``track(frame)``."""

    def __init__(self, template_fn: TemplateFn, search_fn: SearchFn, config: SiameseConfig | None = None,
                 trail_length: int = 30) -> None:
        self.template_fn = template_fn
        self.search_fn = search_fn
        self.config = config or SiameseConfig()
        self.trail_length = trail_length
        self.window = cosine_window(self.config.score_size)
        self.points = score_points(self.config.stride, self.config.score_size)
        self._state: _State | None = None

    def reset(self) -> None:
        self._state = None

    @property
    def initialised(self) -> bool:
        return self._state is not None

    def init(self, image: np.ndarray, box: tuple[float, float, float, float] | np.ndarray) -> Tracks:
        """Start on ``image`` (RGB uint8 HxWx3) at ``box`` = (x, y, w, h) in pixels."""
        from zoo.errors import InputError

        cfg = self.config
        x, y, w, h = (float(v) for v in box)
        img_h, img_w = image.shape[:2]
        if not (w > 0 and h > 0) or x >= img_w or y >= img_h or x + w <= 0 or y + h <= 0:
            raise InputError(f"--init {x:g},{y:g},{w:g},{h:g}: the box must have a positive size and overlap the "
                             f"{img_w}x{img_h} frame; give x,y,w,h in pixels")
        center = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
        size = np.array([w, h])
        pad_value = image.reshape(-1, image.shape[2]).mean(axis=0)
        s_z = np.round(context_size(size, cfg.context_amount))
        z = crop_input(image, center, cfg.exemplar_size, s_z, pad_value, cfg.bgr)
        features = np.asarray(self.template_fn(z))
        self._state = _State(center=center, size=size, pad_value=pad_value, features=features,
                             image_shape=(img_h, img_w), trail=[(float(center[0]), float(center[1]))])
        return self._result(1.0, np.array([x, y, x + w, y + h]))

    def track(self, image: np.ndarray) -> Tracks:
        """Follow the object into ``image``; the result holds one track (id 1) with its confidence."""
        from zoo.errors import InputError

        st = self._state
        if st is None:
            raise InputError("the single-object tracker has no target yet: give the first box with --init x,y,w,h")
        cfg = self.config
        s_z = context_size(st.size, cfg.context_amount)
        scale_z = cfg.exemplar_size / s_z
        s_x = s_z * (cfg.instance_size / cfg.exemplar_size)
        x = crop_input(image, st.center, cfg.instance_size, np.round(s_x), st.pad_value, cfg.bgr)
        cls, reg = self.search_fn(x, st.features)
        score, boxes = decode(np.asarray(cls), np.asarray(reg), self.points)
        penalty, pscore = penalised_scores(score, boxes, st.size, scale_z, cfg, self.window)
        best = int(np.argmax(pscore))
        lr = float(penalty[best] * score[best] * cfg.lr)
        st.center, st.size = next_state(st.center, st.size, boxes[:, best] / scale_z, lr,
                                        (image.shape[0], image.shape[1]), cfg.min_size)
        st.image_shape = (image.shape[0], image.shape[1])
        st.frame += 1
        st.trail = [*st.trail, (float(st.center[0]), float(st.center[1]))][-self.trail_length:]
        return self._result(float(score[best]))

    def _result(self, confidence: float, box: np.ndarray | None = None) -> Tracks:
        st = cast(_State, self._state)
        if box is None:  # upstream's output: (cx - w/2, cy - h/2, w, h)
            w, h = st.size
            box = np.array([st.center[0] - w / 2, st.center[1] - h / 2, st.center[0] + w / 2, st.center[1] + h / 2])
        trail = np.full((1, self.trail_length, 2), np.nan, np.float32)
        pts = np.asarray(st.trail, np.float32)
        trail[0, self.trail_length - len(pts):] = pts
        return Tracks(frame=st.frame, ids=np.array([1], np.int64),
                      boxes=np.asarray(box, np.float32).reshape(1, 4),
                      scores=np.array([confidence], np.float32), class_ids=np.zeros(1, np.int64),
                      names=("target",), image_shape=st.image_shape, trails=trail)
