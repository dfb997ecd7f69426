"""Tiny GGUF files written by the tests (random weights; see zoo_llm.testing), and a private cache
so probe records never leak between tests and the user's own cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo_llm.testing import write_tiny_llama, write_tiny_mmproj


@pytest.fixture(scope="session")
def gguf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gguf")


@pytest.fixture(scope="session")
def tiny_gguf(gguf_dir: Path) -> Path:
    return write_tiny_llama(gguf_dir / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def tiny_mmproj(gguf_dir: Path) -> Path:
    return write_tiny_mmproj(gguf_dir / "tiny-mmproj.gguf")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "zoo-cache"
    monkeypatch.setenv("ZOO_CACHE", str(cache))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return cache
