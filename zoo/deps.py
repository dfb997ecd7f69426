"""Lazy imports of optional dependencies, each behind a clear error naming its extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from zoo.errors import MissingDependencyError


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming ``pip install 'zoo[extra]'``.

    Never installs anything. Heavy modules (torch, pnnx, huggingface_hub, llama_cpp) are only
    imported through this, inside the function that needs them.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        # A module that exists but fails inside its own import is a broken install, not a
        # missing one: keep the original cause visible.
        if getattr(err, "name", None) not in (None, module, module.split(".")[0]):
            raise
        raise MissingDependencyError(module, extra, purpose) from err
