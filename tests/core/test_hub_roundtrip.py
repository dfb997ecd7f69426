"""The Hub round trip through the real huggingface_hub client and a local hub on 127.0.0.1:
`zoo card push` uploads each card's export and a front page of every row; `zoo pull hf://...`
brings the exports back, checked, and `zoo run NAME` uses them without exporting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo.cli import cli

from .localserver import LocalServer, Served

pytestmark = pytest.mark.slow
PHOTO = Path(__file__).resolve().parents[2] / "zoo" / "data" / "images" / "chelsea.jpg"


def _ok(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import huggingface_hub.constants as constants

    state = Served()
    with LocalServer(state) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        monkeypatch.setenv("HF_TOKEN", "hf_local_test_token")
        monkeypatch.setattr(constants, "ENDPOINT", srv.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", srv.url + "/{repo_id}/resolve/{revision}/{filename}")
        yield state


def test_push_then_pull_on_a_fresh_machine(hub: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from zoo import registry

    cards = tmp_path / "cards"
    _ok("bench", "resnet18", "--weights", "random", "--dtype", "fp32,int8", "--threads", "1,2", "--runs", "3",
        "--cards", str(cards))  # fmt: skip
    commit = _ok("card", "push", "resnet18", "--repo", "acme/resnet18-zoo", "--cards", str(cards))
    assert commit.strip().endswith("0123456789abcdef0123456789abcdef01234567")
    pushed = {k.split("/resolve/main/", 1)[1] for k in hub.files}
    assert {"README.md", "ncnn-fp32/export.json", "ncnn-fp32/model.ncnn.bin", "ncnn-int8/model.int8.ncnn.param"} <= pushed
    assert not any(p.endswith(("pnnx.json", "trace.json")) for p in pushed)  # only what a board needs
    assert sum(p.startswith("cards/") and p.endswith("card.json") for p in pushed) == 2
    readme = hub.files["/acme/resnet18-zoo/resolve/main/README.md"].decode()
    table_rows = [line for line in readme.splitlines() if line.startswith("| ") and "resnet18" in line]
    assert len(table_rows) == 4  # fp32 and int8, 1 and 2 threads: every row on the front page
    assert "license: bsd-3-clause" in readme and "raspberry-pi" not in readme.split("---")[1]
    assert "model-index" not in readme  # random weights: no accuracy claim
    assert "zoo pull hf://acme/resnet18-zoo" in readme and "--weights random" in readme and "--threads 1,2" in readme

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "board-cache"))  # a fresh machine
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "board-hf"))
    registry.reset()
    pulled = json.loads(_ok("pull", "hf://acme/resnet18-zoo", "--json"))
    assert {(p["runtime"], p["precision"]) for p in pulled} == {("ncnn", "fp32"), ("ncnn", "int8")}
    out = json.loads(_ok("run", "resnet18", str(PHOTO), "--weights", "random", "--dtype", "int8", "--json"))
    assert out["dtype"] == "int8" and out["weights"] == "random"
    folders = sorted(p.name for p in (tmp_path / "board-cache" / "artifacts" / "resnet18").iterdir())
    assert all("-hub-" in f for f in folders), folders  # the pulled exports were used: nothing was exported


def test_a_tampered_hub_file_is_refused(hub: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    cards = tmp_path / "cards"
    _ok("bench", "resnet18", "--weights", "random", "--threads", "1", "--runs", "2", "--cards", str(cards))
    _ok("card", "push", "resnet18", "--repo", "acme/r18", "--cards", str(cards))
    key = "/acme/r18/resolve/main/ncnn-fp32/model.ncnn.bin"
    data = bytearray(hub.files[key])
    data[100] ^= 1
    hub.files[key] = bytes(data)
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "board-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "board-hf"))
    res = CliRunner().invoke(cli, ["pull", "hf://acme/r18"])
    assert res.exit_code == 1 and "model.ncnn.bin: does not match its manifest" in res.stderr
    assert not (tmp_path / "board-cache" / "artifacts").exists() or not any(
        (tmp_path / "board-cache" / "artifacts").rglob("export.json")
    )
