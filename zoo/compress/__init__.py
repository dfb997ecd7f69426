"""Model compression: quantization (PTQ, QAT), k-means sharing, binary/ternary weights, pruning,
distillation and low-rank factorisation, behind one ``compress(model, method, **options)``.

Importing this package does not import torch: ``compress`` and ``CompressionReport`` are loaded
on first access, so the Pi-side runtime (no torch) can import ``zoo`` freely. The submodules
(``zoo.compress.linear``, ``.prune``, ...) import torch directly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.compress.api import METHODS, CompressionReport, compress, parse_options

__all__ = ["METHODS", "CompressionReport", "compress", "parse_options"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from zoo.deps import require

        require("torch", "export", "to compress models")
        return getattr(importlib.import_module("zoo.compress.api"), name)
    raise AttributeError(f"module 'zoo.compress' has no attribute {name!r}")
