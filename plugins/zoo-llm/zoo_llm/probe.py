"""Load untrusted GGUF files in a child process first, so an abort kills the child, not zoo.

llama.cpp calls ``abort()`` (or crashes) on some malformed files that the header checks in
``gguf_check`` cannot foresee. Before a file is loaded in-process it is *probe-loaded* here: a
fresh ``python -m zoo_llm.probe`` loads it (and its mmproj), evaluates two tokens and exits, under
a timeout. A signal, a hang or an error in the child becomes one line in the parent.

What is trusted: a file whose sha256 has already passed a probe load with this llama-cpp-python
version (recorded in ``$ZOO_CACHE/llm/probed.json``). Anything else — a new download, a local
path, a file that changed, the same file under a new llama.cpp — is untrusted and probed first.
Digests come from ``zoo.integrity`` (remembered per path, size, mtime and inode), so a trusted
file is not re-hashed on every load.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zoo.errors import InputError

PROBE_TIMEOUT_S = 120.0
"""A 250 MB model probe-loads in about a second; a hang is what the timeout is for."""


def record_path() -> Path:
    from zoo.paths import cache_dir

    return cache_dir() / "llm" / "probed.json"


def llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        return "unknown"


def _load_record() -> dict[str, Any]:
    try:
        data = json.loads(record_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_record(data: dict[str, Any]) -> None:
    path = record_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".probed-")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    """sha256 of ``path``, remembered per file version by the core (``zoo.integrity``): the same
    record open_export uses, so a 250 MB GGUF is hashed once, not once per check."""
    from zoo.integrity import file_sha256 as remembered

    return remembered(Path(path))


def _trust_key(shas: list[str]) -> str:
    return "+".join(shas) + "@" + llama_cpp_version()


def is_trusted(shas: list[str]) -> bool:
    return bool(_load_record().get("trusted", {}).get(_trust_key(shas)))


def remember(shas: list[str]) -> None:
    record = _load_record()
    record.setdefault("trusted", {})[_trust_key(shas)] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _save_record(record)


def probe_load(model: Path, mmproj: Path | None = None, *, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Load ``model`` (and ``mmproj``) in a child process; raise InputError with one line if it
    fails, aborts, crashes or hangs."""
    cmd = [sys.executable, "-m", "zoo_llm.probe", str(model)] + ([str(mmproj)] if mmproj else [])
    # GGML_NO_BACKTRACE: ggml would otherwise run gdb for a backtrace on abort (seconds, pages of text).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GGML_NO_BACKTRACE": "1"}
    what = f"{model}" + (f" with mmproj {mmproj.name}" if mmproj else "")
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
            preexec_fn=_no_core_dumps if os.name == "posix" else None,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise InputError(
            f"{what}: llama.cpp did not finish loading it within {timeout:.0f} s (probe load killed)"
        ) from None
    report: dict[str, Any] = {}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                report = json.loads(line)
            break
    if proc.returncode == 0 and report.get("ok"):
        return
    if report.get("error"):
        raise InputError(str(report["error"]))
    reason = _last_log_line(proc.stderr)
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise InputError(f"{what}: llama.cpp crashed loading it ({name}{': ' + reason if reason else ''})")
    raise InputError(f"{what}: llama.cpp could not load it (exit {proc.returncode}{': ' + reason if reason else ''})")


def _no_core_dumps() -> None:
    """In the child: an abort should not spend seconds writing a core file."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _last_log_line(stderr: str) -> str:
    """The line that explains an abort: ggml's assert, the C++ exception, or llama.cpp's last error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        low = line.lower()
        if "ggml_assert" in low or "what():" in low or "error" in low or "failed" in low:
            if "/" in line.split(": ", 1)[0]:  # '/long/build/path/llama-vocab.cpp:2544: GGML_ASSERT(...)'
                line = line.split(": ", 1)[0].rsplit("/", 1)[-1] + ": " + line.split(": ", 1)[1]
            return line[:300]
    return lines[-1][:300] if lines else ""


def ensure_safe(model: Path, mmproj: Path | None = None, *, mode: str = "auto", shas: list[str] | None = None) -> bool:
    """Probe-load ``model`` (+ ``mmproj``) unless already trusted. ``mode``: 'auto' (probe
    untrusted files), 'always', or 'never' (the caller vouches for the files). Returns whether a
    probe ran."""
    if mode == "never":
        return False
    shas = shas or [file_sha256(model)] + ([file_sha256(mmproj)] if mmproj else [])
    if mode == "auto" and is_trusted(shas):
        return False
    probe_load(model, mmproj)
    remember(shas)
    return True


def _child(argv: list[str]) -> int:
    """The probe itself: load, evaluate two tokens, init the projector, report as one JSON line."""
    model = Path(argv[0])
    mmproj = Path(argv[1]) if len(argv) > 1 else None
    try:
        from zoo_llm.runtime import LlamaSession

        # Echo llama.cpp's log to stderr so the parent can quote the line before an abort.
        os.environ["ZOO_LLM_LOG_STDERR"] = "1"
        session = LlamaSession(model, threads=1, n_ctx=64, mmproj=mmproj, verbose=True)
        try:
            tokens = session.tokenize("Hi")[:2] or [session.bos_token]
            session.eval_tokens(tokens)
        finally:
            session.close()
    except Exception as err:  # report every failure as data; the parent turns it into one line
        print(json.dumps({"ok": False, "error": str(err).splitlines()[0] if str(err) else type(err).__name__}))
        return 1
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
