"""zoo: pick a model by name, convert it for ncnn, run it, and measure it on your board.

Nothing heavy is imported here: ``import zoo`` loads no plugin, no torch, no ncnn. The public
functions are imported on first use.
"""

from __future__ import annotations

from typing import Any

from zoo.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "load", "bench", "export", "pull", "list_models", "info", "__version__"]

_API = {"load", "bench", "export", "pull", "list_models", "info", "evaluate"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from zoo import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
