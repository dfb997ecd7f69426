"""Runtimes: something that runs a network on a dict of arrays. ncnn is the one zoo ships for."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Session(Protocol):
    input_names: list[str]
    output_names: list[str]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...
