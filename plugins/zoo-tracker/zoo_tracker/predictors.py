"""Stateful predictors, written against the core's target interface (issue 7): a predictor is
called on one RGB uint8 frame at a time and returns a result; ``reset()`` starts a new video.

* ``ByteTrackPredictor``: the ``bytetrack`` solution — a detector predictor (role ``detector``,
  any model of task ``detector``) followed by the numpy ByteTracker.
* ``NanoTrackPredictor``: a model with two components, ``template`` and ``search``, given as
  sessions (``session.run({"in0": array, ...}) -> {"out0": array, ...}``, batch first); the first
  frame needs the target box (``init=(x, y, w, h)``, the CLI's ``--init x,y,w,h``).

Both time their own share of the frame (``last_timing``), so a bench can report detector and
tracker separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from zoo.errors import InputError
from zoo_tracker.bytetrack import ByteTrackConfig, ByteTracker, DetectionsLike
from zoo_tracker.result import Tracks
from zoo_tracker.sot.siamese import SiameseConfig, SiameseTracker


class Session(Protocol):
    def run(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]: ...


class ByteTrackPredictor:
    """detector(frame) -> detections -> ByteTracker.update -> Tracks."""

    def __init__(self, detector: Callable[..., DetectionsLike], config: ByteTrackConfig | None = None,
                 names: Sequence[str] = ()) -> None:
        self.detector = detector
        self.tracker = ByteTracker(config, tuple(names))
        self.last_timing: dict[str, float] = {}

    def reset(self) -> None:
        self.tracker.reset()
        reset = getattr(self.detector, "reset", None)
        if callable(reset):
            reset()

    def __call__(self, image: np.ndarray, **options: Any) -> Tracks:
        t0 = time.perf_counter()
        detections = self.detector(image, **options)
        t1 = time.perf_counter()
        tracks = self.tracker.update(detections, image_shape=(int(image.shape[0]), int(image.shape[1])))
        t2 = time.perf_counter()
        self.last_timing = {"detector_ms": (t1 - t0) * 1e3, "tracker_ms": (t2 - t1) * 1e3}
        return tracks


def parse_init_box(text: str | Sequence[float]) -> tuple[float, float, float, float]:
    """'x,y,w,h' (or a sequence) -> a box; one clear line when malformed."""
    if isinstance(text, str):
        parts = [p for p in text.replace(" ", "").split(",") if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"--init {text!r}: expected four numbers x,y,w,h (pixels), e.g. --init 120,80,64,48") from None
    else:
        values = [float(v) for v in text]
    if len(values) != 4 or not all(np.isfinite(values)):
        raise InputError(f"--init {text!r}: expected four numbers x,y,w,h (pixels), e.g. --init 120,80,64,48")
    x, y, w, h = values
    return x, y, w, h


def session_networks(sessions: Mapping[str, Session]) -> tuple[Callable[..., np.ndarray], Callable[..., Any]]:
    """template_fn / search_fn for SiameseTracker from the two components' sessions (pnnx names:
    template in0 -> out0; search in0 = crop, in1 = template features -> out0 = cls, out1 = reg)."""
    for role in ("template", "search"):
        if role not in sessions:
            raise InputError(f"NanoTrack needs a {role!r} component; got {', '.join(sessions) or 'none'}")

    def template_fn(z: np.ndarray) -> np.ndarray:
        return np.asarray(sessions["template"].run({"in0": z})["out0"])

    def search_fn(x: np.ndarray, zf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = sessions["search"].run({"in0": x, "in1": zf})
        return np.asarray(out["out0"]), np.asarray(out["out1"])

    return template_fn, search_fn


class NanoTrackPredictor:
    """The first call needs ``init=(x, y, w, h)`` (or 'x,y,w,h'); later calls follow the target."""

    def __init__(self, sessions: Mapping[str, Session], config: SiameseConfig | None = None) -> None:
        self.tracker = SiameseTracker(*session_networks(sessions), config)
        self.last_timing: dict[str, float] = {}

    def reset(self) -> None:
        self.tracker.reset()

    def __call__(self, image: np.ndarray, init: str | Sequence[float] | None = None, **options: Any) -> Tracks:
        t0 = time.perf_counter()
        if init is not None:
            result = self.tracker.init(image, parse_init_box(init))
        elif not self.tracker.initialised:
            raise InputError("NanoTrack follows one object from its first box: give --init x,y,w,h")
        else:
            result = self.tracker.track(image)
        self.last_timing = {"tracker_ms": (time.perf_counter() - t0) * 1e3}
        return result
