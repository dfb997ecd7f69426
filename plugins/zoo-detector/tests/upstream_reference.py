"""Run the upstream implementations on an input and save what they compute (used by test_upstream.py).

Runs under a Python where ultralytics and torchvision import (not beside torch 2.13; FACTS.md):
    python upstream_reference.py {yolov8n|yolov8n-pose|fcos} INPUT.npy OUT_DIR
    python upstream_reference.py yolov8n-seg INPUT.npy OUT_DIR PHOTO
Writes OUT_DIR/checkpoint.pt in the upstream's own format (Ultralytics: YOLO.save, a pickle of the
whole model; torchvision: a state dict) and OUT_DIR/reference.npz with the raw head, the threshold
used and the upstream's final detections (x1, y1, x2, y2, score, class) in input pixels. For
yolov8n-seg also the prototypes, and Ultralytics' own ``predict`` on PHOTO (rectangular letterbox, as
it runs a PyTorch model; ``retina_masks``: masks in photo pixels): boxes, scores, classes, masks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch


def randomize(model: torch.nn.Module) -> None:
    """Input-dependent random weights (FACTS: Ultralytics' random init gives near-constant outputs)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.weight.requires_grad:
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / m.weight[0].numel()) ** 0.5)
            if hasattr(m, "running_var") and m.running_var is not None:
                n = m.running_var.numel()
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def yolov8n(x: torch.Tensor, out: Path) -> None:
    from ultralytics import YOLO

    try:
        from ultralytics.utils.nms import non_max_suppression
    except ImportError:  # ultralytics < 8.3.x
        from ultralytics.utils.ops import non_max_suppression

    yolo = YOLO("yolov8n.yaml")
    randomize(yolo.model)
    yolo.save(str(out / "checkpoint.pt"))  # Ultralytics' own format: half-precision pickled model
    model = YOLO(str(out / "checkpoint.pt")).model.float().eval()
    with torch.no_grad():
        y, preds = model(x)
    raw = torch.cat((preds["boxes"], preds["scores"]), 1)
    conf = float(y[0, 4:].amax(0).sort(descending=True).values[300])  # ~300 candidates into NMS
    det = non_max_suppression(y, conf, 0.45, max_det=300, max_time_img=100.0)[0]
    np.savez(out / "reference.npz", raw=raw.numpy(), decoded=y.numpy(), conf=conf, iou=0.45, det=det.numpy(),
             params=sum(p.numel() for p in model.parameters()))


def _shift_class_bias(model: torch.nn.Module, x: torch.Tensor, top_k: int = 150, score: float = 0.5) -> None:
    """Shift the class-logit biases so about ``top_k`` anchor-class scores on ``x`` reach ``score``:
    Ultralytics' prior keeps a random model's scores near 1e-4 (all ties), a trained one finds objects."""
    import math

    head = model.model[-1]
    with torch.no_grad():
        y = model(x)[0][0]
        nc = head.nc
        kth = float(y[0, 4 : 4 + nc].flatten().topk(top_k).values[-1].clamp(1e-12, 1 - 1e-6))
        delta = math.log(score / (1 - score)) - math.log(kth / (1 - kth))
        for branch in head.cv3:
            branch[-1].bias += delta


def yolov8n_seg(x: torch.Tensor, out: Path, photo: str) -> None:
    import cv2
    from ultralytics import YOLO
    from ultralytics.data.augment import LetterBox

    torch.manual_seed(0)  # the heads' last biases keep torch's random init
    yolo = YOLO("yolov8n-seg.yaml")
    randomize(yolo.model)
    net = yolo.model.float().eval()
    bgr = cv2.imread(photo)
    lb = LetterBox((640, 640), auto=True, stride=32)(image=bgr)  # what predict feeds a PyTorch model
    rgb = torch.from_numpy(lb[..., ::-1].transpose(2, 0, 1).copy()).float()[None] / 255
    _shift_class_bias(net, rgb)
    yolo.save(str(out / "checkpoint.pt"))
    model = YOLO(str(out / "checkpoint.pt"))
    net = model.model.float().eval()
    with torch.no_grad():
        (y, proto), preds = net(x)
    raw = torch.cat((preds["boxes"], preds["scores"], preds["mask_coefficient"]), 1)
    conf, iou = 0.25, 0.45
    # Ultralytics' own mask maths on this input's outputs, for a photo of ORIG pixels letterboxed into x
    try:
        from ultralytics.utils.nms import non_max_suppression
    except ImportError:  # ultralytics < 8.3.x
        from ultralytics.utils.ops import non_max_suppression
    from ultralytics.utils import ops

    orig = (300, 451)
    det = non_max_suppression(y, conf, iou, max_det=300, nc=net.model[-1].nc, max_time_img=100.0)[0]
    boxes_orig = ops.scale_boxes(x.shape[2:], det[:, :4].clone(), orig)
    native = ops.process_mask_native(proto[0], det[:, 6:], boxes_orig, orig)
    res = model.predict(photo, imgsz=640, conf=conf, iou=iou, retina_masks=True, verbose=False)[0]
    masks = res.masks.data.numpy().astype(bool) if res.masks is not None else np.zeros((0, *bgr.shape[:2]), bool)
    np.savez_compressed(
        out / "reference.npz", raw=raw.numpy(), proto=proto.numpy(), conf=conf, iou=iou,
        boxes=res.boxes.xyxy.numpy(), scores=res.boxes.conf.numpy(), classes=res.boxes.cls.numpy().astype(np.int64),
        masks=masks, letterbox_shape=np.asarray(lb.shape[:2]), params=sum(p.numel() for p in net.parameters()),
        keys=np.asarray(list(net.state_dict())), x_det=det[:, :6].numpy(), x_boxes_orig=boxes_orig.numpy(),
        x_coefficients=det[:, 6:].numpy(), x_native_masks=native.numpy().astype(bool), x_orig=np.asarray(orig),
    )  # fmt: skip


def yolov8n_pose(x: torch.Tensor, out: Path) -> None:
    from ultralytics import YOLO

    try:
        from ultralytics.utils.nms import non_max_suppression
    except ImportError:  # ultralytics < 8.3.x
        from ultralytics.utils.ops import non_max_suppression

    yolo = YOLO("yolov8n-pose.yaml")
    randomize(yolo.model)
    yolo.save(str(out / "checkpoint.pt"))
    model = YOLO(str(out / "checkpoint.pt")).model.float().eval()
    with torch.no_grad():
        y, preds = model(x)
    raw = torch.cat((preds["boxes"], preds["scores"], preds["kpts"]), 1)
    conf = float(y[0, 4].sort(descending=True).values[300])  # ~300 candidates into NMS
    # as PosePredictor.postprocess: one class, the 51 keypoint values carried along each box
    det = non_max_suppression(y, conf, 0.7, max_det=300, nc=1, max_time_img=100.0)[0]
    np.savez(out / "reference.npz", raw=raw.numpy(), decoded=y.numpy(), conf=conf, iou=0.7, det=det.numpy(),
             params=sum(p.numel() for p in model.parameters()), kpt_shape=np.array(model.kpt_shape))


def fcos(x: torch.Tensor, out: Path) -> None:
    from torchvision.models import resnet50
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.image_list import ImageList
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    from torchvision.ops.misc import FrozenBatchNorm2d

    # fcos_resnet50_fpn as built for its published COCO weights (frozen BN, P6/P7 from P5)
    body = resnet50(norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    model = FCOS(backbone, num_classes=91).eval()
    randomize(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                m.weight.uniform_(0.5, 1.0)
    torch.save(model.state_dict(), out / "checkpoint.pt")
    with torch.no_grad():
        feats = list(model.backbone(x).values())
        head = model.head(feats)
        scores = torch.sqrt(torch.sigmoid(head["cls_logits"]) * torch.sigmoid(head["bbox_ctrness"])).flatten()
        model.score_thresh = float(scores.sort(descending=True).values[200])
        images = ImageList(x, [tuple(x.shape[-2:])])
        anchors = model.anchor_generator(images, feats)
        sizes = [f.shape[-2] * f.shape[-1] for f in feats]
        split_head = {k: list(v.split(sizes, dim=1)) for k, v in head.items()}
        split_anchors = [list(a.split(sizes)) for a in anchors]
        det = model.postprocess_detections(split_head, split_anchors, images.image_sizes)[0]
    raw = torch.cat((head["bbox_regression"], head["bbox_ctrness"], head["cls_logits"]), 2).permute(0, 2, 1)
    dets = torch.cat((det["boxes"], det["scores"][:, None], det["labels"][:, None].float()), 1)
    np.savez(out / "reference.npz", raw=raw.numpy(), conf=model.score_thresh, iou=model.nms_thresh, det=dets.numpy(),
             max_det=model.detections_per_img, params=sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    which, src, dst = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if which == "yolov8n-seg":
        yolov8n_seg(torch.from_numpy(np.load(src)), dst, sys.argv[4])
    else:
        {"yolov8n": yolov8n, "yolov8n-pose": yolov8n_pose, "fcos": fcos}[which](torch.from_numpy(np.load(src)), dst)
