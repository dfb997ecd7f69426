"""Shared fixtures. Slow tests are skipped unless --runslow (which `make test` and CI pass)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _own_hub_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub downloads in tests (from local servers) land in a cache of the test run's own, never in the
    user's ~/.cache/huggingface. huggingface_hub reads HF_HUB_CACHE once, at import, so the constant is
    patched too; a test that wants a fresh cache sets both again."""
    folder = str(tmp_path_factory.getbasetemp() / "hf-hub-cache")
    monkeypatch.setenv("HF_HUB_CACHE", folder)
    try:
        import huggingface_hub.constants as constants
    except ImportError:
        return
    monkeypatch.setattr(constants, "HF_HUB_CACHE", folder)
