"""Result types shared by every plugin: what a predictor returns.

Each is a frozen dataclass with ``to_dict()`` (what ``--json`` prints: plain JSON types),
``summary()`` (short human text) and ``draw(image)`` (an annotated RGB copy). They live in the core
so that a plugin composing another's models (pose behind a detector, a tracker over detections)
never imports that plugin. Names resolve lazily: ``from zoo.results import Detections`` imports
only that module.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from zoo.results.base import Result

_WHERE = {
    "Classification": "zoo.results.classification",
    "Detections": "zoo.results.detection",
    "Poses": "zoo.results.pose",
    "InstanceMasks": "zoo.results.segmentation",
    "Embeddings": "zoo.results.embeddings",
    "Generation": "zoo.results.text",
    "Tracks": "zoo.results.tracks",
    "ZeroShot": "zoo.results.zeroshot",
}

__all__ = ["Result", *_WHERE]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'zoo.results' has no attribute {name!r}")
