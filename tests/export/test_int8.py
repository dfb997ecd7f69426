"""zoo.convert.int8 / calibrate / ncnn_param: ncnn's int8 format written from Python.

Most tests use a tiny ncnn model written by hand (``write_tiny_model``): no torch or pnnx, and
stock ncnn loads it in milliseconds. The slow test exports a small CNN with pnnx, as the export
chain does. Inputs are real photos (scikit-image), preprocessed as ImageNet, so activation
statistics look like inference's.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

ncnn = pytest.importorskip("ncnn")

from zoo.convert import calibrate as cal  # noqa: E402
from zoo.convert.int8 import (  # noqa: E402
    Int8Report,
    layer_sensitivity,
    quantize_ncnn,
    quantize_rows,
    round_half_away,
    run_outputs,
)
from zoo.errors import ExportError, InputError, ZooError  # noqa: E402
from zoo.numerics import cosine  # noqa: E402
from zoo.runtimes.ncnn.param import (  # noqa: E402
    TAG_FP16,
    TAG_INT8,
    format_param,
    locate_weights,
    parse_param,
    read_param,
)
from zoo.runtimes.ncnn.session import FP32_OPTIONS, INT8_OPTIONS  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


# ----------------------------------------------------------------------------- helpers


def photo_inputs(size: int, n: int) -> list[dict[str, np.ndarray]]:
    """``n`` real-photo inputs (1, 3, size, size): crops and mirrors of scikit-image photos."""
    from PIL import Image

    data = pytest.importorskip("skimage.data")
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out = []
    for i in range(n):
        rgb = photos[i % len(photos)]
        h, w = rgb.shape[:2]
        side = min(h, w) * (0.6 + 0.4 * ((i // len(photos)) % 3) / 2)
        top = int((h - side) * ((i * 7) % 5) / 4)
        left = int((w - side) * ((i * 3) % 5) / 4)
        crop = rgb[top : top + int(side), left : left + int(side)]
        img = np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))
        if (i // len(photos)) % 2:
            img = img[:, ::-1]
        x = (img.astype(np.float32) / 255.0 - MEAN) / STD
        out.append({"in0": np.ascontiguousarray(x.transpose(2, 0, 1)[None])})
    return out


def _tagged_fp32(a: np.ndarray) -> bytes:
    return struct.pack("<I", 0) + a.astype("<f4").tobytes()


def _tagged_fp16(a: np.ndarray) -> bytes:
    raw = a.astype("<f2").tobytes()
    return struct.pack("<I", TAG_FP16) + raw + b"\0" * (-len(raw) % 4)


def write_tiny_model(folder: Path, deconv: bool = False, seed: int = 0) -> tuple[Path, Path]:
    """Conv 3x3 (fp16 weights, as pnnx writes) -> depthwise 3x3 -> [deconv] -> GAP -> fc."""
    rng = np.random.default_rng(seed)
    layers = [
        "Input            in0     0 1 in0 0=32 1=32 2=3",
        "Convolution      conv0   1 1 in0 c0 0=8 1=3 11=3 4=1 14=1 5=1 6=216 9=1",
        "ConvolutionDepthWise dw0 1 1 c0 d0 0=8 1=3 4=1 5=1 6=72 7=8 9=1",
    ]
    blobs = [
        _tagged_fp16(rng.normal(0, 0.3, 216)),
        rng.normal(0, 0.1, 8).astype("<f4").tobytes(),
        _tagged_fp32(rng.normal(0, 0.3, 72)),
        rng.normal(0.1, 0.1, 8).astype("<f4").tobytes(),
    ]
    last = "d0"
    if deconv:
        layers.append("Deconvolution    deconv0 1 1 d0 e0 0=8 1=2 3=2 5=1 6=256")
        blobs += [_tagged_fp32(rng.normal(0, 0.3, 256)), np.zeros(8, "<f4").tobytes()]
        last = "e0"
    layers += [
        f"Pooling          gap     1 1 {last} p0 0=1 4=1",
        "InnerProduct     fc      1 1 p0 out0 0=10 1=1 2=80 -23310=2,1.5,2",
    ]
    blobs += [_tagged_fp32(rng.normal(0, 0.3, 80)), rng.normal(0, 0.1, 10).astype("<f4").tobytes()]
    text = f"7767517\n{len(layers)} {len(layers)}\n" + "\n".join(layers) + "\n"
    param, bin_ = folder / "tiny.param", folder / "tiny.bin"
    param.write_text(text)
    bin_.write_bytes(b"".join(blobs))
    return param, bin_


@pytest.fixture(scope="module")
def photos16() -> list[dict[str, np.ndarray]]:
    """16 real-photo inputs, 32x32 (enough values per blob for a KL histogram)."""
    return photo_inputs(32, 16)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    return write_tiny_model(tmp_path)


def _outputs(param: Path, bin_: Path, samples: list[dict[str, np.ndarray]], int8: bool) -> list:
    net = cal.open_net(param, bin_, INT8_OPTIONS if int8 else FP32_OPTIONS)
    return [run_outputs(net, cal.check_sample(s, ["in0"])) for s in samples]


# ----------------------------------------------------------------------------- .param / .bin


def test_param_text_round_trips_including_array_params(tiny: tuple[Path, Path]) -> None:
    text = tiny[0].read_text()
    parsed = parse_param(text)
    assert parse_param(format_param(parsed)) == parsed
    fc = parsed.layer("fc")
    assert fc.params[-23310] == "2,1.5,2"
    assert (fc.bottoms, fc.tops, fc.int_param(2)) == (("p0",), ("out0",), 80)
    assert parsed.input_names == ["in0"]


def test_locate_weights_walks_the_whole_bin(tiny: tuple[Path, Path]) -> None:
    data = tiny[1].read_bytes()
    layout = locate_weights(read_param(tiny[0]), data)
    assert layout.stopped_at is None
    assert [b.storage for b in layout.layers["conv0"].blobs] == ["fp16", "raw"]
    assert layout.layers["fc"].end == len(data)
    with pytest.raises(InputError, match="do not belong together"):
        locate_weights(read_param(tiny[0]), data + b"\0" * 8)
    with pytest.raises(InputError, match="does not belong to this .param"):
        locate_weights(read_param(tiny[0]), data[:-100])


def test_unknown_layer_type_stops_the_weight_walk() -> None:
    text = "7767517\n3 3\nInput in0 0 1 in0\nMysteryOp m0 1 1 in0 a\nInnerProduct fc 1 1 a b 0=2 2=4\n"
    layout = locate_weights(parse_param(text), b"\0" * 20)
    assert layout.stopped_at == "m0" and layout.opaque_from == 0 and layout.layers == {}


def test_bad_param_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an ncnn .param"):
        parse_param("hello\n1 1\n", "x.param")
    with pytest.raises(InputError, match="header says 2 layers"):
        parse_param("7767517\n2 1\nInput in0 0 1 in0\n")
    with pytest.raises(InputError, match="cannot read"):
        read_param(tmp_path / "missing.param")


# ----------------------------------------------------------------------------- the writer


def test_int8_files_have_ncnn2int8_flags_and_layout(tiny: tuple[Path, Path], photos16, tmp_path: Path) -> None:
    param, bin_ = tiny
    out_param, out_bin = tmp_path / "q.param", tmp_path / "q.bin"
    report = quantize_ncnn(param, bin_, photos16, out_param, out_bin, method="minmax")

    q = read_param(out_param)
    assert {layer.name: layer.params.get(8) for layer in q.layers} == {
        "in0": None, "conv0": "2", "dw0": "1", "gap": None, "fc": "2",
    }  # fmt: skip
    src_layout = locate_weights(read_param(param), bin_.read_bytes())
    data = out_bin.read_bytes()
    layout = locate_weights(q, data)  # raises unless the sizes add up to the whole file
    by_name = {layer.name: layer for layer in report.layers}
    for name, rows in (("conv0", 8), ("dw0", 8), ("fc", 10)):
        weights = layout.layers[name]
        assert [b.role for b in weights.blobs] == ["weight", "bias", "weight_scales", "input_scale"]
        weight = weights.blob("weight")
        assert weight.storage == "int8"
        assert struct.unpack_from("<I", data, weight.offset)[0] == TAG_INT8
        q_w = weight.decode(data).reshape(rows, -1)
        scales = weights.blob("weight_scales").decode(data)
        original = src_layout.layers[name].blob("weight").decode(bin_.read_bytes()).reshape(rows, -1)
        np.testing.assert_allclose(scales, 127 / np.abs(original).max(axis=1), rtol=1e-6)
        assert np.abs(q_w).max() == 127
        assert np.all(np.abs(q_w / scales[:, None] - original) <= 0.5001 / scales[:, None])
        src_bias = src_layout.layers[name].blob("bias")
        assert (
            data[weights.blob("bias").offset :][: src_bias.nbytes]
            == bin_.read_bytes()[src_bias.offset : src_bias.offset + src_bias.nbytes]
        )
        assert weights.blob("input_scale").decode(data)[0] == pytest.approx(by_name[name].input_scale)
        assert by_name[name].weight_scale_count == rows
    assert report.kept_float == []
    assert report.calibration_count == len(photos16)
    assert set(report.artifacts) == {"q.param", "q.bin"}
    assert out_bin.stat().st_mode & 0o044  # group/other can read it, as any written file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.bin", "q.param", "tiny.bin", "tiny.param"]


def test_stock_ncnn_runs_int8_and_tracks_fp32(tiny: tuple[Path, Path], photos16, tmp_path: Path) -> None:
    param, bin_ = tiny
    quantize_ncnn(param, bin_, photos16, tmp_path / "q.param", tmp_path / "q.bin", method="kl")
    fp32 = _outputs(param, bin_, photos16, int8=False)
    int8 = _outputs(tmp_path / "q.param", tmp_path / "q.bin", photos16, int8=True)
    sims = [cosine(a, b) for a, b in zip(fp32, int8, strict=True)]
    assert min(sims) > 0.99
    # int8 really ran: not bit-identical to fp32.
    assert max(float(np.abs(a - b).max()) for a, b in zip(fp32, int8, strict=True)) > 1e-5


def test_methods_give_plausible_ordered_thresholds(tiny: tuple[Path, Path], photos16, tmp_path: Path) -> None:
    param, bin_ = tiny
    reports = {
        m: quantize_ncnn(param, bin_, photos16, tmp_path / f"{m}.param", tmp_path / f"{m}.bin", method=m)
        for m in ("minmax", "kl", "aciq")
    }
    for name in ("conv0", "dw0", "fc"):
        layer = {m: next(q for q in r.layers if q.name == name) for m, r in reports.items()}
        assert layer["minmax"].input_threshold == pytest.approx(layer["minmax"].input_absmax)
        for m in ("kl", "aciq"):
            assert 0 < layer[m].input_threshold <= layer["minmax"].input_threshold * (1 + 1e-6)
            assert layer[m].input_scale == pytest.approx(127 / layer[m].input_threshold)
    # conv0's input is the photos themselves: its KL threshold is computable without ncnn.
    kl = {q.name: q for q in reports["kl"].layers}
    assert kl["conv0"].input_method == kl["dw0"].input_method == "kl"
    values = np.concatenate([s["in0"].ravel() for s in photos16])
    absmax = float(np.abs(values).max())
    assert kl["conv0"].input_absmax == pytest.approx(absmax)
    expected = cal.kl_threshold(cal.abs_histogram(values, absmax), absmax)
    assert kl["conv0"].input_threshold == pytest.approx(expected)
    # ... but not on the fc's 8 pooled values per sample: too few for a 2048-bin histogram.
    assert kl["fc"].input_method == "minmax"
    assert kl["fc"].input_threshold == pytest.approx(kl["fc"].input_absmax)


def test_keep_float_leaves_weights_float_and_bytes_unchanged(tiny, photos16, tmp_path: Path) -> None:
    param, bin_ = tiny
    report = quantize_ncnn(
        param, bin_, photos16, tmp_path / "q.param", tmp_path / "q.bin", "minmax", keep_float=["conv0"]
    )
    assert report.kept_float == [("conv0", "requested")]
    assert [q.name for q in report.layers] == ["dw0", "fc"]
    q = read_param(tmp_path / "q.param")
    assert 8 not in q.layer("conv0").params and q.layer("dw0").params[8] == "1"
    src = locate_weights(read_param(param), bin_.read_bytes()).layers["conv0"]
    out = locate_weights(q, (tmp_path / "q.bin").read_bytes()).layers["conv0"]
    assert [b.storage for b in out.blobs] == ["fp16", "raw"]
    assert (tmp_path / "q.bin").read_bytes()[out.start : out.end] == bin_.read_bytes()[src.start : src.end]
    fp32 = _outputs(param, bin_, photos16[:4], int8=False)
    int8 = _outputs(tmp_path / "q.param", tmp_path / "q.bin", photos16[:4], int8=True)
    assert min(cosine(a, b) for a, b in zip(fp32, int8, strict=True)) > 0.99


def test_unsupported_ops_stay_float_and_are_reported(tmp_path: Path, photos16) -> None:
    param, bin_ = write_tiny_model(tmp_path, deconv=True)
    report = quantize_ncnn(param, bin_, photos16, tmp_path / "q.param", tmp_path / "q.bin", "minmax")
    assert report.kept_float == [("deconv0", "unsupported op Deconvolution")]
    assert [q.name for q in report.layers] == ["conv0", "dw0", "fc"]
    fp32 = _outputs(param, bin_, photos16[:4], int8=False)
    int8 = _outputs(tmp_path / "q.param", tmp_path / "q.bin", photos16[:4], int8=True)
    assert min(cosine(a, b) for a, b in zip(fp32, int8, strict=True)) > 0.99


def test_report_is_json_and_round_trips(tiny, photos16, tmp_path: Path) -> None:
    report = quantize_ncnn(*tiny, photos16, tmp_path / "q.param", tmp_path / "q.bin", "aciq")
    payload = json.loads(report.model_dump_json())
    assert payload["method"] == "aciq" and payload["calibration_count"] == 16
    assert {"ncnn", "numpy", "zoo"} <= set(payload["tool_versions"])
    assert Int8Report.model_validate_json(report.model_dump_json()) == report


def test_calibration_may_be_a_one_shot_generator(tiny, photos16, tmp_path: Path) -> None:
    """kl reads the samples twice (absmax, then histograms): a generator must still work."""
    from_list = quantize_ncnn(*tiny, photos16, tmp_path / "a.param", tmp_path / "a.bin", "kl")
    from_gen = quantize_ncnn(*tiny, (s for s in photos16), tmp_path / "b.param", tmp_path / "b.bin", "kl")
    assert from_gen.calibration_count == 16
    assert from_gen.layers == from_list.layers
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()


def test_layer_sensitivity_is_sorted_worst_first(tiny, photos16) -> None:
    result = layer_sensitivity(*tiny, photos16, method="kl", limit=8)
    assert sorted(r.name for r in result) == ["conv0", "dw0", "fc"]
    cosines = [r.cosine for r in result]
    assert cosines == sorted(cosines)
    assert all(0.99 < c < 1.0 for c in cosines)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "samples", "message"),
    [
        ({"method": "kl"}, 0, "calibration set is empty"),
        ({"method": "kl"}, 3, "needs at least 8 samples, got 3"),
        ({"method": "entropy"}, 8, "unknown int8 calibration method 'entropy'"),
        ({"method": "minmax", "keep_float": ["conv_0"]}, 2, "'conv_0'.*did you mean conv0"),
    ],
)
def test_bad_arguments_raise_one_clear_error(tiny, photos16, tmp_path, kwargs, samples, message) -> None:
    out_param = tmp_path / "q.param"
    with pytest.raises(InputError, match=message):
        quantize_ncnn(*tiny, photos16[:samples], out_param, tmp_path / "q.bin", **kwargs)
    assert not out_param.exists() and not (tmp_path / "q.bin").exists()


def test_bad_samples_name_the_expected_inputs(tiny, photos16, tmp_path) -> None:
    x = photos16[0]["in0"]
    with pytest.raises(InputError, match=r"expects \['in0'\]"):
        quantize_ncnn(*tiny, [{"data": x}], tmp_path / "q.param", tmp_path / "q.bin", "minmax")
    with pytest.raises(InputError, match="batch size 1"):
        quantize_ncnn(*tiny, [{"in0": x[0]}], tmp_path / "q.param", tmp_path / "q.bin", "minmax")
    with pytest.raises(InputError, match="already int8"):
        quantize_ncnn(*tiny, photos16[:1], tmp_path / "q.param", tmp_path / "q.bin", "minmax")
        quantize_ncnn(tmp_path / "q.param", tmp_path / "q.bin", photos16[:1], tmp_path / "r.param", tmp_path / "r.bin", "minmax")  # fmt: skip


def test_mismatched_bin_is_an_error_not_a_crash(tiny, photos16, tmp_path) -> None:
    other = write_tiny_model(tmp_path / "o" if (tmp_path / "o").mkdir() is None else tmp_path, deconv=True)
    with pytest.raises(ZooError, match="do not belong together"):
        quantize_ncnn(tiny[0], other[1], photos16[:2], tmp_path / "q.param", tmp_path / "q.bin", "minmax")
    assert issubclass(ExportError, ZooError)


# ----------------------------------------------------------------------------- pure numpy


def test_round_half_away_and_zero_rows() -> None:
    np.testing.assert_array_equal(round_half_away(np.array([0.5, 1.5, -0.5, -2.5, 0.49])), [1, 2, -1, -3, 0])
    q, scales = quantize_rows(np.array([[0.0, 0.0], [0.5, -1.0]], np.float32))
    assert scales.tolist() == [1.0, 127.0]
    assert q.tolist() == [[0, 0], [64, -127]]


def test_kl_clips_a_long_tail_and_keeps_a_full_range() -> None:
    rng = np.random.default_rng(0)
    bulk = np.abs(rng.normal(0, 1, 200_000))
    tail = np.array([40.0])  # one outlier stretches the range 10x
    values = np.concatenate([bulk, tail])
    hist = cal.abs_histogram(values, float(values.max()))
    threshold = cal.kl_threshold(hist, float(values.max()))
    assert 2.0 < threshold < 8.0
    uniform = cal.abs_histogram(rng.uniform(-1, 1, 200_000), 1.0)
    assert cal.kl_threshold(uniform, 1.0) > 0.9
    assert cal.kl_threshold(np.zeros(2048, np.int64), 0.0) == 0.0


def test_aciq_matches_the_gaussian_formula_and_caps_at_absmax() -> None:
    n = 64 * 56 * 56
    expected = 3.92403714 * (2 * 0.175 * (1 + np.sqrt(np.pi * np.log(4)))) / np.sqrt(2 * np.log(n))
    assert cal.aciq_threshold(1.0, n) == pytest.approx(expected)
    assert cal.aciq_threshold(1.0, 16) == 1.0  # small blobs: capped


# ----------------------------------------------------------------------------- pnnx


@pytest.mark.slow
def test_pnnx_exported_cnn_int8_tracks_fp32(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pnnx = pytest.importorskip("pnnx")
    from torch import nn

    class SmallNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
            self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.BatchNorm2d(16), nn.ReLU())
            self.pw = nn.Sequential(nn.Conv2d(16, 32, 1), nn.BatchNorm2d(32), nn.ReLU())
            self.body = nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU())
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.stem(x)
            x = self.pw(x + self.dw(x))
            x = x + self.body(x)
            return self.fc(x.mean((2, 3)))

    torch.manual_seed(0)
    model = SmallNet().eval()
    with torch.no_grad():  # random BN statistics: outputs that depend on the input
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    pnnx.export(model, str(tmp_path / "m.pt"), (torch.rand(1, 3, 64, 64),))
    param, bin_ = tmp_path / "m.ncnn.param", tmp_path / "m.ncnn.bin"
    types = {layer.type for layer in read_param(param).layers}
    assert {"Convolution", "ConvolutionDepthWise", "InnerProduct"} <= types

    samples = photo_inputs(64, 12)
    report = quantize_ncnn(param, bin_, samples, tmp_path / "q.param", tmp_path / "q.bin", method="kl")
    assert {q.type for q in report.layers} == {"Convolution", "ConvolutionDepthWise", "InnerProduct"}
    assert report.kept_float == []
    held_out = photo_inputs(64, 20)[12:]
    fp32 = _outputs(param, bin_, held_out, int8=False)
    int8 = _outputs(tmp_path / "q.param", tmp_path / "q.bin", held_out, int8=True)
    sims = [cosine(a, b) for a, b in zip(fp32, int8, strict=True)]
    assert np.mean(sims) > 0.99, sims
