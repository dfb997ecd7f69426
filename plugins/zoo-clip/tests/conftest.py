"""Shared helpers for the CLIP tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo_clip.tokenizer import VOCAB_FILE


@pytest.fixture(scope="session")
def upstream_python() -> str:
    """A Python where open_clip imports (ZOO_UPSTREAM_PYTHON), or skip."""
    exe = os.environ.get("ZOO_UPSTREAM_PYTHON")
    for candidate in ([exe] if exe else []) + [sys.executable]:
        if subprocess.run([candidate, "-c", "import open_clip"], capture_output=True).returncode == 0:
            return candidate
    pytest.skip("open_clip is not importable here (it needs torchvision, which does not import beside torch "
                "2.13); set ZOO_UPSTREAM_PYTHON to a Python with torch 2.14.1 + torchvision 0.29.1 + open-clip-torch")


@pytest.fixture(scope="session")
def vocabulary() -> Path:
    """OpenAI's BPE file from an installed open_clip (here, or in ZOO_UPSTREAM_PYTHON's venv)."""
    from zoo.errors import InputError
    from zoo_clip.tokenizer import find_vocabulary

    try:
        return find_vocabulary()
    except InputError:
        pass
    exe = os.environ.get("ZOO_UPSTREAM_PYTHON")
    if exe:
        probe = ("import importlib.util, pathlib; s = importlib.util.find_spec('open_clip'); "
                 f"print(pathlib.Path(list(s.submodule_search_locations)[0]) / '{VOCAB_FILE}')")
        out = subprocess.run([exe, "-c", probe], capture_output=True, text=True)
        if out.returncode == 0 and Path(out.stdout.strip()).is_file():
            return Path(out.stdout.strip())
    pytest.skip(f"no {VOCAB_FILE}: `pip install --no-deps open-clip-torch` or set ZOO_UPSTREAM_PYTHON")
