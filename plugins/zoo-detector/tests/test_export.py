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


@pytest.mark.slow
def test_yolov8n_seg_exports_with_symbolic_sizes_and_matches_torch_at_any_stride_multiple(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import torch

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    from zoo import api
    from zoo.flows.artifacts import load_sessions
    from zoo.registry import get_registry

    reg = get_registry()
    result = api.export("yolov8n-seg", "fp32", weights="random", out_dir=tmp_path / "out", registry=reg)
    m = result.manifest
    assert m.params == 3_409_968 and 5.8e9 < m.macs < 6.2e9  # Ultralytics: 12.6 GFLOPs (thop counts more)
    assert m.components["model"].inputs[0].dynamic_axes == (2, 3)
    agree = m.parity.agreement
    # parity ran the photos through the predictor: rectangles (448x640) and squares, masks compared
    assert agree["reference_boxes"] >= 3 and agree["box_match"] >= 0.9 and agree["mask_match"] >= 0.9, agree
    assert agree["mean_mask_iou"] > 0.98 and agree["mask_map_vs_reference"] > 0.9, agree
    # no traced spatial size left: every Reshape is an expression of the input's (pnnx inputshape2)
    reshapes = [line for line in result.file("param").read_text().splitlines() if line.startswith("Reshape")]
    assert reshapes and all('6="' in line for line in reshapes), reshapes
    model = reg.build_torch_modules(reg.get("yolov8n-seg"), None)["model"].eval()
    session = load_sessions(result, threads=1, registry=reg)["model"]
    try:
        for hw in ((384, 640), (640, 480), (96, 160)):
            x = np.random.default_rng(hw[0]).random((1, 3, *hw), dtype=np.float32)
            with torch.no_grad():
                ref = [t.numpy() for t in model(torch.from_numpy(x))]
            got = session.run({"in0": x})
            for name, r in zip(("out0", "out1"), ref, strict=True):
                assert got[name].shape == r.shape and np.abs(got[name] - r).max() < 1e-3, (hw, name)
        from zoo.errors import InputError

        with pytest.raises(InputError, match="multiple of 32"):
            session.run({"in0": np.zeros((1, 3, 100, 640), np.float32)})
    finally:
        session.close()
