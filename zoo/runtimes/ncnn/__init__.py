"""The ncnn runtime: the only package (with the ncnn exporter in zoo.convert) that imports ncnn.

``NcnnRuntime`` is registered by the core's built-in plugin through ``register_runtimes``, the
same hook a third-party runtime uses. Its artifact format 'ncnn' is a .param (text graph) and a
.bin (weights) per component; both are checked before ncnn reads them (strict .param parser and
graph wiring; sha256 against the export manifest is the loader's job).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError
from zoo.specs import TensorSpec


def ncnn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ncnn")
    except PackageNotFoundError:
        return "unknown"


class NcnnRuntime:
    name = "ncnn"
    formats = ("ncnn",)
    extra = "runtime"
    file_roles = ("param", "bin")

    def unavailable_reason(self) -> str | None:
        try:
            import ncnn  # noqa: F401
        except ImportError:
            return "the ncnn package is not installed; pip install ncnn"
        return None

    def version(self) -> str:
        return ncnn_version()

    def options_for(self, precision: str) -> dict[str, Any]:
        from zoo.runtimes.ncnn.session import OPTIONS_BY_PRECISION

        if precision not in OPTIONS_BY_PRECISION:
            raise ConfigError(f"ncnn has no {precision!r} precision; choose from {', '.join(OPTIONS_BY_PRECISION)}")
        return dict(OPTIONS_BY_PRECISION[precision])

    def check(self, fmt: str, files: Mapping[str, Path]) -> None:
        from zoo.runtimes.ncnn.param import read_param

        self._check_roles(fmt, files)
        read_param(files["param"]).check_graph(str(files["param"]))

    def load(
        self,
        fmt: str,
        files: Mapping[str, Path],
        *,
        threads: int,
        options: Mapping[str, Any],
        outputs: Sequence[TensorSpec] = (),
    ) -> Any:
        from zoo.runtimes.ncnn.session import NcnnSession

        self._check_roles(fmt, files)
        shapes = {t.name: t.shape for t in outputs}
        return NcnnSession(files["param"], files["bin"], threads=threads, options=dict(options), output_shapes=shapes)

    def _check_roles(self, fmt: str, files: Mapping[str, Path]) -> None:
        if fmt not in self.formats:
            raise ConfigError(f"the ncnn runtime cannot load {fmt!r} artifacts (it loads: {', '.join(self.formats)})")
        missing = [r for r in self.file_roles if r not in files]
        if missing:
            raise ConfigError(f"an ncnn component needs files {list(self.file_roles)}; missing {missing}")
