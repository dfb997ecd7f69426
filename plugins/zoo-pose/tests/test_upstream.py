"""Equivalence with mmpose itself: same random weights, same image and boxes, mmpose's whole
top-down inference (TopdownAffine with cv2, data preprocessor, CSPNeXt + RTMCCHead, SimCC decode,
inverse map) against zoo's numpy pipeline and torch module.

mmpose does not import beside the pinned torch 2.13 (it needs torchvision), so the upstream side
runs in another Python: set ZOO_UPSTREAM_PYTHON to one where ``import mmpose, mmdet`` works (see
upstream_reference.py for what it needs). Without it these tests skip and say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.images import sample_images  # noqa: E402
from zoo_pose import plugin  # noqa: E402
from zoo_pose.processing import crops_for, estimate_poses  # noqa: E402

SCRIPT = Path(__file__).with_name("upstream_reference.py")
BOXES = np.array([[100, 50, 300, 480], [20, 200, 140, 330], [400, 10, 505, 300], [-30, 300, 90, 560]], np.float32)


def _upstream_python() -> str:
    exe = os.environ.get("ZOO_UPSTREAM_PYTHON")
    probe = "import mmpose, mmdet, mmengine, cv2"
    for candidate in ([exe] if exe else []) + [sys.executable]:
        if subprocess.run([candidate, "-c", probe], capture_output=True).returncode == 0:
            return candidate
    pytest.skip("mmpose is not importable here (it needs torchvision, which does not import beside torch 2.13); "
                "set ZOO_UPSTREAM_PYTHON to a Python that has mmpose, mmdet, mmengine and mmcv-lite")


def _reference(tmp_path: Path, flip_test: bool) -> tuple[dict[str, np.ndarray], str]:
    exe = _upstream_python()
    np.save(tmp_path / "image.npy", sample_images(1)[0])
    np.save(tmp_path / "boxes.npy", BOXES)
    args = [exe, str(SCRIPT), str(tmp_path / "image.npy"), str(tmp_path / "boxes.npy"), str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(args + (["--flip-test"] if flip_test else []), capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cv2_version = subprocess.run([exe, "-c", "import cv2; print(cv2.__version__)"], capture_output=True,
                                 text=True).stdout.strip()
    return dict(np.load(tmp_path / "reference.npz")), cv2_version


def _model(path: Path) -> torch.nn.Module:
    torch.set_num_threads(1)
    return plugin.build_model(plugin._rtmpose_s(), str(path))


def _run(model: torch.nn.Module):  # type: ignore[no-untyped-def]
    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            sx, sy = model(torch.from_numpy(np.ascontiguousarray(x)))
        return sx.numpy(), sy.numpy()
    return run


@pytest.mark.slow
def test_rtmpose_s_equals_mmpose_end_to_end(tmp_path: Path) -> None:
    ref, cv2_version = _reference(tmp_path, flip_test=False)
    assert int(ref["params"]) == 5_473_251
    image = sample_images(1)[0]
    # 1. the network input: our numpy crop + normalisation vs TopdownAffine (cv2) + PoseDataPreprocessor
    x, _, _ = crops_for(image, BOXES, plugin.processing.TopDownConfig())
    diff = np.abs(x - ref["inputs"]) * 57.12  # back to grey levels (std ≈ 57)
    if int(cv2_version.split(".")[0]) >= 5:
        assert diff.max() < 1.1 and (diff > 0.01).mean() < 1e-3, (cv2_version, diff.max())
    else:  # OpenCV 4's 1/32-pixel fixed-point grid
        assert diff.max() < 4.1 and (diff > 0.01).mean() < 0.1, (cv2_version, diff.max())
    # 2. the network: mmpose's checkpoint (both serialisations) loaded strictly, same SimCC logits
    for name in ("checkpoint.pth", "checkpoint-legacy.pth"):
        model = _model(tmp_path / name)
        with torch.no_grad():
            sx, sy = model(torch.from_numpy(ref["inputs"]))
        np.testing.assert_allclose(sx.numpy(), ref["simcc_x"], atol=1e-4, rtol=1e-5)
        np.testing.assert_allclose(sy.numpy(), ref["simcc_y"], atol=1e-4, rtol=1e-5)
    # 3. the whole pipeline: keypoints in image pixels and scores
    poses = estimate_poses(image, BOXES, None, _run(model))
    np.testing.assert_allclose(poses.keypoint_scores, ref["scores"], atol=1e-3, rtol=1e-5)
    same_bin = np.abs(poses.keypoints - ref["keypoints"]).max(-1) < 1e-3
    assert same_bin.mean() > 0.95, same_bin.mean()  # a crop pixel off can move a near-tied argmax


@pytest.mark.slow
def test_flip_test_equals_mmpose(tmp_path: Path) -> None:
    ref, _ = _reference(tmp_path, flip_test=True)
    model = _model(tmp_path / "checkpoint.pth")
    poses = estimate_poses(sample_images(1)[0], BOXES, None, _run(model), flip_test=True)
    np.testing.assert_allclose(poses.keypoint_scores, ref["scores"], atol=1e-3, rtol=1e-5)
    assert (np.abs(poses.keypoints - ref["keypoints"]).max(-1) < 1e-3).mean() > 0.95
