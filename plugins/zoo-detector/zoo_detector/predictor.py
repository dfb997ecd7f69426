"""The predictor of the detector and segmenter tasks: letterbox (square or rectangular) → network →
the task's post-processing, and what ``zoo bench`` times for them.

Rectangular inference: a model whose input declares dynamic height and width (``TensorSpec.dynamic_axes``)
and ``pre.params['rect']`` letterboxes each image to the smallest multiple of the stride that holds it
(480×640 for a 4:3 photo at 640) instead of the full square; decode, NMS and masks follow the shape
the network really ran at. ``rect=False`` (``--no-rect``) keeps the square. An export made with a
fixed input shape (older exports, or a runtime that fixes it) runs square unless ``--rect`` is asked
for, which then fails in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.specs import SINGLE
from zoo.tasks import Predictor, Probe
from zoo_detector.processing import preprocess


class LetterboxPredictor(Predictor):
    """One network: letterbox (square, or the rectangle ``rect`` decides) → session → the task's
    ``postprocess``, which reads the real input shape from the context."""

    def predict(self, item: Any, options: Mapping[str, Any]) -> Any:
        from zoo.images import as_image

        image = as_image(item)
        rect = self.rect(options.get("rect"))
        self._check_size(image, item)
        with self.stage("pre"):
            x, context = preprocess(image, self.spec.pre, rect=rect)  # type: ignore[arg-type]
        outputs = self.infer(SINGLE, {self.spec.component.inputs[0].name: x})
        post = self.task.postprocess
        if post is None:
            raise InputError(f"the {self.task.name} task has no postprocess")
        with self.stage("post"):
            return post(outputs, context, self.spec, options)

    def rect(self, asked: bool | None) -> bool:
        """Whether this call letterboxes to a rectangle: as asked, else the model's default where
        the model and its export can; asking for it where they cannot is one clear line."""
        spec = self.spec
        inp = spec.component.inputs[0]
        size = "x".join(str(d) for d in inp.shape[2:])
        can_model = bool(inp.dynamic_axes)
        exp = self.export
        fixed_export = exp is not None and not any(t.dynamic_axes for t in exp.manifest.components[SINGLE].inputs)
        if asked is None:
            return bool(spec.pre is not None and spec.pre.params.get("rect", False)) and can_model and not fixed_export
        if asked and not can_model:
            raise InputError(f"{spec.id} runs at a fixed {size} input only: drop --rect")
        if asked and fixed_export:
            raise InputError(
                f"{exp.folder}: this export of {spec.id} has a fixed {size} input shape (made before rectangular "
                f"inference, or by a runtime that fixes shapes), so --rect cannot run on it: drop --rect, or "
                f"export again (zoo export {spec.id}) for any stride-multiple shape"
            )
        return bool(asked)

    def _check_size(self, image: np.ndarray, item: Any) -> None:
        """An image smaller than one stride has nothing a detector can resolve: refuse it in one line."""
        stride = int(self.spec.pre.params.get("stride", 32)) if self.spec.pre is not None else 32
        h, w = image.shape[:2]
        if h < stride or w < stride:
            name = getattr(item, "name", None) or (str(item) if isinstance(item, str) else "the image")
            raise InputError(
                f"{name}: {w}x{h} pixels is smaller than one stride of {self.spec.id} ({stride} px); "
                f"pass an image at least {stride}x{stride}"
            )


def _landscape(image: np.ndarray, aspect: float) -> np.ndarray:
    """The centre crop of ``image`` with width / height = ``aspect``."""
    h, w = image.shape[:2]
    if w / h > aspect:
        cw = int(round(h * aspect))
        return np.ascontiguousarray(image[:, (w - cw) // 2 : (w - cw) // 2 + cw])
    ch = int(round(w / aspect))
    return np.ascontiguousarray(image[(h - ch) // 2 : (h - ch) // 2 + ch])


def bench_probes(predictor: Predictor, item: Any) -> list[Probe]:
    """What ``zoo bench`` times: the networks alone ('model', the card's latency) and the whole call
    ('pipeline') on a 4:3 photo (the item's centre crop), as a user's camera gives it; and, for a
    model that runs rectangles, the networks on the full square ('model:square') for comparison."""
    from zoo.images import as_image
    from zoo.measure.worker import default_probes, input_shapes, network_calls

    photo = _landscape(as_image(item), 4 / 3)
    where = f" ({photo.shape[1]}x{photo.shape[0]} photo)"
    probes = [replace(p, description=p.description + where) for p in default_probes(predictor, photo)]
    if isinstance(predictor, LetterboxPredictor) and predictor.rect(None):
        calls = network_calls(predictor, photo, rect=False)

        def square() -> None:
            for session, inputs in calls:
                session.run(inputs)

        probes.append(Probe("model:square", square, "the networks alone on the full square letterbox (--no-rect)",
                            input_shapes=input_shapes(calls)))  # fmt: skip
    return probes


CALIBRATION_ASPECTS = (4 / 3, 16 / 9, 3 / 4)
"""Width / height of the extra calibration crops: the rectangles a 4:3 photo, a 16:9 frame and a
portrait photo letterbox to (480×640, 384×640, 640×480 at 640)."""


def calibration_items(spec: Any) -> list[np.ndarray]:
    """int8 calibration over the shapes inference will see: the core's default crops of the embedded
    photos (square and 3:2 here) plus centre crops of each photo at 4:3, 16:9 and 3:4, each run
    through the predictor (so letterboxed exactly as at inference, rectangles included)."""
    from zoo.images import calibration_images, load_image, sample_image_paths

    items = list(calibration_images())
    for path in sample_image_paths():
        photo = load_image(path)
        items += [_landscape(photo, aspect) for aspect in CALIBRATION_ASPECTS]
    return items
