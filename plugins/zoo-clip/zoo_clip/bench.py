"""What ``zoo bench`` times for a zero-shot model (``TaskDef.bench_probes``).

* ``model``: the image tower alone, one call (the card's latency and FPS column);
* ``model:text``: the text tower alone, one prompt;
* ``pipeline``: zero-shot classification of one image over N labels with the label embeddings
  cached (what every image after the first costs: preprocessing, image tower, scoring);
* ``pipeline:uncached``: the same with the text cache off (the text tower runs for all N
  prompts on every call, plus tokenisation: what the first image of a new label set costs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo.flows.parity import Recorder
from zoo.tasks import Probe


def probes(predictor: Any, item: Any, labels: Sequence[str]) -> list[Probe]:
    options = {"labels": ",".join(labels)}
    recorders = {role: Recorder(session) for role, session in predictor.sessions.items()}
    saved = dict(predictor.sessions)
    predictor.sessions.update(recorders)
    predictor.text_cache = "off"
    try:
        predictor(item, **options)
    finally:
        predictor.sessions.update(saved)
    image_session, (image_inputs, _) = recorders["image"].session, recorders["image"].calls[0]
    text_session, (text_inputs, _) = recorders["text"].session, recorders["text"].calls[0]
    n = len(labels)

    def cached() -> None:
        predictor.text_cache = "memory"
        predictor(item, **options)

    def uncached() -> None:
        predictor.text_cache = "off"
        predictor(item, **options)

    return [
        Probe("model", lambda: image_session.run(image_inputs), "the image tower alone (one call per image)"),
        Probe("model:text", lambda: text_session.run(text_inputs), "the text tower alone (one call per prompt)",
              unit="prompt"),
        Probe("pipeline", cached, f"zero-shot over {n} labels, label embeddings cached: preprocessing + image "
              "tower + scoring per image", unit="image"),
        Probe("pipeline:uncached", uncached, f"zero-shot over {n} labels without the text cache: tokenising + "
              f"{n} text-tower calls + the image, per image", unit="image"),
    ]  # fmt: skip
