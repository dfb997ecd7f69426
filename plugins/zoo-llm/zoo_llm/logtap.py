"""llama.cpp's log, captured instead of printed: its last error line explains a failed load.

llama-cpp-python prints llama.cpp's log to stderr (or hides it wholesale with ``verbose=False``).
zoo routes llama.cpp's and libmtmd's log callbacks here: nothing reaches the terminal, and the
last few warning/error lines are kept so a failure becomes one line with llama.cpp's own reason.
"""

from __future__ import annotations

import collections
import ctypes
import os
import sys
import threading
from typing import Any

_LINES: collections.deque[str] = collections.deque(maxlen=64)
_PARTIAL: list[str] = []
_LOCK = threading.Lock()
_INSTALLED: list[Any] = []  # keeps the ctypes callback alive for the life of the process
_ERROR, _WARN, _CONT = 4, 3, 5  # ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_last_level = 0
_ECHO = bool(os.environ.get("ZOO_LLM_LOG_STDERR"))
"""Set in the probe child: the parent reads the last line llama.cpp wrote before an abort."""


def _on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    global _last_level
    if level != _CONT:
        _last_level = level
    if _last_level not in (_ERROR, _WARN):
        return
    chunk = text.decode("utf-8", errors="replace") if text else ""
    if _ECHO:
        sys.stderr.write(chunk)
        sys.stderr.flush()
    with _LOCK:
        _PARTIAL.append(chunk)
        if chunk.endswith("\n"):
            line = "".join(_PARTIAL).strip()
            _PARTIAL.clear()
            if line:
                _LINES.append(line)


def install() -> None:
    """Route llama.cpp's (and libmtmd's) log here; idempotent."""
    global _ECHO
    _ECHO = bool(os.environ.get("ZOO_LLM_LOG_STDERR"))
    if _INSTALLED:
        return
    import llama_cpp

    callback = llama_cpp.llama_log_callback(_on_log)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    try:
        from llama_cpp import mtmd_cpp

        mtmd_cpp.mtmd_log_set(callback, ctypes.c_void_p(0))
        mtmd_cpp.mtmd_helper_log_set(callback, ctypes.c_void_p(0))
    except (ImportError, AttributeError, OSError):  # a build without libmtmd: text only
        pass
    _INSTALLED.append(callback)


def mark() -> int:
    """A position in the log; ``since(mark)`` returns what came after it."""
    with _LOCK:
        _LINES.append("\x00mark")
        return len(_LINES)


def since(position: int) -> list[str]:
    with _LOCK:
        lines = list(_LINES)
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == "\x00mark":
            return [line for line in lines[i + 1 :] if line != "\x00mark"]
    return [line for line in lines if line != "\x00mark"]


def last_reason(position: int) -> str:
    """llama.cpp's last warning/error after ``position`` as one line (function prefix removed), or ''."""
    for line in reversed(since(position)):
        text = line.strip().splitlines()[0] if line.strip() else ""
        head, sep, rest = text.partition(": ")
        if sep and head.replace("_", "").isalnum():
            text = rest
        text = text.removeprefix("error: ").strip()
        if text:
            return text[:300]
    return ""
