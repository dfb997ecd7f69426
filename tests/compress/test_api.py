from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from zoo.compress import METHODS, CompressionReport, compress, parse_options
from zoo.compress.fake_quant import FakeQuantize, QuantWrapper
from zoo.errors import ConfigError, InputError

ALL_METHODS = ["prune", "prune-channels", "kmeans", "ternary", "binary", "lowrank", "ptq"]
STANDARD = (nn.Sequential, nn.Conv2d, nn.Linear, nn.ReLU, nn.MaxPool2d, nn.Flatten)


def test_every_documented_method_is_registered() -> None:
    assert list(METHODS) == ALL_METHODS
    for spec in METHODS.values():
        assert spec.description
        for name, field in spec.options.model_fields.items():
            assert field.description, f"{spec.name}.{name} has no description"


@pytest.mark.parametrize("method", ALL_METHODS)
def test_result_is_a_plain_traceable_module_and_input_is_untouched(
    method: str, model: nn.Module, images: torch.Tensor
) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out, report = compress(model, method)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{method} changed the input model's {k}"
    assert all(isinstance(m, STANDARD) for m in out.modules())
    assert not any(isinstance(m, (QuantWrapper, FakeQuantize)) for m in out.modules())
    assert not any(hasattr(m, "parametrizations") for m in out.modules())
    traced = torch.jit.trace(out, images)
    torch.testing.assert_close(traced(images), out(images))
    assert out(images).shape == model(images).shape
    assert isinstance(report, CompressionReport)
    assert report.method == method
    assert report.params_before == sum(p.numel() for p in model.parameters())
    assert report.params_after == sum(p.numel() for p in out.parameters())
    assert 0 < report.estimated_size_bytes <= report.size_bytes_fp32 * 1.1
    json.loads(report.model_dump_json())


def test_report_numbers_for_kmeans(model: nn.Module) -> None:
    _, report = compress(model, "kmeans", k=4)
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    # 2-bit indices plus a 4-entry float codebook in each of the 4 layers.
    assert report.bits_per_weight == pytest.approx((2 * weights + 4 * 4 * 32) / weights)
    biases = report.params_before - weights
    expected = -(-(2 * weights + 4 * 4 * 32 + 32 * biases) // 8)
    assert report.estimated_size_bytes == expected
    assert report.compression_ratio == pytest.approx(report.size_bytes_fp32 / expected)
    assert report.options == {"k": 4, "iters": 50}


def test_prune_report_sparsity_and_nonzeros(model: nn.Module) -> None:
    out, report = compress(model, "prune", sparsity=0.75, scope="layer")
    assert report.sparsity == pytest.approx(0.75, abs=0.01)
    assert report.nonzero_params == sum(int((p != 0).sum()) for p in out.parameters())
    assert report.options == {"sparsity": 0.75, "scope": "layer"}


def test_lowrank_reports_fewer_params(model: nn.Module) -> None:
    _, report = compress(model, "lowrank", rank=2)
    assert report.params_after < report.params_before
    assert report.options == {"rank": 2, "energy": None}
    _, default = compress(model, "lowrank")
    assert default.options["energy"] == 0.9


def test_ptq_with_calibration_reports_activation_ranges(model: nn.Module, images: torch.Tensor) -> None:
    out, report = compress(model, "ptq", bits=4, calibration=[images, images])
    assert report.activation_ranges is not None
    assert set(report.activation_ranges) == {"0", "2", "6", "8"}
    assert report.options["calibration_samples"] == 12
    assert "calibration" not in report.options
    for layer in (out[0], out[6]):
        for channel in layer.weight:
            assert channel.unique().numel() <= 15
    layers = [m for m in out.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    weights = sum(m.weight.numel() for m in layers)
    channels = sum(m.weight.shape[0] for m in layers)  # one float32 scale per output channel
    assert report.bits_per_weight == pytest.approx((4 * weights + 32 * channels) / weights)


def test_options_given_as_strings_are_coerced(model: nn.Module) -> None:
    _, report = compress(model, "kmeans", k="8")
    assert report.options["k"] == 8


def test_unknown_method_names_the_valid_ones(model: nn.Module) -> None:
    with pytest.raises(ConfigError, match="unknown compression method 'quantise'; valid methods: prune,"):
        compress(model, "quantise")


def test_unknown_option_names_the_valid_ones(model: nn.Module) -> None:
    with pytest.raises(ConfigError, match="unknown option 'clusters' for method 'kmeans'; valid options: k, iters"):
        compress(model, "kmeans", clusters=4)


@pytest.mark.parametrize(
    "method,options,match",
    [
        ("kmeans", {"k": 1}, "'k'.*greater than or equal to 2"),
        ("prune", {"sparsity": 1.5}, "'sparsity'"),
        ("prune", {"scope": "row"}, "'scope'.*global.*layer"),
        ("ptq", {"bits": 17}, "'bits'"),
        ("ptq", {"granularity": "group"}, "group_size"),
        ("lowrank", {"rank": 2, "energy": 0.5}, "not both"),
        ("ptq", {"calibration": 3}, "calibration"),
    ],
)
def test_bad_option_values_are_config_errors(model: nn.Module, method: str, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        compress(model, method, **options)


def test_model_without_layers_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no Conv2d or Linear"):
        compress(nn.Sequential(nn.ReLU()), "prune")
    with pytest.raises(InputError, match="nn.Module"):
        compress("resnet18", "prune")  # type: ignore[arg-type]


def test_importing_the_package_does_not_import_torch() -> None:
    root = Path(__file__).resolve().parents[2]
    code = "import sys, zoo.compress; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_batchnorm_models_get_a_fold_warning(images: torch.Tensor) -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 3))
    _, report = compress(model, "ptq", bits=8)
    assert any("fold BatchNorm" in n for n in report.notes)
    _, pruned = compress(model, "prune")
    assert not any("BatchNorm" in n for n in pruned.notes)


def test_parse_options_resolves_defaults_and_rejects_like_compress() -> None:
    assert parse_options("prune", {"sparsity": "0.3"}) == {"sparsity": 0.3, "scope": "global"}
    assert parse_options("ptq", {"calibration": [torch.zeros(1)]})["bits"] == 8
    with pytest.raises(ConfigError, match="valid options: sparsity, scope"):
        parse_options("prune", {"amount": 0.5})
    with pytest.raises(ConfigError, match="valid methods"):
        parse_options("zip", {})
