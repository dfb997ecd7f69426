"""The zoo error hierarchy.

Every failure a user can cause (a bad name, a bad file, a missing extra) is a ``ZooError``.
The CLI turns any ``ZooError`` into one line on stderr and a non-zero exit; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """Base class of every error zoo raises on purpose. ``str(err)`` is the one line shown."""

    exit_code: int = 1


class UnknownModelError(ZooError):
    """A model id or alias that no plugin or registry entry knows."""

    def __init__(self, name: str, known: Iterable[str], what: str = "model") -> None:
        self.name = name
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; run `zoo list` to see the {what}s"
        super().__init__(f"unknown {what} {name!r}{hint}")


class UnknownTaskError(UnknownModelError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(name, known, what="task")


class ConfigError(ZooError):
    """A malformed file the user or a plugin wrote (registry.yaml, a card, a recipe)."""


class PluginError(ZooError):
    """A plugin broke the contract: a duplicate id, a bad spec, a hook that raised."""


class MissingDependencyError(ZooError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, extra: str, purpose: str = "") -> None:
        why = f" (needed {purpose})" if purpose else ""
        super().__init__(
            f"the optional dependency {module!r} is not installed{why}; install it with: pip install 'zoo[{extra}]'"
        )


class MissingRuntimeError(ZooError):
    """A runtime is registered but its library is not installed (the message names the extra)."""


class DownloadError(ZooError):
    """A fetch failed: unreachable URL, HTTP error, offline with an empty cache."""


class ChecksumError(DownloadError):
    """A fetched file's sha256 does not match the registry's."""


class CheckpointError(ZooError):
    """A checkpoint that does not fit the model: missing or unexpected keys, wrong shapes, unsafe pickle."""


class InputError(ZooError):
    """A bad input file or argument: not an image, a missing file, an unwritable directory."""


class ExportError(ZooError):
    """A conversion step failed (trace, pnnx, int8 writer)."""
