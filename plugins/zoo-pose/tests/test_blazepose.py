"""BlazePose-lite: the TFLite graph rebuilt in torch from the real @mediapipe/pose weights.

The real-weights tests need the npm tarball (``npm pack @mediapipe/pose@0.5.1675469404``): set
ZOO_BLAZEPOSE_TGZ to its path. The equivalence test also needs a Python with the LiteRT
interpreter (``pip install ai-edge-litert``; set ZOO_LITERT_PYTHON). Without them they skip.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import CheckpointError, InputError
from zoo.images import sample_images
from zoo_pose import blazepose
from zoo_pose.keypoints import COCO_KEYPOINTS
from zoo_pose.loaders import load_tflite_bytes

MEMBER = blazepose.LANDMARK_MEMBER
TGZ_SHA256 = "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84"


def test_coco_keypoints_among_the_33_landmarks() -> None:
    assert blazepose.COCO_FROM_BLAZEPOSE == (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
    assert all(blazepose.LANDMARKS[i] == n for i, n in zip(blazepose.COCO_FROM_BLAZEPOSE, COCO_KEYPOINTS,
                                                             strict=True))


def test_decode_landmarks_picks_coco_points_and_sigmoid_visibility() -> None:
    raw = np.zeros((2, 39, 5), np.float32)
    raw[:, :, 0] = np.arange(39)  # x = landmark index
    raw[:, :, 1] = 100 + np.arange(39)
    raw[1, 28, 3] = 10.0  # right ankle clearly visible in person 2
    kps, scores = blazepose.decode_landmarks(raw.reshape(2, -1))
    np.testing.assert_array_equal(kps[0, :, 0], blazepose.COCO_FROM_BLAZEPOSE)
    assert scores[0, 0] == pytest.approx(0.5) and scores[1, 16] == pytest.approx(1 / (1 + np.exp(-10)))
    with pytest.raises(InputError, match=r"\(N, 195\)"):
        blazepose.decode_landmarks(np.zeros((1, 194)))


def test_same_padding_is_tensorflows() -> None:
    torch = pytest.importorskip("torch")
    del torch
    from zoo_pose.nets.tflite_graph import same_padding

    assert same_padding(256, 3, 2) == (0, 1)  # TF puts the odd pixel bottom/right
    assert same_padding(256, 3, 1) == (1, 1)
    assert same_padding(255, 3, 2) == (1, 1)
    assert same_padding(64, 5, 1, 2) == (4, 4)


def _tgz(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "pkg.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tflite_loader_errors_are_one_line(tmp_path: Path) -> None:
    fake = b"\x1c\x00\x00\x00TFL3" + b"\x00" * 32
    assert load_tflite_bytes(_tgz(tmp_path, {MEMBER: fake}), MEMBER) == fake
    (tmp_path / "m.tflite").write_bytes(fake)
    assert load_tflite_bytes(tmp_path / "m.tflite", MEMBER) == fake
    with pytest.raises(CheckpointError, match="has no package/pose_landmark_lite.tflite"):
        load_tflite_bytes(_tgz(tmp_path, {"package/other.tflite": fake}), MEMBER)
    with pytest.raises(CheckpointError, match="is not a TFLite model"):
        load_tflite_bytes(_tgz(tmp_path, {MEMBER: b"not a model at all"}), MEMBER)
    (tmp_path / "junk.bin").write_bytes(b"junk" * 10)
    with pytest.raises(CheckpointError, match="neither a TFLite model"):
        load_tflite_bytes(tmp_path / "junk.bin", MEMBER)
    with pytest.raises(InputError, match="no such model file"):
        load_tflite_bytes(tmp_path / "missing.tgz", MEMBER)


def test_a_broken_flatbuffer_is_refused_in_one_line() -> None:
    pytest.importorskip("torch")
    from zoo_pose.nets.tflite_graph import TFLiteGraph

    with pytest.raises(CheckpointError, match="not a readable TFLite model") as err:
        TFLiteGraph(b"\x1c\x00\x00\x00TFL3" + b"\xff" * 64, source="x.tflite")
    assert "\n" not in str(err.value)


def _real_tgz() -> Path:
    path = os.environ.get("ZOO_BLAZEPOSE_TGZ")
    if not path or not Path(path).is_file():
        pytest.skip("set ZOO_BLAZEPOSE_TGZ to the @mediapipe/pose 0.5.1675469404 npm tarball (npm pack)")
    import hashlib

    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == TGZ_SHA256
    return Path(path)


def _crops() -> np.ndarray:
    return np.concatenate([blazepose.preprocess(img)[0] for img in sample_images(4)])


@pytest.mark.slow
def test_torch_rebuild_equals_litert_on_real_weights(tmp_path: Path) -> None:
    """The rebuilt graph against Google's own interpreter, same weights and inputs."""
    torch = pytest.importorskip("torch")
    exe = os.environ.get("ZOO_LITERT_PYTHON", sys.executable)
    if subprocess.run([exe, "-c", "import ai_edge_litert"], capture_output=True).returncode != 0:
        pytest.skip("set ZOO_LITERT_PYTHON to a Python with ai-edge-litert (the LiteRT interpreter)")
    from zoo_pose import plugin

    tgz = _real_tgz()
    (tmp_path / "model.tflite").write_bytes(load_tflite_bytes(tgz, MEMBER))
    x = _crops()
    np.save(tmp_path / "x.npy", np.ascontiguousarray(x.transpose(0, 2, 3, 1)))  # LiteRT takes NHWC
    script = (
        "import sys, numpy as np\n"
        "from ai_edge_litert.interpreter import Interpreter\n"
        "it = Interpreter(model_path=sys.argv[1], num_threads=1); it.allocate_tensors()\n"
        "x = np.load(sys.argv[2]); out = {}\n"
        "for i in range(len(x)):\n"
        "    it.set_tensor(it.get_input_details()[0]['index'], x[i:i+1]); it.invoke()\n"
        "    for d in it.get_output_details(): out.setdefault(d['name'], []).append(it.get_tensor(d['index']).copy())\n"
        "np.savez(sys.argv[3], **{k: np.concatenate(v) for k, v in out.items()})\n"
    )
    proc = subprocess.run([exe, "-c", script, str(tmp_path / "model.tflite"), str(tmp_path / "x.npy"),
                           str(tmp_path / "ref.npz")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = dict(np.load(tmp_path / "ref.npz"))
    torch.set_num_threads(1)
    model = plugin.build_model(plugin._blazepose_lite(), str(tgz))
    with torch.no_grad():
        landmarks, presence = (t.numpy() for t in model(torch.from_numpy(x)))
    np.testing.assert_allclose(landmarks, ref["Identity"], atol=5e-3)  # crop pixels, values up to ~250
    np.testing.assert_allclose(presence, ref["Identity_1"], atol=1e-4)
    assert presence[0, 0] > 0.99  # the astronaut photo has a person in it


@pytest.mark.slow
def test_real_weights_export_to_ncnn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pnnx")
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    from zoo import api
    from zoo.registry import get_registry

    result = api.export("blazepose-lite", "fp32", weights=str(_real_tgz()), out_dir=tmp_path / "out",
                        registry=get_registry())
    m = result.manifest
    assert m.params == 1_242_060  # the landmark path only: the segmentation head is not built
    assert m.parity is not None and m.parity.min_cosine > 0.99999
    assert m.parity.agreement["max_keypoint_error_px"] < 0.05 and m.parity.agreement["mean_oks"] > 0.9999
