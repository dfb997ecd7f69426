"""Run mmpose's own RTMPose-s top-down inference on an image and save what it computes.

Used by test_upstream.py; runs under a Python where mmpose 1.3 imports (torch 2.14.1 +
torchvision 0.29.1 + mmengine + mmcv-lite 2.1 + mmdet 3.3 + xtcocotools; not beside torch 2.13):

    python upstream_reference.py IMAGE.npy BOXES.npy OUT_DIR [--flip-test]

Such a Python, made here in about 3 minutes (mmcv-lite has no compiled ops; xtcocotools must be
built against the venv's numpy 2):

    python3 -m venv /tmp/pose-upstream && P=/tmp/pose-upstream/bin/pip
    $P install torch==2.14.1 torchvision==0.29.1
    $P install --no-deps mmpose==1.3.2 mmengine==0.10.7 mmcv-lite==2.1.0 mmdet==3.3.0
    $P install addict yapf termcolor rich pyyaml opencv-python-headless scipy json_tricks munkres \
        matplotlib packaging six terminaltables shapely pycocotools tqdm setuptools wheel cython
    $P install --no-deps --no-build-isolation --no-binary xtcocotools xtcocotools

IMAGE.npy is an RGB uint8 image, BOXES.npy person boxes (N, 4) xyxy. Writes OUT_DIR/checkpoint.pth
(an mmpose-format checkpoint of random weights: {"state_dict", "meta"} with mmpose's COCO
dataset_meta, numpy arrays included, saved as mmpose's publish_model saves) and
OUT_DIR/reference.npz: the network input mmpose built for each box (``inputs``), the SimCC
outputs (``simcc_x``, ``simcc_y``), and the final keypoints and scores in image pixels.

mmcv-lite has no compiled ops, and ``mmpose.models`` / ``mmpose.models.heads`` import heads that
need them (EDPose, RTMO). Those two package ``__init__`` files are skipped: the packages are put
in ``sys.modules`` bare and the modules RTMPose uses are imported from mmpose's own files. The
code under test (CSPNeXt from mmdet as the config names it, RTMCCHead, RTMCCBlock, ScaleNorm,
ConvModule, TopdownAffine, SimCCLabel, TopdownPoseEstimator) is upstream's, unchanged.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np


def _bare_package(name: str) -> None:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations is not None, name
    mod = types.ModuleType(name)
    mod.__path__ = list(spec.submodule_search_locations)
    mod.__spec__ = spec
    mod.__package__ = name
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, mod)


def _import_upstream() -> None:
    for name in ("mmpose.models", "mmpose.models.heads", "mmdet.models", "mmdet.models.backbones",
                 "mmdet.models.layers", "mmpose.apis"):
        _bare_package(name)
    # mmdet's cspnext.py does `from ..layers import CSPLayer`: give the bare package that name
    csp_layer = importlib.import_module("mmdet.models.layers.csp_layer")
    sys.modules["mmdet.models.layers"].CSPLayer = csp_layer.CSPLayer  # type: ignore[attr-defined]
    for module in ("mmpose.models.backbones", "mmpose.models.heads.coord_cls_heads.rtmcc_head",
                   "mmpose.models.pose_estimators.topdown", "mmpose.models.data_preprocessors",
                   "mmpose.models.losses", "mmpose.codecs", "mmpose.datasets.transforms",
                   "mmdet.models.backbones.cspnext", "mmpose.apis.inference"):
        importlib.import_module(module)


def rtmpose_s_config(flip_test: bool) -> dict:
    """configs/body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py (model + test
    pipeline), without the pretrained-backbone init_cfg (no download here)."""
    codec = dict(type="SimCCLabel", input_size=(192, 256), sigma=(4.9, 5.66), simcc_split_ratio=2.0,
                 normalize=False, use_dark=False)
    model = dict(
        type="TopdownPoseEstimator",
        data_preprocessor=dict(type="PoseDataPreprocessor", mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(_scope_="mmdet", type="CSPNeXt", arch="P5", expand_ratio=0.5, deepen_factor=0.33,
                      widen_factor=0.5, out_indices=(4,), channel_attention=True, norm_cfg=dict(type="SyncBN"),
                      act_cfg=dict(type="SiLU")),
        head=dict(type="RTMCCHead", in_channels=512, out_channels=17, input_size=codec["input_size"],
                  in_featuremap_size=tuple(s // 32 for s in codec["input_size"]),
                  simcc_split_ratio=codec["simcc_split_ratio"], final_layer_kernel_size=7,
                  gau_cfg=dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0.0, drop_path=0.0,
                               act_fn="SiLU", use_rel_bias=False, pos_enc=False),
                  loss=dict(type="KLDiscretLoss", use_target_weight=True, beta=10.0, label_softmax=True),
                  decoder=codec),
        test_cfg=dict(flip_test=flip_test),
    )
    pipeline = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
                dict(type="TopdownAffine", input_size=codec["input_size"]), dict(type="PackPoseInputs")]
    return dict(model=model, test_dataloader=dict(dataset=dict(pipeline=pipeline)))


def randomize(model: torch.nn.Module) -> None:  # noqa: F821
    """Input-dependent random weights; BN statistics from the model's own activations on a batch."""
    import torch

    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / p[0].numel()) ** 0.5)
            elif p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * p.shape[1] ** -0.5)
            else:
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.5)


def main(image_file: Path, boxes_file: Path, out: Path, flip_test: bool) -> None:
    import torch
    from mmengine.config import Config
    from mmengine.runner.checkpoint import save_checkpoint

    _import_upstream()
    from mmengine.registry import init_default_scope
    from mmpose.apis.inference import inference_topdown
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.models.builder import build_pose_estimator

    init_default_scope("mmpose")  # modules registered by the imports above (register_all_modules
    # would import every mmpose package, ops included)
    torch.manual_seed(0)
    cfg = Config(rtmpose_s_config(flip_test))
    model = build_pose_estimator(cfg.model)
    model.cfg = cfg
    model.dataset_meta = parse_pose_metainfo(dict(from_file="configs/_base_/datasets/coco.py"))
    randomize(model)
    model.eval()
    # BN statistics from the activations of a smooth random batch (as zoo's randomize does)
    def calibrate(bn: torch.nn.Module, args: tuple) -> None:
        bn.running_mean.copy_(args[0].mean((0, 2, 3)))
        bn.running_var.copy_(args[0].var((0, 2, 3), unbiased=False))

    hooks = [m.register_forward_pre_hook(calibrate) for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        gen = torch.Generator().manual_seed(2)
        coarse = torch.randn((4, 3, 16, 12), generator=gen)
        model.backbone(torch.nn.functional.interpolate(coarse, size=(256, 192), mode="bilinear") * 1.0)
    for h in hooks:
        h.remove()

    checkpoint = {"state_dict": model.state_dict(),
                  "meta": {"dataset_meta": model.dataset_meta, "mmengine_version": "0.10.7",
                           "cfg": cfg.pretty_text, "seed": 21, "time": "20230127_000000"}}
    save_checkpoint(checkpoint, str(out / "checkpoint.pth"))  # torch.save, as publish_model writes
    torch.save(checkpoint, out / "checkpoint-legacy.pth", _use_new_zipfile_serialization=False)

    inputs: list[torch.Tensor] = []
    outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
    model.backbone.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach().clone()))
    head_forward = model.head.forward  # RTMCCHead.predict calls self.forward, not __call__: no hook

    def recording_forward(feats: tuple) -> tuple:
        out = head_forward(feats)
        outputs.append((out[0].detach().clone(), out[1].detach().clone()))
        return out

    model.head.forward = recording_forward

    rgb = np.load(image_file)
    boxes = np.load(boxes_file).astype(np.float32)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # what cv2.imread gives mmpose
    results = inference_topdown(model, bgr, boxes, bbox_format="xyxy")
    keypoints = np.stack([r.pred_instances.keypoints[0] for r in results])
    scores = np.stack([r.pred_instances.keypoint_scores[0] for r in results])
    np.savez(out / "reference.npz", inputs=torch.cat(inputs[:1]).numpy(),
             simcc_x=outputs[0][0].numpy(), simcc_y=outputs[0][1].numpy(),
             keypoints=keypoints, scores=scores,
             params=sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), "--flip-test" in sys.argv[4:])
