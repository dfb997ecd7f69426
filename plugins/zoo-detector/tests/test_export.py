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
    import json
    import shutil

    import numpy as np
    import torch
    from click.testing import CliRunner

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    from zoo import api
    from zoo.cli import cli
    from zoo.errors import InputError
    from zoo.flows.artifacts import load_sessions
    from zoo.images import sample_image_paths
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
        with pytest.raises(InputError, match="multiple of 32"):
            session.run({"in0": np.zeros((1, 3, 100, 640), np.float32)})
    finally:
        session.close()

    # the CLI on this export: --json carries RLE masks; a fixed-shape export refuses --rect in one line
    photo = str(next(p for p in sample_image_paths() if p.name == "chelsea.jpg"))
    ok = CliRunner().invoke(cli, ["run", "yolov8n-seg", photo, "--artifacts", str(result.folder), "--threads", "1",
                                  "--conf", "0.0001", "--max-det", "3", "--json"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["count"] == len(data["detections"]) and data["mask_format"] == "coco-rle"
    assert all(set(d["mask"]) == {"size", "counts"} and d["mask"]["size"] == [300, 451] for d in data["detections"])
    old = tmp_path / "old"
    shutil.copytree(result.folder, old)
    manifest = json.loads((old / "export.json").read_text())
    for spec in manifest["components"]["model"]["inputs"]:  # as an export made before dynamic axes
        del spec["dynamic_axes"], spec["size_multiple"]
    (old / "export.json").write_text(json.dumps(manifest))
    bad = CliRunner().invoke(cli, ["run", "yolov8n-seg", photo, "--artifacts", str(old), "--threads", "1", "--rect"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert "fixed 640x640 input shape" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    square = CliRunner().invoke(cli, ["run", "yolov8n-seg", photo, "--artifacts", str(old), "--threads", "1"])
    assert square.exit_code == 0, square.output


@pytest.mark.slow
def test_yolov8n_seg_int8_calibrates_at_the_shapes_inference_sees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    from zoo import api

    m = api.export("yolov8n-seg", "int8", weights="random", out_dir=tmp_path / "int8").manifest
    assert m.extra["int8_method"] == "minmax"
    shapes = {tuple(s[2:]) for s in m.extra["calibration_input_shapes"]["model"]}
    assert {(640, 640), (448, 640), (480, 640), (384, 640), (640, 480)} <= shapes, shapes
    # random weights: int8 moves the near-prior scores, so only that the figures exist and are sane
    agree = m.parity.agreement
    assert {"mask_match", "mean_mask_iou", "box_match"} <= set(agree) and 0 <= agree["mask_match"] <= 1
