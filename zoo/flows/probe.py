"""Load an export folder in a child process and run each component once, before this process
trusts it: ``python -m zoo.flows.probe FOLDER``.

A folder that zoo did not write on this machine (``--artifacts``, a folder pulled from the Hub)
has passed the manifest's sha256 checks and the runtime's own file checks, but a crafted file
could still crash a runtime's C++ loader; in a child, that kills the child, and the parent says
so in one line. A folder that loaded and ran safely is remembered by its manifest's sha256
(``zoo.integrity``), so the probe costs a second once per export, not per run.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from zoo.convert.manifest import MANIFEST
from zoo.errors import InputError, ZooError
from zoo.integrity import probed, remember_probed

PROBE_TIMEOUT_S = 300.0


def manifest_key(folder: Path) -> str:
    return hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()


def probe_in_child(folder: Path) -> None:
    """Raise one InputError line if loading or running ``folder`` fails or kills the child."""
    key = manifest_key(folder)
    if probed(key):
        return
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "zoo.flows.probe", str(folder)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"{folder}: loading this export did not finish in {PROBE_TIMEOUT_S:.0f} s; refused") from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise InputError(
            f"{folder}: loading this export crashed the runtime ({name}); the files are corrupt or crafted — "
            "export it again"
        )
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        last = lines[-1].removeprefix("zoo: error: ") if lines else f"exit {proc.returncode}"
        raise InputError(last if last.startswith(str(folder)) else f"{folder}: {last}")
    remember_probed(key)


def run_once(folder: Path) -> None:
    """Load every component with its runtime and, for tensor sessions, run it on zeros."""
    from zoo.convert.manifest import ExportManifest
    from zoo.flows.artifacts import ExportResult, load_sessions

    manifest = ExportManifest.load(folder)
    sessions = load_sessions(ExportResult(folder, manifest), threads=1)
    try:
        for role, comp in manifest.components.items():
            session = sessions[role]
            if hasattr(session, "run") and comp.inputs:
                feeds = {t.name: np.zeros(t.shape, dtype=t.dtype) for t in comp.inputs}
                session.run(feeds)
    finally:
        for session in sessions.values():
            session.close()


def main() -> None:
    try:
        run_once(Path(sys.argv[1]))
    except ZooError as err:
        print(f"zoo: error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
