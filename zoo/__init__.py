"""zoo: pick a model by name, convert it for ncnn, run it, and measure it on your board.

Nothing heavy is imported here: ``import zoo`` loads no plugin, no torch, no ncnn. The public
functions (``zoo.load``, ``zoo.bench``, ``zoo.export``, ``zoo.evaluate``, ``zoo.pull``,
``zoo.list_models``, ``zoo.info``) are imported from ``zoo.api`` on first use. No subpackage
shares a name with them (the timing code is ``zoo.measure``, the export steps ``zoo.convert``),
so ``zoo.bench`` stays the function whatever has been imported.
"""

from __future__ import annotations

from typing import Any

from zoo.hookspecs import hookimpl

__version__ = "0.2.0"
_API = ("load", "bench", "export", "evaluate", "pull", "list_models", "info", "compress", "verify_arm")
__all__ = ["hookimpl", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from zoo import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
