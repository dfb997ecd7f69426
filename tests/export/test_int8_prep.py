"""int8 options: whole layer types kept float, centring of one-sided clipped activations, bias
correction. A small hand-written ncnn model (no torch, no pnnx) shaped like a MobileNet block:
3x3 conv + ReLU6 -> 1x1 conv + ReLU6 -> depth-wise 3x3 + ReLU6 -> 1x1 conv -> global average
pooling -> InnerProduct; inputs are crops of real photos."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

ncnn = pytest.importorskip("ncnn")

from zoo.convert import calibrate as cal  # noqa: E402
from zoo.convert.int8 import quantize_ncnn, quantize_rows, run_outputs  # noqa: E402
from zoo.convert.int8_prep import (  # noqa: E402
    apply_centring,
    bias_shift,
    centring_candidates,
    clip_bounds,
    plan_centring,
)
from zoo.errors import InputError  # noqa: E402
from zoo.numerics import cosine  # noqa: E402
from zoo.runtimes.ncnn.param import format_param, locate_weights, parse_param, read_param  # noqa: E402
from zoo.runtimes.ncnn.session import FP32_OPTIONS, INT8_OPTIONS  # noqa: E402

RELU6 = "9=3 -23310=2,0.0,6.0"


def _tagged(a: np.ndarray) -> bytes:
    return struct.pack("<I", 0) + a.astype("<f4").tobytes()


def write_block_model(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """in0 (3x24x24) -> c0 3x3 s1 (8, ReLU6) -> e0 1x1 (16, ReLU6) -> dw 3x3 pad 1 (16, ReLU6)
    -> p0 1x1 (8) -> global avg pool -> fc (10). Biases push the ReLU6 outputs off zero."""
    rng = np.random.default_rng(seed)
    layers = [
        "Input            in0  0 1 in0 0=24 1=24 2=3",
        f"Convolution      c0   1 1 in0 a0 0=8 1=3 4=1 5=1 6=216 {RELU6}",
        f"Convolution      e0   1 1 a0 a1 0=16 1=1 5=1 6=128 {RELU6}",
        f"ConvolutionDepthWise dw 1 1 a1 a2 0=16 1=3 4=1 5=1 6=144 7=16 {RELU6}",
        "Convolution      p0   1 1 a2 a3 0=8 1=1 5=1 6=128",
        "Pooling          gap  1 1 a3 a4 0=1 4=1",
        "InnerProduct     fc   1 1 a4 out0 0=10 1=1 2=80",
    ]
    blobs = [
        _tagged(rng.normal(0, 0.4, 216)),
        rng.uniform(0.5, 2.0, 8).astype("<f4").tobytes(),
        _tagged(rng.normal(0, 0.4, 128)),
        rng.uniform(0.5, 2.0, 16).astype("<f4").tobytes(),
        _tagged(rng.normal(0, 0.4, 144)),
        rng.uniform(0.0, 1.0, 16).astype("<f4").tobytes(),
        _tagged(rng.normal(0, 0.4, 128)),
        rng.normal(0, 0.1, 8).astype("<f4").tobytes(),
        _tagged(rng.normal(0, 0.4, 80)),
        rng.normal(0, 0.1, 10).astype("<f4").tobytes(),
    ]
    text = f"7767517\n{len(layers)} {len(layers)}\n" + "\n".join(layers) + "\n"
    param, bin_ = folder / "block.param", folder / "block.bin"
    param.write_text(text)
    bin_.write_bytes(b"".join(blobs))
    return param, bin_


@pytest.fixture(scope="module")
def photos() -> list[dict[str, np.ndarray]]:
    """24 crops of scikit-image photos, 24x24, scaled to [-1, 1]."""
    from PIL import Image

    data = pytest.importorskip("skimage.data")
    images = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out = []
    for i in range(24):
        rgb = images[i % 4]
        h, w = rgb.shape[:2]
        side = int(min(h, w) * (0.3 + 0.1 * (i // 4)))
        top, left = (h - side) * (i % 3) // 2, (w - side) * ((i + 1) % 3) // 2
        crop = np.asarray(Image.fromarray(rgb[top : top + side, left : left + side]).resize((24, 24)))
        x = (crop.astype(np.float32) - 127.0) / 128.0
        out.append({"in0": np.ascontiguousarray(x.transpose(2, 0, 1)[None])})
    return out


@pytest.fixture
def block(tmp_path: Path) -> tuple[Path, Path]:
    return write_block_model(tmp_path)


def outputs(param: Path, bin_: Path, samples: list[dict[str, np.ndarray]], int8: bool) -> np.ndarray:
    net = cal.open_net(param, bin_, INT8_OPTIONS if int8 else FP32_OPTIONS)
    return np.stack([run_outputs(net, s) for s in samples])


def test_candidates_are_clip_outputs_read_only_by_offset_blind_quantized_layers(block) -> None:
    model = read_param(block[0])
    assert clip_bounds(model.layer("e0")) == (0.0, 6.0) and clip_bounds(model.layer("p0")) is None
    every = [layer.name for layer in model.layers if layer.type not in ("Input", "Pooling")]
    found = centring_candidates(model, every)
    # a0 feeds a 1x1 conv; a2 feeds the 1x1 projection; a1 feeds a padded depth-wise 3x3 (no)
    assert found == {"a0": ("c0", ("e0",)), "a2": ("dw", ("p0",))}
    assert centring_candidates(model, [n for n in every if n != "e0"]) == {"a2": ("dw", ("p0",))}  # e0 float: no
    clipped_head = parse_param(
        block[0].read_text().replace("6=128\nPooling", f"6=128 {RELU6}\nPooling")
    )  # p0 gets ReLU6: its output reaches the fc through the global average pooling
    assert centring_candidates(clipped_head, every)["a3"] == ("p0", ("fc",))


def test_centring_keeps_the_fp32_function(block, photos, tmp_path: Path) -> None:
    model = read_param(block[0])
    data = bytearray(block[1].read_bytes())
    layout = locate_weights(model, bytes(data))
    net = cal.open_net(*block, FP32_OPTIONS)
    candidates = centring_candidates(model, [layer.name for layer in model.layers])
    plans = plan_centring(candidates, cal.collect_statistics(net, photos, list(candidates), "minmax"))
    assert {p.blob for p in plans} == {"a0", "a2"} and all(0 < p.shift <= 3 for p in plans)
    centred = apply_centring(model, data, layout, plans, {"e0": 16, "p0": 8})
    assert centred.layer("c0").params[-23310].startswith("2,-")
    (tmp_path / "c.param").write_text(format_param(centred))
    (tmp_path / "c.bin").write_bytes(bytes(data))
    before = outputs(*block, photos, int8=False)
    after = outputs(tmp_path / "c.param", tmp_path / "c.bin", photos, int8=False)
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-4 * (1 + np.abs(before).max()))
    blobs = cal.open_net(tmp_path / "c.param", tmp_path / "c.bin", FP32_OPTIONS).extract(photos[0], ["a0"])
    assert blobs["a0"].min() < 0 < blobs["a0"].max()  # the blob itself now straddles zero


def test_bias_shift_is_weight_error_times_input_mean() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (4, 6)).astype(np.float32)
    q, s = quantize_rows(w)
    deq = q / s[:, None]
    mean = rng.uniform(0, 3, 6)
    conv = parse_param("7767517\n1 1\nConvolution c 1 1 a b 0=4 1=1 5=1 6=24\n").layer("c")
    np.testing.assert_allclose(bias_shift(w, deq, mean, conv), (deq - w) @ mean, rtol=1e-12)
    dw = parse_param("7767517\n1 1\nConvolutionDepthWise d 1 1 a b 0=6 1=2 5=1 6=24 7=6\n").layer("d")
    wd = rng.normal(0, 1, (6, 4)).astype(np.float32)
    qd, sd = quantize_rows(wd)
    got = bias_shift(wd, qd / sd[:, None], mean, dw)
    np.testing.assert_allclose(got, ((qd / sd[:, None]) - wd).sum(1) * mean, rtol=1e-12)
    assert bias_shift(w, deq, mean[:5], conv) is None  # 6 weights per row, 5 channels: no fit


def test_each_option_brings_int8_closer_to_fp32(block, photos, tmp_path: Path) -> None:
    fp32 = outputs(*block, photos, int8=False)

    def error(**options: object) -> tuple[float, float, object]:
        tag = "-".join(str(v) for v in options.values()) or "plain"
        report = quantize_ncnn(*block, photos, tmp_path / f"{tag}.param", tmp_path / f"{tag}.bin", "minmax", **options)
        int8 = outputs(tmp_path / f"{tag}.param", tmp_path / f"{tag}.bin", photos, int8=True)
        bias = float(np.abs((int8 - fp32).mean(axis=0)).mean())
        return bias, 1 - float(np.mean([cosine(a, b) for a, b in zip(fp32, int8, strict=True)])), report

    plain_bias, plain_loss, plain = error()
    bc_bias, bc_loss, corrected = error(bias_correction=True)
    centred_bias, centred_loss, centred = error(centre_clipped=True, bias_correction=True)
    assert not plain.centred and not plain.bias_correction and all(q.bias_change is None for q in plain.layers)
    assert corrected.bias_correction and all(q.bias_change is not None for q in corrected.layers)
    assert {c.blob for c in centred.centred} == {"a0", "a2"}
    by_name = {q.name: q for q in centred.layers}
    assert by_name["p0"].input_method == "minmax" and by_name["p0"].input_threshold <= 3.0 + 1e-6
    # measured on seeds 0-4 of this model: 1 - cosine 2e-5..6e-4 plain; bias correction 1.7-11x less;
    # centring + correction 3-12x less than plain (on EfficientNet-Lite0 it halves correction's loss)
    assert bc_bias < plain_bias
    assert centred_loss < plain_loss
    assert min(bc_loss, centred_loss) < 0.8 * plain_loss


def test_keep_float_types(block, photos, tmp_path: Path) -> None:
    report = quantize_ncnn(
        *block, photos, tmp_path / "q.param", tmp_path / "q.bin", "minmax", keep_float_types=["ConvolutionDepthWise"]
    )
    assert report.kept_float == [("dw", "type kept float: ConvolutionDepthWise")]
    assert report.keep_float_types == ["ConvolutionDepthWise"]
    assert 8 not in read_param(tmp_path / "q.param").layer("dw").params
    with pytest.raises(InputError, match="keep_float_types names 'Pooling'"):
        quantize_ncnn(*block, photos, tmp_path / "r.param", tmp_path / "r.bin", "minmax", keep_float_types=["Pooling"])
