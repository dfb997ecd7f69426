"""Shared helpers for the CLIP tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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
    """OpenAI's BPE file, vendored in the plugin."""
    from zoo_clip.tokenizer import find_vocabulary

    return find_vocabulary()
