"""A float TFLite graph rebuilt as a torch module, weights read straight from the flatbuffer.

Reads the ``.tflite`` with the ``tflite`` package (the schema's generated flatbuffer readers; no
TensorFlow). Enough operators for MediaPipe's BlazePose landmark models: CONV_2D,
DEPTHWISE_CONV_2D (fused ReLU/ReLU6), ADD, PAD, MAX_POOL_2D, RESIZE_BILINEAR, RESHAPE, LOGISTIC, and
DEQUANTIZE of fp16 constants (folded into fp32 weights at load). Any other operator, a quantised
tensor or a second subgraph is refused with one line naming it.

Layout: activations run NCHW (what pnnx and ncnn expect); convolution weights are transposed from
TFLite's OHWI / 1HWC; TF 'SAME' padding becomes an explicit asymmetric ``F.pad`` (TF pads the
extra pixel bottom/right); RESHAPE flattens in NHWC order, as TFLite does. Tested against the
LiteRT interpreter on the real BlazePose-lite weights (tests/test_blazepose.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import CheckpointError

_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}  # TFLite ActivationFunctionType: NONE, RELU, RELU6


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of one axis: the output is ceil(size / stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Step:
    kind: str
    inputs: tuple[int, ...]
    output: int
    args: tuple[Any, ...] = ()


def _activate(x: torch.Tensor, name: str | None) -> torch.Tensor:
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return F.relu6(x)
    return x


class TFLiteGraph(nn.Module):
    """The graph's first subgraph; ``forward(x NCHW)`` returns the outputs named in ``outputs``
    (graph output positions; all by default), 4-D ones NCHW."""

    def __init__(self, model: bytes, source: str = "tflite model", outputs: tuple[int, ...] | None = None) -> None:
        super().__init__()
        import tflite

        try:
            m = tflite.Model.GetRootAsModel(model, 0)
            if m.SubgraphsLength() != 1:
                raise CheckpointError(f"{source}: {m.SubgraphsLength()} subgraphs; zoo rebuilds single-graph models")
            g = m.Subgraphs(0)
        except CheckpointError:
            raise
        except Exception as err:  # a flatbuffer that is not a TFLite model fails anywhere in the reader
            raise CheckpointError(f"{source}: not a readable TFLite model ({type(err).__name__}: {err})") from err
        ops = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        dtypes = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
                  tflite.TensorType.INT32: np.int32}
        shapes: dict[int, tuple[int, ...]] = {}
        consts: dict[int, np.ndarray] = {}
        for i in range(g.TensorsLength()):
            t = g.Tensors(i)
            shapes[i] = tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            if t.Type() not in dtypes:
                raise CheckpointError(f"{source}: tensor {t.Name().decode()!r} has TFLite type {t.Type()}; "
                                      "zoo rebuilds float models only (fp32, fp16 weights)")
            buf = m.Buffers(t.Buffer())
            if buf is not None and buf.DataLength():
                consts[i] = np.frombuffer(buf.DataAsNumpy().tobytes(), dtypes[t.Type()]).reshape(shapes[i])
        self.input_id = g.Inputs(0)
        graph_outputs = [g.Outputs(i) for i in range(g.OutputsLength())]
        self.output_ids = tuple(graph_outputs[i] for i in (outputs or range(len(graph_outputs))))
        self.input_shape = shapes[self.input_id]  # NHWC
        self.convs = nn.ModuleDict()
        steps: list[Step] = []
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = m.OperatorCodes(op.OpcodeIndex())
            name = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
            ins = tuple(op.Inputs(j) for j in range(op.InputsLength()))
            out = op.Outputs(0)
            opt = op.BuiltinOptions()
            if name == "DEQUANTIZE" and ins[0] in consts:
                consts[out] = consts[ins[0]].astype(np.float32)
            elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                steps.append(self._conv(k, name, ins, out, opt, shapes, consts, source))
            elif name == "ADD":
                o = tflite.AddOptions()
                o.Init(opt.Bytes, opt.Pos)
                steps.append(Step("add", ins[:2], out, (self._act(o.FusedActivationFunction(), source),)))
            elif name == "PAD":
                p = consts[ins[1]].astype(int)  # NHWC rows: (before, after)
                steps.append(Step("pad", ins[:1], out, ((p[2, 0], p[2, 1], p[1, 0], p[1, 1], p[3, 0], p[3, 1]),)))
            elif name == "RESIZE_BILINEAR":
                o = tflite.ResizeBilinearOptions()
                o.Init(opt.Bytes, opt.Pos)
                if not o.HalfPixelCenters() and not o.AlignCorners():
                    raise CheckpointError(f"{source}: RESIZE_BILINEAR without half_pixel_centers (TF1 legacy "
                                          "sampling) is not rebuilt")
                size = tuple(int(v) for v in consts[ins[1]])
                steps.append(Step("resize", ins[:1], out, (size, bool(o.AlignCorners()))))
            elif name == "MAX_POOL_2D":
                o = tflite.Pool2DOptions()
                o.Init(opt.Bytes, opt.Pos)
                _, h, w, _ = shapes[ins[0]]
                kh, kw, sh, sw = o.FilterHeight(), o.FilterWidth(), o.StrideH(), o.StrideW()
                pad = (0, 0, 0, 0)
                if o.Padding() == tflite.Padding.SAME:
                    pad = (*same_padding(w, kw, sw), *same_padding(h, kh, sh))
                steps.append(Step("maxpool", ins[:1], out, ((kh, kw), (sh, sw), pad,
                                                            self._act(o.FusedActivationFunction(), source))))
            elif name == "RESHAPE":
                steps.append(Step("reshape", ins[:1], out, (shapes[out][1:],)))
            elif name == "LOGISTIC":
                steps.append(Step("sigmoid", ins[:1], out))
            else:
                raise CheckpointError(f"{source}: TFLite operator {name} (op {k}) is not one zoo rebuilds; "
                                      "supported: CONV_2D, DEPTHWISE_CONV_2D, ADD, PAD, MAX_POOL_2D, RESIZE_BILINEAR, "
                                      "RESHAPE, LOGISTIC, DEQUANTIZE")
        # only what the requested outputs need (BlazePose's landmarks skip the segmentation head)
        needed = set(self.output_ids)
        kept: list[Step] = []
        for step in reversed(steps):
            if step.output in needed:
                kept.append(step)
                needed.update(step.inputs)
        self.steps = tuple(reversed(kept))
        for key in [k for k in self.convs if k not in {st.args[0] for st in self.steps if st.kind == "conv"}]:
            del self.convs[key]

    @staticmethod
    def _act(code: int, source: str) -> str | None:
        if code not in _ACTIVATIONS:
            raise CheckpointError(f"{source}: fused activation {code} is not rebuilt (NONE, RELU, RELU6 are)")
        return _ACTIVATIONS[code]

    def _conv(self, k: int, name: str, ins: tuple[int, ...], out: int, opt: Any, shapes: dict[int, tuple[int, ...]],
              consts: dict[int, np.ndarray], source: str) -> Step:
        import tflite

        o = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
        o.Init(opt.Bytes, opt.Pos)
        if ins[1] not in consts:
            raise CheckpointError(f"{source}: {name} op {k} has computed weights; zoo rebuilds constant weights only")
        w = consts[ins[1]].astype(np.float32)
        _, h, wd, cin = shapes[ins[0]]
        if name == "CONV_2D":
            weight, groups = w.transpose(0, 3, 1, 2), 1  # OHWI → OIHW
        else:
            if o.DepthMultiplier() != 1:
                raise CheckpointError(f"{source}: DEPTHWISE_CONV_2D op {k} has depth multiplier {o.DepthMultiplier()}")
            weight, groups = w[0].transpose(2, 0, 1)[:, None], cin  # 1HWC → C1HW
        kh, kw = weight.shape[2], weight.shape[3]
        sh, sw, dh, dw = o.StrideH(), o.StrideW(), o.DilationHFactor(), o.DilationWFactor()
        pad = (0, 0, 0, 0)
        if o.Padding() == tflite.Padding.SAME:
            pad = (*same_padding(wd, kw, sw, dw), *same_padding(h, kh, sh, dh))
        has_bias = len(ins) > 2 and ins[2] >= 0
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], (kh, kw), (sh, sw), 0, (dh, dw), groups,
                         bias=has_bias)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            if conv.bias is not None:
                conv.bias.copy_(torch.from_numpy(consts[ins[2]].astype(np.float32)))
        key = f"op{k}"
        self.convs[key] = conv
        return Step("conv", ins[:1], out, (key, pad, self._act(o.FusedActivationFunction(), source)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        t: dict[int, torch.Tensor] = {self.input_id: x}
        for s in self.steps:
            a = t[s.inputs[0]]
            if s.kind == "conv":
                key, pad, act = s.args
                y = self.convs[key](F.pad(a, pad) if any(pad) else a)
                t[s.output] = _activate(y, act)
            elif s.kind == "add":
                t[s.output] = _activate(a + t[s.inputs[1]], s.args[0])
            elif s.kind == "pad":
                t[s.output] = F.pad(a, s.args[0])
            elif s.kind == "resize":
                size, align = s.args
                t[s.output] = F.interpolate(a, size=size, mode="bilinear", align_corners=align)
            elif s.kind == "maxpool":
                kernel, stride, pad, act = s.args
                y = F.pad(a, pad, value=float("-inf")) if any(pad) else a
                t[s.output] = _activate(F.max_pool2d(y, kernel, stride), act)
            elif s.kind == "reshape":
                y = a.permute(0, 2, 3, 1) if a.dim() == 4 else a  # TFLite flattens NHWC
                t[s.output] = y.reshape((y.shape[0], *s.args[0]))
            elif s.kind == "sigmoid":
                t[s.output] = torch.sigmoid(a)
        return tuple(t[i] for i in self.output_ids)
