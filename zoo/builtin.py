"""The core's own plugin: export steps, the ncnn and onnxruntime runtimes and the energy meters.

Registered directly by the plugin manager (not through an entry point), through the same hooks
every other plugin uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.hookspecs import hookimpl


@hookimpl
def register_exporters(register: Callable[[str, Any], None]) -> None:
    from zoo.convert import steps

    register("trace", steps.trace_step)
    register("pnnx", steps.pnnx_step)
    register("int8", steps.int8_step)
    register("onnx", steps.onnx_step)


@hookimpl
def register_runtimes(register: Callable[[Any], None]) -> None:
    from zoo.runtimes.ncnn import NcnnRuntime
    from zoo.runtimes.onnxruntime import OnnxRuntime

    register(NcnnRuntime())
    register(OnnxRuntime())


@hookimpl
def register_power_meters(register: Callable[[str, Any], None]) -> None:
    from zoo.measure import energy

    register("rapl", energy.RaplMeter)
    register("pi5-pmic", energy.Pi5PmicMeter)
