"""Fake quantization with the straight-through estimator, and QAT preparation of a model.

Fake quantization rounds values onto the integer grid and maps them straight back to float, so a
float model computes exactly what the integer model would (up to accumulation order) while
staying trainable. Rounding has zero gradient almost everywhere; the straight-through estimator
(STE) pretends it is the identity inside the representable range and zero outside it (the
"clipped" STE), so values that the clamp saturates stop pushing further out.

Placement follows ncnn's int8 scheme: every Conv2d/Linear quantizes its weight per output channel
(symmetric) and its *input* activation per tensor, and computes in float from there.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Literal, TypeAlias

import torch
from torch import nn
from torch.func import functional_call

from zoo.compress.linear import QParams, QuantScheme, Rounding, compute_qparams, round_tensor
from zoo.compress.observers import Observer, make_observer
from zoo.errors import InputError

QUANTIZABLE = (nn.Conv2d, nn.Linear)
Layer: TypeAlias = nn.Conv2d | nn.Linear


def quantizable_layers(model: nn.Module) -> list[tuple[str, Layer]]:
    """Every Conv2d and Linear in ``model`` with its qualified name, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QUANTIZABLE)]


class FakeQuantizeSTE(torch.autograd.Function):
    """``s * (clamp(round(x / s) + z, qmin, qmax) - z)`` with a clipped straight-through gradient.

    Gradient w.r.t. ``x``: 1 where ``x`` lies inside the representable range
    ``[s * (qmin - z), s * (qmax - z)]``, 0 outside. No gradient to the scale or zero point (they
    come from observers, not from learning).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        scale: torch.Tensor,
        zero_point: torch.Tensor,
        qmin: int,
        qmax: int,
        rounding: Rounding = "nearest",
    ) -> torch.Tensor:
        scaled = x / scale + zero_point
        q = torch.clamp(round_tensor(scaled, rounding), qmin, qmax)
        inside = (scaled >= qmin) & (scaled <= qmax)
        ctx.save_for_backward(inside)
        return (q - zero_point) * scale

    @staticmethod
    def backward(ctx: Any, *grad_outputs: torch.Tensor) -> tuple[Any, ...]:
        (inside,) = ctx.saved_tensors
        grad = grad_outputs[0]
        return grad * inside.to(grad.dtype), None, None, None, None, None


def fake_quantize_ste(x: torch.Tensor, qparams: QParams, rounding: Rounding = "nearest") -> torch.Tensor:
    """Differentiable fake quantization of ``x`` with ``qparams`` (clipped STE)."""
    scale, zero = qparams.expand(x)
    out: torch.Tensor = FakeQuantizeSTE.apply(x, scale, zero, qparams.qmin, qparams.qmax, rounding)
    return out


class FakeQuantize(nn.Module):
    """Quantize-dequantize in forward with an STE backward.

    With an ``observer`` (activations) the range comes from what the observer has seen; while
    ``observing`` is on, each forward also updates it. Without one (weights) the range is the
    tensor's own min/max at the scheme's granularity, recomputed every call so that it follows
    the weights during fine-tuning.
    """

    def __init__(self, scheme: QuantScheme, observer: Observer | None = None) -> None:
        super().__init__()
        self.scheme = scheme
        self.observer = observer
        self.observing = observer is not None
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observer is not None and self.observing:
            self.observer.update(x.detach())
        if not self.enabled:
            return x
        if self.observer is None:
            qparams = compute_qparams(x, self.scheme)
        elif not self.observer.initialized:
            # Before calibration there is no range: pass through rather than guess one.
            return x
        else:
            qparams = self.observer.qparams(self.scheme)
        return fake_quantize_ste(x, qparams, self.scheme.rounding)

    def extra_repr(self) -> str:
        s = self.scheme
        return f"bits={s.bits}, symmetric={s.symmetric}, granularity={s.granularity}"


class QuantWrapper(nn.Module):
    """A Conv2d or Linear with fake-quantized input activation and weight.

    The wrapped layer keeps its own parameters (same names under ``.layer``), so an optimizer
    built after ``prepare_qat`` trains them directly, and ``strip_fake_quant`` can hand the plain
    layer back.
    """

    def __init__(self, layer: Layer, weight_fq: FakeQuantize, input_fq: FakeQuantize | None) -> None:
        super().__init__()
        self.layer = layer
        self.weight_fq = weight_fq
        self.input_fq = input_fq

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_fq is not None:
            x = self.input_fq(x)
        weight = self.weight_fq(self.layer.weight)
        out: torch.Tensor = functional_call(self.layer, {"weight": weight}, (x,))
        return out


def weight_scheme(
    bits: int,
    granularity: Literal["tensor", "channel", "group"] = "channel",
    group_size: int | None = None,
    rounding: Rounding = "nearest",
) -> QuantScheme:
    """The weight scheme used everywhere here: symmetric (zero stays zero, no zero-point term in
    the integer matmul), channels on axis 0 (output channels), groups along input axis 1."""
    if granularity == "group":
        return QuantScheme(
            bits=bits,
            symmetric=True,
            granularity="group",
            axis=1,
            group_size=group_size,
            rounding=rounding,
        )
    return QuantScheme(bits=bits, symmetric=True, granularity=granularity, axis=0, rounding=rounding)


def prepare_qat(
    model: nn.Module,
    bits: int = 8,
    act_bits: int | None = None,
    weight_granularity: Literal["tensor", "channel", "group"] = "channel",
    group_size: int | None = None,
    act_observer: str = "ema",
    quantize_inputs: bool = True,
    rounding: Rounding = "nearest",
    inplace: bool = False,
) -> nn.Module:
    """Wrap every Conv2d/Linear with fake quantization of its weight and input activation.

    Weights: symmetric, ``bits``, per output channel by default (axis 0), or group-wise along the
    input axis (axis 1). Activations: asymmetric per tensor with ``act_bits`` (defaults to
    ``bits``), range from ``act_observer`` (``ema`` for training, ``minmax``/``percentile`` for
    calibration). Returns a new model unless ``inplace``. Run ``calibrate`` before evaluating or
    training so every activation observer has a range.
    """
    w_scheme = weight_scheme(bits, weight_granularity, group_size, rounding)
    act_scheme = QuantScheme(bits=act_bits or bits, symmetric=False, granularity="tensor")
    # Validate the observer name once, before touching the model.
    make_observer(act_observer, act_scheme)
    target = model if inplace else copy.deepcopy(model)
    wrapped = 0
    for parent in list(target.modules()):
        if isinstance(parent, QuantWrapper):
            continue
        for name, child in list(parent.named_children()):
            if isinstance(child, QUANTIZABLE):
                input_fq = (
                    FakeQuantize(act_scheme, make_observer(act_observer, act_scheme)) if quantize_inputs else None
                )
                setattr(parent, name, QuantWrapper(child, FakeQuantize(w_scheme), input_fq))
                wrapped += 1
    if isinstance(target, QUANTIZABLE):
        raise InputError("prepare_qat needs a container model, not a bare Conv2d/Linear layer")
    if wrapped == 0:
        raise InputError("the model has no Conv2d or Linear layer to quantize")
    return target


def _fake_quantizers(model: nn.Module) -> list[FakeQuantize]:
    return [m for m in model.modules() if isinstance(m, FakeQuantize)]


def set_observing(model: nn.Module, observing: bool) -> None:
    """Turn range updates of every activation observer on or off (off = frozen ranges)."""
    for fq in _fake_quantizers(model):
        if fq.observer is not None:
            fq.observing = observing


def set_fake_quant(model: nn.Module, enabled: bool) -> None:
    """Turn quantize-dequantize on or off everywhere (off = float model, observers still run)."""
    for fq in _fake_quantizers(model):
        fq.enabled = enabled


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Run ``batches`` through a prepared model in float, recording activation ranges.

    Fake quantization is off while calibrating so each observer sees the float activations it
    will later quantize, not ones already distorted by earlier layers' quantization. Leaves the
    observers frozen and fake quantization on. Returns the number of samples seen.
    """
    was_training = model.training
    model.eval()
    set_fake_quant(model, False)
    set_observing(model, True)
    seen = 0
    for batch in batches:
        model(batch)
        seen += int(batch.shape[0])
    set_observing(model, False)
    set_fake_quant(model, True)
    model.train(was_training)
    if seen == 0:
        raise InputError("calibration got no batches")
    return seen


def activation_ranges(model: nn.Module) -> dict[str, tuple[float, float]]:
    """Calibrated input range of every wrapped layer, by the layer's name in the original model."""
    ranges: dict[str, tuple[float, float]] = {}
    for name, module in model.named_modules():
        if isinstance(module, QuantWrapper) and module.input_fq is not None:
            obs = module.input_fq.observer
            if obs is not None and obs.initialized:
                lo, hi = obs.range()
                ranges[name] = (float(lo.min()), float(hi.max()))
    return ranges


@torch.no_grad()
def strip_fake_quant(model: nn.Module, bake_weights: bool = True, inplace: bool = False) -> nn.Module:
    """Replace every ``QuantWrapper`` by its plain layer, optionally with quantized weights baked in.

    The result is a standard ``nn.Module`` (traceable, no custom autograd). Activation
    quantization cannot be expressed by plain layers, so it is dropped here; read the ranges with
    ``activation_ranges`` first if an int8 writer needs them.
    """
    target = model if inplace else copy.deepcopy(model)
    for parent in list(target.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, QuantWrapper):
                layer = child.layer
                if bake_weights and child.weight_fq.enabled:
                    scheme = child.weight_fq.scheme
                    qparams = compute_qparams(layer.weight, scheme)
                    layer.weight.copy_(fake_quantize_ste(layer.weight, qparams, "nearest"))
                setattr(parent, name, layer)
    return target
