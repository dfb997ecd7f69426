"""A cached export is reused only when it is what the spec and recipe would make now: made by the
same recipe plan and traced for the inputs the spec declares. Anything else (an export from an
older zoo: other int8 options, a fixed shape where the spec is now dynamic) is passed over, so the
next export replaces it instead of running stale files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _rewrite(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((folder / "export.json").read_text())
    change(manifest)
    (folder / "export.json").write_text(json.dumps(manifest))


def test_an_export_is_reused_only_when_made_as_the_spec_says_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from zoo import api
    from zoo.flows.artifacts import find_export
    from zoo.registry import get_registry

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    spec = get_registry().get("yolov8n")
    assert spec.component.inputs[0].dynamic_axes  # rect inference: height and width are dynamic
    made = api.export("yolov8n", "fp32", weights="random")
    found = find_export(spec, "ncnn", "fp32", "random")
    assert found is not None and found.folder == made.folder

    def fixed_shape(m: dict) -> None:  # as exports made before the spec's axes became dynamic
        for comp in m["components"].values():
            for t in comp["inputs"]:
                t["dynamic_axes"], t["size_multiple"] = [], 1

    _rewrite(made.folder, fixed_shape)
    assert find_export(spec, "ncnn", "fp32", "random") is None
    again = api.export("yolov8n", "fp32", weights="random")  # replaced, and found again
    assert find_export(spec, "ncnn", "fp32", "random").folder == again.folder

    def other_plan(m: dict) -> None:
        m["recipe_steps"] = [*m["recipe_steps"], "something-else"]

    _rewrite(again.folder, other_plan)
    assert find_export(spec, "ncnn", "fp32", "random") is None
