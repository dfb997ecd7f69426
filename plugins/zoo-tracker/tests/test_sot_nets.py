"""NanoTrack V3 in PyTorch: upstream checkpoint layout, strict loading, the two components."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.errors import CheckpointError, ConfigError  # noqa: E402
from zoo_tracker.sot import nets  # noqa: E402

torch.set_num_threads(1)

NANOTRACK_V3_SHA256 = "4f0d25108385a67bdec5fa01ca37c74acb72343b53996dd645fe18b86e512e69"
"""HonglinChu/SiamTrackers NanoTrack/models/pretrained/nanotrackv3.pth (Apache-2.0)."""


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 127, 127, generator=g) * 255, torch.rand(1, 3, 255, 255, generator=g) * 255


def test_layout_matches_the_published_checkpoint() -> None:
    sd = nets.NanoTrackV3().state_dict()
    assert len(sd) == 438  # as in nanotrackv3.pth's state_dict
    expected = {
        "backbone.features.0.0.weight": (16, 3, 3, 3),
        "backbone.features.1.conv.3.fc.0.weight": (8, 16),
        "backbone.features.9.conv.3.weight": (288, 1, 5, 5),
        "backbone.features.9.conv.7.weight": (96, 288, 1, 1),
        "neck.downsample.0.weight": (96, 96, 1, 1),
        "ban_head.corr_pw_cls.CA_layer.fc1.weight": (64, 64, 1, 1),
        "ban_head.corr_pw_reg.conv.0.weight": (64, 1, 2, 2),
        "ban_head.corr_dw_reg.conv_kernel.0.bias": (96,),
        "ban_head.cls_tower.25.weight": (96, 1, 3, 3),
        "ban_head.down_cls.0.weight": (96, 160, 1, 1),
        "ban_head.cls_logits.0.weight": (2, 96, 1, 1),
        "ban_head.bbox_pred.0.bias": (4,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key


def test_components_shapes_and_random_weights() -> None:
    model = nets.build(None, seed=0)
    comps = nets.components(model)
    z, x = inputs()
    with torch.no_grad():
        zf = comps["template"](z)
        cls, reg = comps["search"](x, zf)
        _, reg_other = comps["search"](inputs(1)[1], zf)
    assert zf.shape == (1, 96, 8, 8) and cls.shape == (1, 2, 15, 15) and reg.shape == (1, 4, 15, 15)
    assert (reg > 0).all() and torch.isfinite(reg).all()
    assert not torch.allclose(reg, reg_other)  # input-dependent
    again = nets.build(None, seed=0)
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k  # deterministic


def test_both_depthwise_xcorr_forms_agree() -> None:
    g = torch.Generator().manual_seed(0)
    search, kernel = torch.randn(1, 96, 16, 16, generator=g), torch.randn(1, 96, 4, 4, generator=g)
    a = nets.xcorr_depthwise_conv(search, kernel)
    b = nets.xcorr_depthwise_slices(search, kernel)
    assert a.shape == (1, 96, 15, 15)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    conv, slices = nets.build(None, xcorr="conv"), nets.build(None, xcorr="slices")
    z, x = inputs()
    with torch.no_grad():
        out_a, out_b = conv(z, x), slices(z, x)
    for p, q in zip(out_a, out_b, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-4)  # measured: 1e-5
    with pytest.raises(ConfigError, match="xcorr"):
        nets.build(None, xcorr="fft")


def _upstream_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> None:
    """A file in the published layout: {'epoch': numpy int, 'state_dict': {'module.'...}, 'optimizer': {...}}."""
    torch.save({"epoch": np.int64(35), "state_dict": {f"module.{k}": v for k, v in state.items()},
                "optimizer": {"param_groups": [{"lr": np.float64(0.005)}], "state": {}}}, path)


def test_strict_load_of_an_upstream_format_checkpoint(tmp_path: Path) -> None:
    source = nets.build(None, seed=3)
    path = tmp_path / "nanotrackv3.pth"
    _upstream_checkpoint(path, source.state_dict())
    loaded = nets.build(path)
    for (k, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_bad_checkpoints_are_one_line(tmp_path: Path) -> None:
    state = nets.build(None).state_dict()
    del state["ban_head.bbox_pred.0.bias"]
    path = tmp_path / "missing.pth"
    _upstream_checkpoint(path, state)
    with pytest.raises(CheckpointError, match=r"1 missing \(first: ban_head\.bbox_pred\.0\.bias\)"):
        nets.build(path)
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "hook": Path("x")}, evil)  # names a class outside the allow-list
    with pytest.raises(CheckpointError, match="not a readable NanoTrack checkpoint") as err:
        nets.build(evil)
    assert "\n" not in str(err.value)


def _published() -> Path:
    path = os.environ.get("ZOO_NANOTRACK_CKPT")
    if not path or not Path(path).is_file():
        pytest.skip("set ZOO_NANOTRACK_CKPT to HonglinChu/SiamTrackers' NanoTrack/models/pretrained/nanotrackv3.pth")
    return Path(path)


@pytest.mark.slow
def test_published_nanotrack_v3_follows_the_patch() -> None:
    """The trained upstream weights, loaded strictly, with zoo's numpy crop/penalty/window/update on
    the synthetic textured-patch video. Measured: success 1.0, median IoU 0.94-0.96 (seeds 0-5)."""
    from zoo_tracker.sot.evaluate import run_sequence, success_rate
    from zoo_tracker.sot.siamese import SiameseTracker
    from zoo_tracker.synth import textured_patch

    path = _published()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == NANOTRACK_V3_SHA256
    comps = nets.components(nets.build(path))

    def template_fn(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return comps["template"](torch.from_numpy(z)).numpy()

    def search_fn(x: np.ndarray, zf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            cls, reg = comps["search"](torch.from_numpy(x), torch.from_numpy(zf))
        return cls.numpy(), reg.numpy()

    frames, boxes = textured_patch(num_frames=60, size=(360, 480), patch=(48, 64), seed=0)
    assert success_rate(run_sequence(SiameseTracker(template_fn, search_fn), frames, boxes[0]), boxes) >= 0.95
