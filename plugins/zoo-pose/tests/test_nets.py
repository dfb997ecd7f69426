"""RTMPose-s: mmpose's key layout, size, determinism, and strict loading of mmpose-format checkpoints."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.checkpoints import load_strict  # noqa: E402
from zoo.convert.count import count_macs, count_params  # noqa: E402
from zoo.errors import CheckpointError, InputError  # noqa: E402
from zoo.images import sample_images  # noqa: E402
from zoo_pose import plugin, processing  # noqa: E402
from zoo_pose.loaders import load_mmpose_checkpoint  # noqa: E402
from zoo_pose.nets.rtmpose import randomize, rtmpose_s  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_size_matches_upstream_published_figures() -> None:
    """mmpose's README: RTMPose-s 256×192, 5.47 M params, 0.68 GFLOPs (mmengine counts MACs)."""
    model = rtmpose_s().eval()
    assert count_params(model) == 5_473_251
    macs = count_macs(model, torch.zeros(1, 3, 256, 192))
    assert 0.67e9 < macs < 0.69e9


def test_key_layout_is_mmpose_topdown_estimator() -> None:
    keys = list(rtmpose_s().state_dict())
    assert len(keys) == 254
    for key in ("backbone.stem.0.conv.weight", "backbone.stem.0.bn.num_batches_tracked",
                "backbone.stage1.1.blocks.0.conv2.depthwise_conv.conv.weight",
                "backbone.stage1.1.attention.fc.bias", "backbone.stage4.1.conv1.conv.weight",
                "backbone.stage4.2.final_conv.bn.running_var", "head.final_layer.weight", "head.mlp.0.g",
                "head.mlp.1.weight", "head.gau.uv.weight", "head.gau.o.weight", "head.gau.gamma", "head.gau.beta",
                "head.gau.ln.g", "head.gau.res_scale.scale", "head.cls_x.weight", "head.cls_y.weight"):
        assert key in keys, key
    assert all(k.startswith(("backbone.", "head.")) for k in keys)
    sd = rtmpose_s().state_dict()
    assert sd["head.cls_x.weight"].shape == (384, 256) and sd["head.cls_y.weight"].shape == (512, 256)
    assert sd["head.gau.uv.weight"].shape == (2 * 512 + 128, 256)
    assert sd["head.final_layer.weight"].shape == (17, 512, 7, 7)


def _photos() -> torch.Tensor:
    config = plugin.topdown_config(plugin._rtmpose_s())
    return torch.from_numpy(np.concatenate([processing.preprocess(img, config)[0] for img in sample_images(3)]))


def test_random_weights_are_deterministic_and_input_dependent() -> None:
    spec = plugin._rtmpose_s()
    a, b = plugin.build_model(spec, None), plugin.build_model(spec, None)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka
    x = _photos()
    with torch.no_grad():
        sx, sy = a(x)
    assert sx.shape == (3, 17, 384) and sy.shape == (3, 17, 512)
    # different photos, different answers: argmax bins differ for most keypoints
    bins = sx.argmax(-1)
    assert (bins[0] != bins[1]).float().mean() > 0.5 and (bins[1] != bins[2]).float().mean() > 0.5
    assert float((sx[0] - sx[1]).std() / sx.std()) > 0.3


def _mmpose_checkpoint(path: Path, model: torch.nn.Module, legacy: bool = True) -> Path:
    """What mmpose's publish_model writes: {'state_dict', 'meta'} with the dataset metainfo (numpy
    arrays and scalars), in torch's legacy format."""
    meta = {"dataset_meta": {"dataset_name": "coco", "num_keypoints": 17,
                             "sigmas": np.array([0.026] * 17, np.float32),
                             "joint_weights": np.ones(17, np.float32), "flip_indices": list(range(17)),
                             "keypoint_colors": np.zeros((17, 3), np.uint8), "upper_body_ids": [0, 1],
                             "area_scale": np.float64(1.0)},
            "mmengine_version": "0.10.7", "cfg": "model = dict(type='TopdownPoseEstimator')", "seed": 21}
    torch.save({"state_dict": OrderedDict(model.state_dict()), "meta": meta}, path,
               _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [True, False])
def test_loads_an_mmpose_checkpoint_key_for_key(tmp_path: Path, legacy: bool) -> None:
    source = randomize(rtmpose_s(), seed=7).eval()
    path = _mmpose_checkpoint(tmp_path / "rtmpose-s.pth", source, legacy)
    model = plugin.build_model(plugin._rtmpose_s(), str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    x = _photos()
    with torch.no_grad():
        assert torch.equal(model(x)[0], source(x)[0])


def test_numpy_1_pickles_load_too(tmp_path: Path) -> None:
    """Checkpoints written under numpy 1 name numpy.core.multiarray, not numpy._core."""
    path = _mmpose_checkpoint(tmp_path / "a.pth", rtmpose_s())
    data = path.read_bytes()
    if b"numpy._core" not in data:
        pytest.skip("this numpy pickles as numpy.core already")
    (tmp_path / "b.pth").write_bytes(data.replace(b"numpy._core", b"numpy.core"))
    assert len(load_mmpose_checkpoint(tmp_path / "b.pth")) == 254


def test_checkpoint_errors_are_one_line(tmp_path: Path) -> None:

    class Payload:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "meta": {"x": Payload()}}, evil)
    with pytest.raises(CheckpointError, match="refused to unpickle") as err:
        load_mmpose_checkpoint(evil)
    assert "\n" not in str(err.value)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x02garbage that is no pickle")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint|expected an mmpose checkpoint"):
        load_mmpose_checkpoint(junk)
    with pytest.raises(InputError, match="no such checkpoint"):
        load_mmpose_checkpoint(tmp_path / "missing.pth")
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"backbone.conv.weight": torch.zeros(1)}, "meta": {}}, other)
    with pytest.raises(CheckpointError, match="keys do not match"):
        load_strict(rtmpose_s(), load_mmpose_checkpoint(other), str(other))
