"""zoo card push through the real huggingface_hub client against a local hub on 127.0.0.1."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo.card import Metric
from zoo.cli import cli

from .localserver import LocalServer, Served, commit_of
from .test_specs_card import _card


def test_card_push_uploads_readme_with_model_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cards = tmp_path / "cards"
    _card(accuracy=[Metric(name="top1", value=0.697, dataset="imagenet-1k", split="val", n=50000)]).save(cards)
    state = Served()
    with LocalServer(state) as srv:
        import huggingface_hub.constants as constants

        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        monkeypatch.setenv("HF_TOKEN", "hf_local_test_token")
        monkeypatch.setattr(constants, "ENDPOINT", srv.url)
        res = CliRunner().invoke(
            cli, ["card", "push", "resnet18", "--repo", "acme/resnet18-ncnn", "--cards", str(cards)]
        )
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().endswith(commit_of(state.files, "acme/resnet18-ncnn"))
    files = {line["value"]["path"]: line["value"] for line in state.commits[0] if line["key"] == "file"}
    assert "README.md" in files and any(p.endswith("/card.json") for p in files)
    readme = base64.b64decode(files["README.md"]["content"]).decode()
    assert readme.startswith("---") and "model-index" in readme and "0.697" in readme


def test_card_push_without_a_card_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["card", "push", "resnet18", "--repo", "acme/x", "--cards", str(tmp_path)])
    assert res.exit_code == 1 and "no card for 'resnet18'" in res.stderr
