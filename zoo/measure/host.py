"""What machine is this: a Hardware record for the card, and other-load detection."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from zoo.card import Hardware, host_name

_INTERESTING_FLAGS = (
    "avx",
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avxvnni",
    "f16c",
    "fma",
    "asimd",
    "asimdhp",
    "asimddp",
    "i8mm",
    "bf16",
    "sve",
    "fphp",
)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def cpu_model() -> str:
    info = _read("/proc/cpuinfo")
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in info.splitlines():
            if line.lower().startswith(key.lower()) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def board_name() -> str:
    """The board ('Raspberry Pi 5 Model B Rev 1.0') from the device tree, else the CPU family
    ('AMD EPYC host'), so cards of different machines never share a name."""
    model = _read("/proc/device-tree/model").strip("\x00\n ")
    if model:
        return model
    return host_name(cpu_model(), platform.machine())


def cpu_flags() -> list[str]:
    info = _read("/proc/cpuinfo")
    flags: set[str] = set()
    for line in info.splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            flags.update(line.split(":", 1)[1].split())
    return sorted(f for f in flags if f in _INTERESTING_FLAGS)


def physical_cores() -> int:
    """Physical cores this process may use (a Pi 5: 4): zoo's default thread count, as
    Ultralytics and ncnn's own tools choose."""
    import psutil

    physical = psutil.cpu_count(logical=False) or usable_cores()
    return max(1, min(physical, usable_cores()))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def probe() -> Hardware:
    import psutil

    return Hardware(
        name=board_name(),
        cpu=cpu_model(),
        cores=usable_cores(),
        arch=platform.machine(),
        os=f"{platform.system()} {platform.release()}",
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        cpu_flags=cpu_flags(),
    )


@dataclass
class LoadMonitor:
    """Measures how busy the cores were with *other* processes between start() and stop()."""

    _busy0: float = 0.0
    _own0: float = 0.0
    _wall0: float = 0.0

    def start(self) -> None:
        import time

        import psutil

        t = psutil.cpu_times()
        self._busy0 = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        own = psutil.Process().cpu_times()
        self._own0 = own.user + own.system
        self._wall0 = time.perf_counter()

    def stop(self) -> float:
        """Fraction (0..1) of all cores' time used by other processes."""
        import time

        import psutil

        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0) - self._busy0
        own_t = psutil.Process().cpu_times()
        own = own_t.user + own_t.system - self._own0
        wall = (time.perf_counter() - self._wall0) * (psutil.cpu_count() or 1)
        return max(0.0, min(1.0, (busy - own) / wall)) if wall > 0 else 0.0
