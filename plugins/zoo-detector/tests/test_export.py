"""yolov8n through the core's export chain (trace → pnnx → ncnn) and ncnn-vs-PyTorch parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pnnx")


@pytest.mark.slow
def test_yolov8n_exports_and_ncnn_matches_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    from zoo import api
    from zoo.images import sample_images
    from zoo.registry import get_registry
    from zoo.runtime.ncnn_session import NcnnSession

    reg = get_registry()
    result = api.export("yolov8n", "fp32", weights="random", out_dir=tmp_path / "out", registry=reg)
    m = result.manifest
    assert m.params == 3_157_200 and 4.2e9 < m.macs < 4.5e9  # Ultralytics: 8.7 GFLOPs = 2 × MACs
    assert m.parity is not None and m.parity.max_abs_diff < 1e-3 and m.parity.min_cosine > 0.99999
    assert set(m.parity.agreement) == {"box_match", "box_match_reverse", "mean_iou", "max_score_diff"}

    # The manifest's agreement runs at the model's conf (0.25): random weights give no boxes there.
    # Compare real boxes at a threshold low enough to keep some.
    spec, task = reg.get("yolov8n"), reg.task("detector")
    model = reg.build_torch_model(spec, None)
    session = NcnnSession(result.file("param"), result.file("bin"), threads=1)
    refs, cands = [], []
    for image in sample_images(3):
        x, ctx = task.preprocess(image, spec.pre)
        ref = api.torch_outputs(model, x, ["out0"])
        got = session.run({spec.input.name: x})
        opts = {"conf": 1e-4, "iou": 0.45}
        refs.append(task.postprocess(ref, ctx, spec, opts))
        cands.append(task.postprocess(got, ctx, spec, opts))
    session.close()
    assert sum(len(r) for r in refs) >= 3
    agree = task.agreement(refs, cands)
    assert agree["box_match"] >= 0.9 and agree["mean_iou"] > 0.99 and agree["max_score_diff"] < 1e-5
