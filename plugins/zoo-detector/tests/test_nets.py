"""Network definitions and checkpoint loading: key layouts, sizes, strictness, safe unpickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from zoo.checkpoints import Inert, read_checkpoint  # noqa: E402
from zoo.errors import CheckpointError  # noqa: E402
from zoo_detector import plugin  # noqa: E402
from zoo_detector.decode import make_grid  # noqa: E402
from zoo_detector.loaders import load_ultralytics  # noqa: E402
from zoo_detector.nets.common import count_params  # noqa: E402
from zoo_detector.nets.fcos import fcos_resnet50_fpn, upgrade_fpn_keys  # noqa: E402
from zoo_detector.nets.yolov8 import yolov8n  # noqa: E402
from zoo_detector.nets.yolox import space_to_depth, space_to_depth_reference, yolox_s  # noqa: E402

SPECS = {"yolov8n": plugin._yolov8n(), "yolox-s": plugin._yolox_s(), "fcos": plugin._fcos()}


def _build(name: str) -> torch.nn.Module:
    """A random build the way the core makes one: seeded (torch, numpy, random), then the plugin."""
    from zoo.registry import seed_everything

    seed_everything(0)
    return plugin.build_model(spec=SPECS[name], weights=None)


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    return {name: _build(name) for name in SPECS}


def test_upstream_key_layouts_and_param_counts(models: dict[str, torch.nn.Module]) -> None:
    v8, yx, fc = (models[k].state_dict() for k in ("yolov8n", "yolox-s", "fcos"))
    assert list(v8)[0] == "model.0.conv.weight" and list(v8)[-1] == "model.22.dfl.conv.weight"
    assert "model.22.cv3.2.2.bias" in v8 and "model.2.m.0.cv1.bn.num_batches_tracked" in v8
    assert list(yx)[0] == "backbone.backbone.stem.conv.conv.weight" and yx[list(yx)[0]].shape == (32, 12, 3, 3)
    assert {"head.stems.0.conv.weight", "head.obj_preds.2.bias", "backbone.C3_n4.m.0.conv2.bn.running_var"} <= set(yx)
    assert {"backbone.body.layer4.2.bn3.running_var", "backbone.fpn.inner_blocks.0.0.weight",
            "backbone.fpn.extra_blocks.p7.bias", "head.classification_head.conv.10.weight",
            "head.regression_head.bbox_ctrness.bias"} <= set(fc)
    assert not any("num_batches_tracked" in k for k in fc)  # frozen BN, as torchvision saves it
    # Ultralytics: 3,157,200; Megvii YOLOX-S: 8.97 M; torchvision FCOS_ResNet50_FPN meta: 32,269,600
    assert [count_params(models[k]) for k in ("yolov8n", "yolox-s", "fcos")] == [3_157_200, 8_968_255, 32_269_600]


@pytest.mark.parametrize("name", list(SPECS))
def test_raw_head_shapes_follow_the_grid(models: dict[str, torch.nn.Module], name: str) -> None:
    spec = SPECS[name]
    with torch.no_grad():
        out = models[name](torch.rand(1, 3, 128, 192))
    strides = tuple(spec.post.params["strides"])
    assert out.shape == (1, spec.component.outputs[0].shape[1], len(make_grid((128, 192), strides, 0.0).points))
    assert spec.component.outputs[0].shape[2] == len(make_grid(spec.pre.size, strides, 0.0).points)


def test_random_weights_are_deterministic_and_input_dependent(models: dict[str, torch.nn.Module]) -> None:
    again = _build("yolox-s")
    for a, b in zip(models["yolox-s"].state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    gen = torch.Generator().manual_seed(1)
    x1, x2 = torch.rand(1, 3, 64, 64, generator=gen), torch.rand(1, 3, 64, 64, generator=gen)
    with torch.no_grad():
        for name, model in models.items():
            scale = 255.0 if name == "yolox-s" else 1.0  # YOLOX takes 0..255 pixels
            assert (model(x1 * scale) - model(x2 * scale)).abs().max() > 1e-3


def test_focus_matches_megvii_slicing() -> None:
    x = torch.rand(2, 3, 10, 14)
    assert torch.equal(space_to_depth(x, torch.nn.ChannelShuffle(3)), space_to_depth_reference(x))


def test_wrong_checkpoint_is_refused_naming_keys(tmp_path: Path) -> None:
    path = tmp_path / "yolox.pth"
    torch.save({"model": yolox_s().state_dict(), "start_epoch": 300}, path)
    with pytest.raises(CheckpointError, match=r"missing \(first: model\.0\.conv\.weight.*unexpected \(first: backbone"):
        plugin.build_model(spec=SPECS["yolov8n"], weights=str(path))
    with pytest.raises(CheckpointError, match="missing"):
        plugin.build_model(spec=SPECS["fcos"], weights=str(path))
    loaded = plugin.build_model(spec=SPECS["yolox-s"], weights=str(path))  # the right model loads
    assert count_params(loaded) == 8_968_255


def test_fcos_loads_torchvision_state_dicts_of_both_fpn_vintages(tmp_path: Path) -> None:
    sd = fcos_resnet50_fpn().state_dict()
    old = {k.replace(".0.weight", ".weight").replace(".0.bias", ".bias") if ".fpn.inner_blocks." in k
           or ".fpn.layer_blocks." in k else k: v for k, v in sd.items()}
    assert "backbone.fpn.inner_blocks.0.weight" in old and upgrade_fpn_keys(old).keys() == sd.keys()
    path = tmp_path / "fcos_old.pth"
    torch.save(old, path)
    model = plugin.build_model(spec=SPECS["fcos"], weights=str(path))
    assert torch.equal(model.state_dict()["backbone.fpn.inner_blocks.2.0.weight"], sd["backbone.fpn.inner_blocks.2.0.weight"])


def test_restricted_unpickler_reads_whole_model_pickles(tmp_path: Path) -> None:
    """A checkpoint shaped like Ultralytics' (whole module objects, fp16, extra metadata)."""
    model = yolov8n().eval()
    path = tmp_path / "ckpt.pt"
    torch.save({"date": "2026-01-01", "version": "8.x", "model": model.half(), "ema": None,
                "train_args": {"imgsz": 640}, "optimizer": None}, path)
    with pytest.raises(CheckpointError, match="refused to unpickle"):
        from zoo.checkpoints import load_state_dict

        load_state_dict(path)
    obj = read_checkpoint(path, allow_objects=True)
    assert isinstance(obj["model"], Inert) and "zoo_detector.nets.yolov8" in obj["model"].origin
    state = load_ultralytics(path)
    ref = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    assert state.keys() == ref.keys() and all(v.dtype != torch.float16 for v in state.values())
    built = plugin.build_model(spec=SPECS["yolov8n"], weights=str(path))
    assert torch.equal(built.state_dict()["model.9.cv2.conv.weight"], ref["model.9.cv2.conv.weight"])


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch PWNED",))


def test_restricted_unpickler_never_runs_pickled_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"model": _Boom(), "x": torch.zeros(1)}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    obj = read_checkpoint(path, allow_objects=True)
    assert not (tmp_path / "PWNED").exists()
    assert isinstance(obj["model"], Inert) and obj["model"].origin in ("os.system", "posix.system")
    with pytest.raises(CheckpointError, match="pickled torch module"):
        load_ultralytics(path)


def test_restricted_loader_refuses_non_checkpoints(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        read_checkpoint(bad, allow_objects=True)


def test_restricted_unpickler_reads_python2_names(tmp_path: Path) -> None:
    # torch.save's default protocol 2 writes builtins as ``__builtin__.X`` (Ultralytics' modules
    # carry a ``_non_persistent_buffers_set``); those must map to the real builtins, not placeholders
    path = tmp_path / "p2.pt"
    torch.save({"s": {1, 2}, "f": frozenset({3}), "t": torch.ones(2)}, path, pickle_protocol=2)
    obj = read_checkpoint(path, allow_objects=True)
    assert obj["s"] == {1, 2} and isinstance(obj["s"], set)
    assert obj["f"] == frozenset({3}) and torch.equal(obj["t"], torch.ones(2))
