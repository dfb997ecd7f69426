"""Energy meters. Each says why it is unavailable instead of guessing a number.

- RaplMeter: Intel/AMD RAPL package energy counter from /sys/class/powercap (x86 Linux).
- Pi5PmicMeter: the Raspberry Pi 5 PMIC's rail currents and voltages through ``vcgencmd
  pmic_read_adc``, sampled in a thread and integrated over time (whole-board rails, so it includes
  idle power: the card says so).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

_RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")


class RaplMeter:
    name = "rapl"

    def available(self) -> str | None:
        if not _RAPL.exists():
            return "no RAPL counter (/sys/class/powercap/intel-rapl:0) on this machine"
        try:
            int(_RAPL.read_text())
        except (OSError, ValueError) as err:
            return f"RAPL counter not readable ({getattr(err, 'strerror', err)}); needs root or a relaxed powercap permission"
        return None

    def start(self) -> None:
        self._e0 = int(_RAPL.read_text())

    def stop(self) -> float:
        e1 = int(_RAPL.read_text())
        return max(0, e1 - self._e0) / 1e6


_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([\d.]+)[AV]", re.M)


def pmic_power_watts(text: str) -> float:
    """Sum of V×A over the rails in one ``vcgencmd pmic_read_adc`` dump."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for rail, kind, value in _PMIC_LINE.findall(text):
        (amps if kind == "A" else volts)[rail] = float(value)
    return sum(a * volts[r] for r, a in amps.items() if r in volts)


class Pi5PmicMeter:
    name = "pi5-pmic"

    def available(self) -> str | None:
        if shutil.which("vcgencmd") is None:
            return "vcgencmd not found (not a Raspberry Pi, or raspberrypi-utils not installed)"
        try:
            out = subprocess.run(["vcgencmd", "pmic_read_adc"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError) as err:
            return f"vcgencmd pmic_read_adc failed ({err})"
        if pmic_power_watts(out) <= 0:
            return "vcgencmd pmic_read_adc gave no rail readings (needs a Raspberry Pi 5)"
        return None

    def _sample(self) -> float:
        out = subprocess.run(["vcgencmd", "pmic_read_adc"], capture_output=True, text=True, timeout=5).stdout
        return pmic_power_watts(out)

    def start(self) -> None:
        self._joules = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            watts = self._sample()
            now = time.perf_counter()
            self._joules += watts * (now - last)
            last = now
            self._stop.wait(0.05)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self._joules
