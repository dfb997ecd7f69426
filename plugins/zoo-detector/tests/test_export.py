"""yolov8n through the core's export chain (trace → pnnx → ncnn) and ncnn-vs-PyTorch parity."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("pnnx")


@pytest.mark.slow
def test_yolov8n_exports_and_ncnn_matches_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    from zoo import api
    from zoo.registry import get_registry

    reg = get_registry()
    result = api.export("yolov8n", "fp32", weights="random", out_dir=tmp_path / "out", registry=reg)
    m = result.manifest
    assert m.params == 3_157_200 and 4.2e9 < m.macs < 4.5e9  # Ultralytics: 8.7 GFLOPs = 2 × MACs
    assert m.parity is not None and m.parity.max_abs_diff < 1e-3 and m.parity.min_cosine > 0.99999
    agree = m.parity.agreement
    assert set(agree) == {"box_match", "box_match_reverse", "mean_iou", "max_score_diff", "reference_boxes",
                          "map_vs_reference"}
    # The task's parity_options (conf 1e-4) keep boxes even from random weights: not vacuous
    assert agree["reference_boxes"] >= 3, agree
    assert agree["box_match"] >= 0.9 and agree["mean_iou"] > 0.99 and agree["max_score_diff"] < 1e-4, agree
    assert agree["map_vs_reference"] > 0.95, agree
