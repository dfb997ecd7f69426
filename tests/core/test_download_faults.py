"""Downloads against a server that misbehaves: every fault ends in one clear line and leaves no
unverified file in the cache; the next, healthy attempt gets the right bytes. Concurrent pulls of
one file download it once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.errors import DownloadError, InputError, ZooError
from zoo.sources import cache_path, fetch
from zoo.specs import WeightsRef

from .localserver import LocalServer, Served

BLOB = bytes(range(256)) * 2048  # 512 KiB


def _ref(url: str) -> WeightsRef:
    return WeightsRef(uri=url, sha256=hashlib.sha256(BLOB).hexdigest(), format="raw")


@pytest.fixture(autouse=True)
def quick_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stall is judged over 1 s, at 64 KiB/s, so the tests take seconds, not minutes."""
    monkeypatch.setenv("ZOO_DOWNLOAD_RATE_WINDOW", "1")
    monkeypatch.setenv("ZOO_DOWNLOAD_MIN_RATE", str(64 * 1024))


def _weights_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "weights").rglob("*") if p.is_file()) if (root / "weights").exists() else []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("503", "HTTP 503"),
        ("reset", "interrupted after"),
        ("stall", "interrupted after"),
        ("trickle", "stalled at"),
        ("long", "closed after"),
        ("short", "sha256 mismatch"),
    ],
)
def test_a_fault_is_one_line_and_never_poisons_the_cache(tmp_path: Path, fault: str, message: str) -> None:
    state = Served(files={"/w.bin": BLOB}, faults={"/w.bin": fault})
    with LocalServer(state) as srv:
        ref = _ref(srv.url + "/w.bin")
        with pytest.raises(ZooError, match=message) as err:
            fetch(ref)
        assert "\n" not in str(err.value)
        assert not cache_path(ref).exists() and _weights_files(tmp_path / "cache") == []
        state.faults.clear()
        assert fetch(ref).read_bytes() == BLOB  # a healthy retry (resuming where it makes sense) is right


def test_a_server_that_ignores_range_is_not_appended_twice(tmp_path: Path) -> None:
    state = Served(files={"/w.bin": BLOB}, truncate_once={"/w.bin": 100_000}, faults={"/w.bin": "ignore-range"})
    with LocalServer(state) as srv:
        ref = _ref(srv.url + "/w.bin")
        with pytest.raises(DownloadError):
            fetch(ref)  # cut after 100 kB
        assert fetch(ref).read_bytes() == BLOB  # asked for a range, got the whole file: started over
    assert [r for _, _, r in state.requests] == [None, "bytes=100000-"]


def test_a_corrupted_cache_hit_is_fetched_again(tmp_path: Path) -> None:
    state = Served(files={"/w.bin": BLOB})
    with LocalServer(state) as srv:
        ref = _ref(srv.url + "/w.bin")
        path = fetch(ref)
        data = bytearray(path.read_bytes())
        data[1000] ^= 0xFF
        path.write_bytes(bytes(data))
        assert fetch(ref).read_bytes() == BLOB
        with pytest.raises(DownloadError, match="offline mode is on"):
            path.write_bytes(bytes(data))
            fetch(ref, offline=True)  # the corrupt file is removed, never used
    assert len([r for r in state.requests if r[0] == "GET"]) == 2


@pytest.mark.parametrize("uri", ["https://example.org/w/..", "https://example.org/a/%2e%2e/b.pth", "https://x.org/"])
def test_uris_that_name_no_plain_file_are_refused_before_any_request(uri: str) -> None:
    with pytest.raises(InputError, match="fix the URI in registry.yaml"):
        fetch(WeightsRef(uri=uri, sha256="0" * 64, format="raw"))


@pytest.mark.slow
def test_eight_concurrent_pulls_download_once(tmp_path: Path) -> None:
    state = Served(files={"/w.pth": BLOB}, faults={"/w.pth": "slow"})
    with LocalServer(state) as srv:
        registry = tmp_path / "registry.yaml"
        registry.write_text(
            "schema_version: 1\nmodels:\n  resnet18:\n    task: classifier\n    plugin: classifier\n"
            f"    weights: {{uri: '{srv.url}/w.pth', sha256: {hashlib.sha256(BLOB).hexdigest()}, format: raw}}\n"
        )
        env = {**os.environ, "ZOO_CACHE": str(tmp_path / "cache"), "ZOO_REGISTRY": str(registry)}
        procs = [
            subprocess.Popen([sys.executable, "-m", "zoo.cli", "pull", "resnet18", "--json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(8)
        ]  # fmt: skip
        outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    paths = {json.loads(out)["path"] for out, _ in outs}
    assert len(paths) == 1 and Path(paths.pop()).read_bytes() == BLOB
    gets = [r for r in state.requests if r[0] == "GET"]
    assert len(gets) == 1, gets
