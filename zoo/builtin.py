"""The core's own plugin: export steps, the ncnn runtime and the energy meters.

Registered directly by the plugin manager (not through an entry point), through the same hooks
every other plugin uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.hookspecs import hookimpl


@hookimpl
def register_exporters(register: Callable[[str, Any], None]) -> None:
    from zoo.export import steps

    register("trace", steps.trace_step)
    register("pnnx", steps.pnnx_step)
    register("int8", steps.int8_step)


@hookimpl
def register_runtimes(register: Callable[[str, Any], None]) -> None:
    from zoo.runtime.ncnn_session import ncnn_factory

    register("ncnn", ncnn_factory)


@hookimpl
def register_power_meters(register: Callable[[str, Any], None]) -> None:
    from zoo.bench import energy

    register("rapl", energy.RaplMeter)
    register("pi5-pmic", energy.Pi5PmicMeter)
