"""zoo.verify.arm end to end: a small CNN exported with pnnx, run on an emulated cortex-a76.

Slow (pnnx export, then qemu-user). Skipped only where the host can't emulate at all; on x86_64
Linux a missing qemu or root is a failure (CI runs scripts/setup-arm-emulation.sh first, and
ensure_arm_root() builds the root if it is missing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.verify import arm
from zoo.verify.arm import ArmEmulationError, ensure_arm_root, run_both, run_ncnn_on_arm, verify_arm

pytestmark = pytest.mark.slow

FP16_OFF = {"use_fp16_storage": False, "use_fp16_packed": False, "use_fp16_arithmetic": False}


@pytest.fixture(scope="module")
def root() -> Path:
    reason = arm.emulation_unsupported_reason()
    if reason:
        pytest.skip(reason)
    return ensure_arm_root()


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small classifier CNN (conv-bn-relu blocks, pooling, linear) exported in fp32."""
    torch = pytest.importorskip("torch")
    pnnx = pytest.importorskip("pnnx")
    from torch import nn

    torch.manual_seed(0)

    class SmallCNN(nn.Module):
        # Named attributes, not nested Sequentials: pnnx writes a Python module with these names.
        def __init__(self) -> None:
            super().__init__()
            widths = [(3, 16, 2), (16, 32, 2), (32, 32, 1), (32, 64, 2)]
            self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, s, 1, bias=False) for i, o, s in widths)
            self.bns = nn.ModuleList(nn.BatchNorm2d(o) for _, o, _ in widths)
            self.fc = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
            for conv, bn in zip(self.convs, self.bns, strict=True):
                x = torch.relu(bn(conv(x)))
            return self.fc(x.mean(dim=(2, 3)))

    model = SmallCNN()
    for module in model.modules():  # non-trivial BN statistics, so outputs depend on the input
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    model.eval()
    out = tmp_path_factory.mktemp("small_cnn")
    # fp16=False: pnnx stores fp16 weights in the .bin by default; this model is fp32 throughout.
    pnnx.export(model, str(out / "m.pt"), (torch.rand(1, 3, 64, 64),), fp16=False)
    param, bin_path = out / "m.ncnn.param", out / "m.ncnn.bin"
    assert param.is_file() and bin_path.is_file()
    return param, bin_path


def _inputs(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"in0": rng.standard_normal((1, 3, 64, 64), dtype=np.float32)} for _ in range(n)]


def _same_argmax(x86: list[dict[str, np.ndarray]], arm: list[dict[str, np.ndarray]]) -> bool:
    """This small CNN is a 10-way classifier: its top class agrees on both sides."""
    return all(int(np.argmax(a["out0"])) == int(np.argmax(b["out0"])) for a, b in zip(x86, arm, strict=True))


def test_fp32_with_fp16_off_matches_x86(root: Path, small_cnn: tuple[Path, Path]) -> None:
    x86, arm, parity = run_both(*small_cnn, _inputs(4), options=FP16_OFF)
    assert parity.max_abs_diff < 1e-4, parity
    assert parity.cosine > 0.999999 and _same_argmax(x86, arm)
    assert parity.n_inputs == 4 and parity.outputs == ["out0"]
    assert parity.arm_cpu_features["arm_asimdhp"]  # cortex-a76 has fp16 arithmetic...
    assert not parity.effective_options["use_fp16_arithmetic"]  # ...and it was turned off


def test_ncnn_defaults_take_the_fp16_path(root: Path, small_cnn: tuple[Path, Path]) -> None:
    parity = verify_arm(*small_cnn, _inputs(4), options=None)
    assert parity.options is None
    assert (
        parity.effective_options["use_fp16_arithmetic"]
        and parity.effective_options["use_fp16_storage"]
    )
    assert not parity.bit_exact and parity.max_abs_diff > 1e-5, parity  # fp16 shows...
    assert parity.cosine > 0.999, parity  # ...but stays close


def test_cortex_a72_has_no_fp16_arithmetic(root: Path, small_cnn: tuple[Path, Path]) -> None:
    parity = verify_arm(*small_cnn, _inputs(1), options=FP16_OFF, cpu="cortex-a72")
    assert parity.cpu == "cortex-a72" and not parity.arm_cpu_features["arm_asimdhp"]
    assert parity.max_abs_diff < 1e-4


def test_single_input_keeps_batch_dim(root: Path, small_cnn: tuple[Path, Path]) -> None:
    out = run_ncnn_on_arm(*small_cnn, _inputs(1)[0], options=FP16_OFF)
    assert list(out) == ["out0"] and out["out0"].shape == (1, 10)


def test_worker_failure_is_one_line(root: Path, tmp_path: Path) -> None:
    param = tmp_path / "conv.param"
    param.write_text(
        "7767517\n2 2\nInput in0 0 1 in0\nConvolution conv 1 1 in0 out0 0=4 1=3 5=1 6=108\n"
    )
    (tmp_path / "conv.bin").write_bytes(b"\0" * 16)  # far too short for 108 weights + 4 biases
    with pytest.raises(ArmEmulationError, match="could not load") as err:
        run_ncnn_on_arm(param, tmp_path / "conv.bin", {"in0": np.zeros((1, 3, 8, 8), np.float32)})
    assert "\n" not in str(err.value)


def test_int8_matches_x86_with_fp16_off(
    root: Path, small_cnn: tuple[Path, Path], tmp_path: Path
) -> None:
    """The int8 NEON kernels (asimddp on cortex-a76) against x86's, on a model zoo quantized."""
    from zoo.convert.int8 import quantize_ncnn

    param, bin_path = tmp_path / "m.int8.param", tmp_path / "m.int8.bin"
    quantize_ncnn(*small_cnn, _inputs(4, seed=1), param, bin_path, method="minmax")
    x86, arm, parity = run_both(param, bin_path, _inputs(4), options={**FP16_OFF, "use_int8_inference": True})
    assert parity.max_abs_diff < 1e-4 and _same_argmax(x86, arm), parity
