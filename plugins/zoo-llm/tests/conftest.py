"""Tiny GGUF files written by the tests (random weights; see zoo_llm.testing), and a private cache
so probe records never leak between tests and the user's own cache."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def load_localserver() -> Any:
    """The core tests' local HTTP server (tests/core/localserver.py), which also speaks the Hub's
    endpoints huggingface_hub uses; loaded by path (the tests folder is not a package)."""
    name = "zoo_tests_localserver"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[3] / "tests" / "core" / "localserver.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def fresh_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry built again for the test (the llm plugin through its entry point) and a cards folder."""
    from zoo import registry

    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    monkeypatch.delenv("ZOO_PLUGINS", raising=False)
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_gguf: Path, tiny_mmproj: Path) -> Iterator[Any]:
    """A local Hub with GGUF repositories: a tiny LLM, a tiny VLM (model + mmproj), and broken ones."""
    from zoo_llm.testing import write_tiny_mmproj

    server = load_localserver()
    wide = write_tiny_mmproj(tmp_path / "wide-mmproj.gguf", text_n_embd=48)
    good = tiny_gguf.read_bytes()
    files = {
        "/acme/tiny-llm-GGUF/resolve/main/tiny-llm-F32.gguf": good,
        "/acme/tiny-llm-GGUF/resolve/main/README.md": b"# tiny\n",
        "/acme/tiny-vlm-GGUF/resolve/main/tiny-vlm-F32.gguf": good,
        "/acme/tiny-vlm-GGUF/resolve/main/mmproj-tiny-vlm-F32.gguf": tiny_mmproj.read_bytes(),
        "/acme/broken-GGUF/resolve/main/broken-F32.gguf": b"PK\x03\x04 this is a zip, not a GGUF" * 10,
        "/acme/broken-GGUF/resolve/main/truncated-F32.gguf": good[: len(good) // 2],
        "/acme/mismatch-GGUF/resolve/main/model-F32.gguf": good,
        "/acme/mismatch-GGUF/resolve/main/mmproj-model-F32.gguf": wide.read_bytes(),
    }
    state = server.Served(files=files, git_files={"/acme/tiny-llm-GGUF/resolve/main/README.md"},
                          card_data={"acme/tiny-llm-GGUF": {"license": "apache-2.0"}})  # fmt: skip
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with server.LocalServer(state) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        import huggingface_hub.constants as constants

        monkeypatch.setattr(constants, "ENDPOINT", srv.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", srv.url + "/{repo_id}/resolve/{revision}/{filename}")
        yield srv
