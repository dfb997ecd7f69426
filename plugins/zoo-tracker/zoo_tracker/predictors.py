"""The tracker tasks' predictors: called on one frame at a time, state kept between frames,
``reset()`` between videos (``zoo run`` and the evaluator call it before each video).

* ``ByteTrackPredictor`` (task ``tracker``): the model in role ``detector`` (any detector in the
  zoo, ``self.part``), then the numpy ByteTracker. Times: ``detector`` (the detector's whole call)
  and ``tracker`` (the association).
* ``NanoTrackPredictor`` (task ``sot``): two components, ``template`` (run once, on the first
  frame's crop around the ``init`` box) and ``search`` (every later frame), through
  ``self.infer``, so the same predictor runs PyTorch modules, ncnn sessions or replayed outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import InputError, PluginError
from zoo.images import as_image
from zoo.results import Tracks
from zoo.tasks import Predictor
from zoo_tracker.bytetrack import ByteTrackConfig, ByteTracker
from zoo_tracker.sot.siamese import SiameseConfig, SiameseTracker

if TYPE_CHECKING:
    from zoo.runtimes import Session
    from zoo.specs import ModelSpec
    from zoo.tasks import TaskDef

DETECTOR = "detector"
INIT_EXAMPLE = "--init 120,80,64,48"


def bytetrack_config(options: Mapping[str, Any], base: ByteTrackConfig | None = None) -> ByteTrackConfig:
    """The tracker's configuration for the run options given (None: the default)."""
    from dataclasses import replace

    base = base or ByteTrackConfig()
    given = {k: options[k] for k in ("track_thresh", "match_thresh", "track_buffer", "frame_rate")
             if options.get(k) is not None}  # fmt: skip
    if "track_thresh" in given:  # the low band stays below the high one
        given["low_thresh"] = min(base.low_thresh, given["track_thresh"])
    return replace(base, **given) if given else base


class ByteTrackPredictor(Predictor):
    """detector(frame) -> Detections -> ByteTracker.update -> Tracks.

    The detector is asked for boxes down to the tracker's low threshold (0.1): BYTE's second
    association is made of exactly the boxes a detector's usual threshold (0.25) throws away."""

    def __init__(self, spec: ModelSpec, task: TaskDef, sessions: Mapping[str, Session],
                 parts: Mapping[str, Predictor] | None = None) -> None:  # fmt: skip
        super().__init__(spec, task, sessions, parts)
        if DETECTOR not in self.parts:
            raise PluginError(f"{spec.id} runs over a detector: it needs a model in role {DETECTOR!r}")
        self.tracker = ByteTracker(ByteTrackConfig())
        import scipy.optimize  # noqa: F401  (the solver, imported now: the first frame's time is the tracker's)

    def predict(self, item: Any, options: Mapping[str, Any]) -> Tracks:
        image = as_image(item)
        config = bytetrack_config(options)
        if config != self.tracker.config:
            self.tracker.config = config
        detections = self.part(DETECTOR, item, conf=config.low_thresh)
        with self.stage("tracker"):
            return self.tracker.update(detections, image_shape=(int(image.shape[0]), int(image.shape[1])))

    def reset(self) -> None:
        super().reset()
        self.tracker.reset()


def parse_init_box(text: str | Sequence[float]) -> tuple[float, float, float, float]:
    """'x,y,w,h' (or a sequence) -> a box; one clear line when malformed."""
    if isinstance(text, str):
        parts = [p for p in text.replace(" ", "").split(",") if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"--init {text!r}: expected four numbers x,y,w,h (pixels), e.g. {INIT_EXAMPLE}") from None
    else:
        values = [float(v) for v in text]
    if len(values) != 4 or not all(np.isfinite(values)):
        raise InputError(f"--init {text!r}: expected four numbers x,y,w,h (pixels), e.g. {INIT_EXAMPLE}")
    if values[2] <= 0 or values[3] <= 0:
        raise InputError(f"--init {text!r}: the box's width and height (w, h of x,y,w,h) must be positive, "
                         f"e.g. {INIT_EXAMPLE}")
    x, y, w, h = values
    return x, y, w, h


def init_problem(value: str) -> str | None:
    """A TaskOption check: why ``value`` is not an x,y,w,h box, or None."""
    try:
        parse_init_box(value)
    except InputError as err:
        return str(err).split(": ", 1)[-1]
    return None


class NanoTrackPredictor(Predictor):
    """The first frame after a reset needs ``init`` = 'x,y,w,h' (the CLI's ``--init``); later
    frames follow the target (``init`` given again is ignored until the next reset, as ``zoo run``
    passes the same options with every frame)."""

    def __init__(self, spec: ModelSpec, task: TaskDef, sessions: Mapping[str, Session],
                 parts: Mapping[str, Predictor] | None = None, config: SiameseConfig | None = None) -> None:  # fmt: skip
        super().__init__(spec, task, sessions, parts)
        missing = [role for role in ("template", "search") if role not in self.sessions]
        if missing:
            raise PluginError(f"{spec.id}: a Siamese tracker needs the components template and search; "
                              f"{', '.join(missing)} missing")  # fmt: skip
        self.tracker = SiameseTracker(self._template, self._search, config)

    def _template(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self.infer("template", {"in0": z})["out0"])

    def _search(self, x: np.ndarray, zf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.infer("search", {"in0": x, "in1": zf})
        return np.asarray(out["out0"]), np.asarray(out["out1"])

    def predict(self, item: Any, options: Mapping[str, Any]) -> Tracks:
        image = as_image(item)
        if self.tracker.initialised:
            return self.tracker.track(image)
        init = options.get("init")
        if init is None:
            raise InputError(f"{self.spec.id} follows one object from its box in the first frame: "
                             f"give it with --init x,y,w,h (pixels), e.g. {INIT_EXAMPLE}")  # fmt: skip
        return self.tracker.init(image, parse_init_box(init))

    def reset(self) -> None:
        super().reset()
        self.tracker.reset()
