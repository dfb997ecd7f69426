"""Fast tests of zoo.verify.arm: comparison math, option and input checks, root caching. No qemu."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.errors import InputError, ZooError
from zoo.runtimes.ncnn import driver
from zoo.runtimes.ncnn.session import check_options
from zoo.verify import arm
from zoo.verify.arm import ArmEmulationError, ArmParity, compare_outputs

RELU_PARAM = "7767517\n2 2\nInput in0 0 1 in0\nReLU relu 1 1 in0 out0\n"


def _relu_model(tmp_path: Path) -> tuple[Path, Path]:
    param, bin_path = tmp_path / "relu.param", tmp_path / "relu.bin"
    param.write_text(RELU_PARAM)
    bin_path.write_bytes(b"")
    return param, bin_path


def test_identical_outputs_are_bit_exact() -> None:
    out = {"out0": np.array([[0.1, 0.7, 0.2]], dtype=np.float32)}
    parity = compare_outputs(out, {"out0": out["out0"].copy()}, ncnn_version="test")
    assert parity.bit_exact
    assert parity.max_abs_diff == 0.0 and parity.mean_abs_diff == 0.0
    assert parity.cosine == pytest.approx(1.0)
    assert parity.agreement == {}  # task agreement is the verify flow's, from the task's own post-processing
    assert parity.n_inputs == 1 and parity.outputs == ["out0"]
    assert parity.options is None and parity.cpu == "cortex-a76"


def test_differences_over_inputs() -> None:
    x86 = [{"out0": np.array([[1.0, 2.0, 3.0]])}, {"out0": np.array([[3.0, 2.0, 1.0]])}]
    arm_out = [{"out0": np.array([[1.0, 2.0, 3.5]])}, {"out0": np.array([[3.0, 3.25, 1.0]])}]
    parity = compare_outputs(x86, arm_out, ncnn_version="test", options={"use_fp16_storage": False})
    assert parity.max_abs_diff == pytest.approx(1.25)
    assert parity.mean_abs_diff == pytest.approx((0.5 + 1.25) / 6)
    assert parity.max_ref_abs == 3.0
    assert not parity.bit_exact
    expected = np.dot([3, 2, 1], [3, 3.25, 1]) / (
        np.linalg.norm([3, 2, 1]) * np.linalg.norm([3, 3.25, 1])
    )
    assert parity.cosine == pytest.approx(expected)  # the worst pair
    assert parity.options == {"use_fp16_storage": False}


def test_zero_outputs_compare_as_equal() -> None:
    z = {"out0": np.zeros((1, 5), dtype=np.float32)}
    assert compare_outputs(z, z, ncnn_version="test").cosine == 1.0
    assert compare_outputs(z, {"out0": np.ones((1, 5))}, ncnn_version="test").cosine == 0.0


def test_nan_is_not_hidden() -> None:
    a = {"out0": np.array([[1.0, 2.0]])}
    b = {"out0": np.array([[1.0, np.nan]])}
    parity = compare_outputs(a, b, ncnn_version="test")
    assert np.isnan(parity.max_abs_diff) and not parity.bit_exact


@pytest.mark.parametrize(
    ("x86", "arm_out", "message"),
    [
        ({"out0": np.zeros((1, 3))}, {"out0": np.zeros((1, 4))}, "shape"),
        ({"out0": np.zeros((1, 3))}, {"out1": np.zeros((1, 3))}, "outputs"),
        ([{"out0": np.zeros((1, 3))}], [], "cannot compare"),
    ],
)
def test_mismatched_results_are_errors(x86: object, arm_out: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compare_outputs(x86, arm_out, ncnn_version="test")  # type: ignore[arg-type]


def test_parity_is_frozen_and_strict() -> None:
    parity = compare_outputs({"o": np.zeros((1, 2))}, {"o": np.zeros((1, 2))}, ncnn_version="t")
    with pytest.raises(ValueError):
        parity.cpu = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        ArmParity.model_validate({**parity.model_dump(), "surprise": 1})
    assert ArmParity.model_validate_json(parity.model_dump_json()) == parity


def test_options_are_checked_against_ncnn_option() -> None:
    assert check_options(None) is None
    flags: dict[str, bool] = {"use_fp16_storage": False, "use_int8_inference": np.bool_(True)}  # type: ignore[dict-item]
    assert check_options(flags) == {"use_fp16_storage": False, "use_int8_inference": True}
    with pytest.raises(
        InputError, match="unknown ncnn.Option flag 'use_fp17_storage'.*use_fp16_storage"
    ):
        check_options({"use_fp17_storage": False})
    with pytest.raises(InputError, match="must be true or false"):
        check_options({"use_fp16_storage": 0})  # type: ignore[dict-item]
    with pytest.raises(InputError, match="unknown"):
        check_options({"num_threads": True})


def test_param_blobs(tmp_path: Path) -> None:
    param = tmp_path / "two.param"
    param.write_text(
        "7767517\n5 6\n"
        "Input in0 0 1 in0\n"
        "Input in1 0 1 in1\n"
        "BinaryOp add 2 1 in0 in1 2 0=0\n"
        "Split split 1 2 2 3 out1\n"
        "ReLU relu 1 1 3 out0\n"
    )
    assert arm.parse_param_blobs(param) == (["in0", "in1"], ["out1", "out0"])
    bad = tmp_path / "bad.param"
    bad.write_text("hello\n")
    with pytest.raises(InputError, match="7767517"):
        arm.parse_param_blobs(bad)


def test_inputs_are_checked(tmp_path: Path) -> None:
    param, _ = _relu_model(tmp_path)
    with pytest.raises(InputError, match="no input blob 'data'"):
        arm._check_inputs(param, [{"data": np.zeros((1, 3, 4, 4))}])
    with pytest.raises(InputError, match="batch 1"):
        arm._check_inputs(param, [{"in0": np.zeros((2, 3, 4, 4))}])
    with pytest.raises(InputError, match="no inputs"):
        arm._check_inputs(param, [])


def test_batch_dim_is_dropped_for_ncnn_and_restored(tmp_path: Path) -> None:
    x = np.linspace(-1, 1, 2 * 3 * 4, dtype=np.float64).reshape(1, 2, 3, 4)
    assert driver.to_ncnn_array(x).shape == (2, 3, 4)
    assert driver.to_ncnn_array(x).dtype == np.float32
    param, bin_path = _relu_model(tmp_path)
    (out,) = arm.run_ncnn_on_x86(param, bin_path, [{"in0": x}])
    assert list(out) == ["out0"]
    np.testing.assert_array_equal(out["out0"], np.maximum(x, 0).astype(np.float32))


def test_missing_qemu_names_the_setup_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arm, "emulation_unsupported_reason", lambda: None)
    monkeypatch.setattr(arm.shutil, "which", lambda name: None)
    with pytest.raises(ArmEmulationError, match="scripts/setup-arm-emulation.sh") as err:
        arm.find_qemu()
    assert isinstance(err.value, ZooError) and "\n" not in str(err.value)


def test_unsupported_platform_has_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arm.sys, "platform", "darwin")
    assert "Linux" in (arm.emulation_unsupported_reason() or "")


def test_not_a_root(tmp_path: Path) -> None:
    with pytest.raises(ArmEmulationError, match="not a finished ARM root"):
        arm.ArmRoot.open(tmp_path)


def test_cached_root_is_returned_without_rebuilding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = arm._ncnn_version()
    target = tmp_path / "arm64-root" / version
    target.mkdir(parents=True)
    (target / "zoo-arm-root.json").write_text(
        f'{{"ncnn_version": "{version}", "numpy_version": "2", "python_version": "3.11.2"}}'
    )

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt a cached root")

    monkeypatch.setattr(arm, "_build_root", never)
    assert arm.ensure_arm_root(tmp_path) == target
    monkeypatch.setenv("ZOO_ARM_CACHE", str(tmp_path))
    assert arm.ensure_arm_root() == target
    # $ZOO_CACHE (a per-test folder in the suite) does not move the machine-wide root
    monkeypatch.delenv("ZOO_ARM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    assert arm._zoo_cache_dir() == tmp_path / "xdg" / "zoo"
    assert arm.ArmRoot.open(target).path == target


def test_failed_build_leaves_no_half_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(tmp: Path, version: str) -> None:
        (tmp / "usr").mkdir()
        raise ArmEmulationError("apt-get download failed")

    monkeypatch.setattr(arm, "find_qemu", lambda: Path("/usr/bin/true"))
    monkeypatch.setattr(arm, "_build_root", fail)
    with pytest.raises(ArmEmulationError, match="apt-get"):
        arm.ensure_arm_root(tmp_path)
    assert list((tmp_path / "arm64-root").iterdir()) == []


def test_guest_env_sets_the_cpu_and_drops_host_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/host/site-packages")
    monkeypatch.setenv("QEMU_LD_PREFIX", "/elsewhere")
    env = arm._guest_env("cortex-a72", 2)
    assert env["QEMU_CPU"] == "cortex-a72" and env["OMP_NUM_THREADS"] == "2"
    assert "PYTHONPATH" not in env and "QEMU_LD_PREFIX" not in env
