"""Classifier plugin: pure pre/post-processing, the torchvision layout, export parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zoo_classifier import processing
from zoo_classifier.plugin import IMAGENET_PRE


def test_resize_shorter_and_center_crop_shapes() -> None:
    image = np.zeros((300, 451, 3), np.uint8)
    resized = processing.resize_shorter(image, 256)
    assert resized.shape == (256, 384, 3)
    assert processing.center_crop(resized, (224, 224)).shape == (224, 224, 3)
    tiny = np.full((10, 6, 3), 7, np.uint8)
    assert processing.center_crop(tiny, (8, 8)).shape == (8, 8, 3)  # padded, not crashed


def test_preprocess_normalises_like_torchvision() -> None:
    image = np.full((256, 256, 3), (124, 116, 104), np.uint8)  # ≈ ImageNet mean in uint8
    x, ctx = processing.preprocess(image, IMAGENET_PRE)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32 and x.flags.c_contiguous
    expected = (np.array([124, 116, 104]) / 255 - np.array(IMAGENET_PRE.mean)) / np.array(IMAGENET_PRE.std)
    np.testing.assert_allclose(x[0, :, 100, 100], expected, atol=1e-6)
    assert ctx["orig_shape"] == (256, 256)


def test_channel_order_bgr_swaps() -> None:
    image = np.zeros((224, 224, 3), np.uint8)
    image[..., 0] = 255
    rgb, _ = processing.preprocess(image, IMAGENET_PRE.model_copy(update={"mean": (0, 0, 0), "std": (1, 1, 1)}))
    bgr, _ = processing.preprocess(
        image, IMAGENET_PRE.model_copy(update={"mean": (0, 0, 0), "std": (1, 1, 1), "channel_order": "BGR"})
    )
    assert rgb[0, 0].max() == 1.0 and bgr[0, 2].max() == 1.0 and bgr[0, 0].max() == 0.0


def test_topk_softmax_and_labels() -> None:
    logits = np.zeros(1000, np.float32)
    logits[[281, 7, 999]] = [5.0, 4.0, 3.0]
    from zoo.registry import get_registry

    spec = get_registry().get("resnet18")
    result = processing.postprocess({"out0": logits[None]}, {}, spec, {"top_k": 3})
    assert result.indices == [281, 7, 999]
    assert result.names == ["tabby", "cock", "toilet tissue"]
    assert sum(processing.softmax(logits.astype(np.float64))) == pytest.approx(1.0)
    assert result.to_dict()["top"][0]["label"] == "tabby"
    assert len(processing.labels("imagenet")) == 1000


def test_agreement() -> None:
    a = processing.Classification([1, 2, 3, 4, 5], [0.5] * 5)
    b = processing.Classification([2, 1, 3, 4, 5], [0.5] * 5)
    assert processing.agreement([a, a], [a, b]) == {"top1_agreement": 0.5, "top1_in_top5": 1.0}


def test_resnet18_counts_come_out_of_the_model() -> None:
    torch = pytest.importorskip("torch")
    from zoo.convert.count import count_macs, count_params
    from zoo_classifier import resnet

    model = resnet.resnet18().eval()
    assert count_params(model) == 11_689_512
    macs = count_macs(model, torch.zeros(1, 3, 224, 224))
    assert macs == 1_814_073_344 and round(macs / 1e9, 2) == 1.81


def test_torchvision_checkpoint_loads_strictly_and_wrong_variant_fails(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from zoo.errors import CheckpointError
    from zoo.registry import get_registry
    from zoo_classifier import resnet

    reg = get_registry()
    r34 = tmp_path / "resnet34.pth"
    torch.save(resnet.resnet34().state_dict(), r34)
    with pytest.raises(CheckpointError, match=r"unexpected \(first: layer1.2.conv1.weight"):
        reg.build_torch_model(reg.get("resnet18"), str(r34))
    head = resnet.resnet18(num_classes=10).state_dict()
    bad = tmp_path / "head10.pth"
    torch.save(head, bad)
    with pytest.raises(CheckpointError, match=r"'fc.weight' has shape \(10, 512\)"):
        reg.build_torch_model(reg.get("resnet18"), str(bad))


@pytest.mark.slow
def test_export_fp32_and_fp16_parity_then_bench_run_and_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The main job end to end through the CLI, in a temporary cache and cards folder."""
    from click.testing import CliRunner

    from zoo import registry
    from zoo.cli import cli

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    registry.reset()
    runner = CliRunner()

    res = runner.invoke(cli, ["export", "resnet18", "--weights", "random", "--json"])
    assert res.exit_code == 0, res.output
    fp32 = json.loads(res.stdout)
    assert fp32["params"] == 11_689_512 and fp32["macs"] == 1_814_073_344
    assert fp32["parity"]["max_abs_diff"] < 1e-4 and fp32["parity"]["agreement"]["top1_agreement"] == 1.0
    assert fp32["components"]["model"]["runtime_options"]["use_fp16_storage"] is False
    steps = [s["step"] for s in fp32["steps"]]
    assert steps == ["trace", "pnnx"]
    folder = Path(fp32["folder"])
    assert {p.name for p in folder.iterdir()} == {
        "model.ncnn.param",
        "model.ncnn.bin",
        "trace.json",
        "pnnx.json",
        "export.json",
    }

    res = runner.invoke(cli, ["export", "resnet18", "--weights", "random", "--dtype", "fp16", "--json"])
    assert res.exit_code == 0, res.output
    fp16 = json.loads(res.stdout)
    assert fp16["parity"]["min_cosine"] > 0.999 and fp16["parity"]["agreement"]["top1_in_top5"] == 1.0
    assert fp16["artifacts"][1]["size"] < 0.6 * fp32["artifacts"][1]["size"]  # fp16 weights on disk

    res = runner.invoke(
        cli,
        [
            "bench",
            "resnet18",
            "--weights",
            "random",
            "--dtype",
            "fp32,fp16",
            "--threads",
            "1",
            "--runs",
            "5",
            "--warmup",
            "1",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    cards = json.loads(res.stdout)
    assert [c["precision"] for c in cards] == ["fp32", "fp16"]
    result = cards[0]["results"][0]
    assert result["latency"]["runs"] == 5 and result["fps"] > 0 and result["pipeline_latency"]["runs"] == 5
    assert cards[0]["accuracy_reason"] == "random weights" and cards[0]["weights"]["random"] is True
    assert (result["energy_j_per_inference"] is None) == bool(result["energy_reason"])

    res = runner.invoke(cli, ["table", "--format", "csv"])
    assert res.exit_code == 0 and res.stdout.count("resnet18") == 2

    image = Path(__file__).resolve().parents[3] / "zoo" / "data" / "images" / "chelsea.jpg"
    res = runner.invoke(cli, ["run", "resnet18", str(image), "--artifacts", str(folder), "--top-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["top"]) == 3 and out["weights"] == "random"


@pytest.mark.slow
def test_arm_parity_of_resnet18_in_all_three_dtypes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """zoo verify --arm: each artifact through the aarch64 ncnn wheel on an emulated Cortex-A76."""
    from click.testing import CliRunner

    from zoo import registry
    from zoo.cli import cli
    from zoo.verify.arm import emulation_unsupported_reason

    reason = emulation_unsupported_reason()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    registry.reset()
    res = CliRunner().invoke(cli, ["verify", "resnet18", "--arm", "--weights", "random", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    fp32, fp16, int8 = (out[d]["zoo-options"] for d in ("fp32", "fp16", "int8"))
    assert fp32["max_abs_diff"] < 1e-4  # true fp32 on both sides (FACTS: 3e-7)
    assert int8["bit_exact"]  # ncnn's int8 kernels agree exactly (FACTS)
    assert fp16["cosine"] > 0.999 and fp16["agreement"]["top1_agreement"] == 1.0  # ARM runs real fp16 arithmetic
    card = json.loads(next((tmp_path / "cards").glob("resnet18__ncnn-int8__*/card.json")).read_text())
    assert card["extra"]["arm_parity"]["zoo-options"]["cpu"] == "cortex-a76"


@pytest.mark.slow
def test_int8_export_keep_float_sensitivity_and_bad_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from zoo import registry
    from zoo.cli import cli

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    registry.reset()
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "export",
            "resnet18",
            "--weights",
            "random",
            "--dtype",
            "int8",
            "--method",
            "kl",
            "--keep-float",
            "linear_21",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    assert m["components"]["model"]["runtime_options"]["use_int8_inference"] is True
    assert m["extra"]["calibration_count"] == 20
    assert m["parity"]["agreement"]["top1_agreement"] >= 0.875 and m["parity"]["min_cosine"] > 0.99
    int8_step = next(s for s in m["steps"] if s["step"] == "int8")
    assert ["linear_21", "requested"] in [
        list(k) if isinstance(k, list) else [k["name"], k["reason"]] for k in int8_step["meta"]["kept_float"]
    ]
    param = (Path(m["folder"]) / m["components"]["model"]["files"]["param"]).read_text()
    assert "8=2" in param  # int8 convolutions in the .param, as ncnn2int8 writes them

    res = runner.invoke(
        cli, ["export", "resnet18", "--weights", "random", "--dtype", "int8", "--keep-float", "conv_99x"]
    )
    assert res.exit_code == 1 and "conv_99x" in res.stderr and "Traceback" not in res.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(cli, ["export", "resnet18", "--weights", "random", "--dtype", "int8", "--calib", str(empty)])
    assert res.exit_code == 1 and "contains no image files" in res.stderr

    res = runner.invoke(
        cli, ["sensitivity", "resnet18", "--weights", "random", "--samples", "2", "--method", "minmax", "--json"]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 21 and rows == sorted(rows, key=lambda r: r["cosine"])
