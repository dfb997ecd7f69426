"""Linear (uniform affine) quantization: ``r = s * (q - z)``.

One scheme object says how a tensor is quantized (bits, symmetric or not, granularity, rounding);
``compute_qparams`` derives scale and zero point from a tensor or from an observed range;
``quantize``/``dequantize``/``fake_quantize`` apply them.

Granularity, and what ``axis`` means for each:

- ``"tensor"``: one scale for the whole tensor.
- ``"channel"``: one scale per index along ``axis`` (axis 0 of a Conv2d/Linear weight is the
  output channel, which is what ncnn's int8 format stores: one weight scale per output channel).
- ``"group"``: ``axis`` is split into contiguous blocks of ``group_size`` and every block gets its
  own scale, separately for every index of the other dimensions (the llama.cpp / GPTQ layout:
  for a Linear weight ``(out, in)``, ``axis=1`` gives one scale per row per block of inputs).
  A last, shorter block is allowed.

Zero is always inside the quantized range, so a zero weight (pruned) or a zero activation (ReLU,
zero padding) stays exactly zero after quantization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from zoo.errors import ConfigError, InputError

Granularity = Literal["tensor", "channel", "group"]
Rounding = Literal["nearest", "stochastic", "floor", "ceil"]

GRANULARITIES: tuple[str, ...] = ("tensor", "channel", "group")
ROUNDINGS: tuple[str, ...] = ("nearest", "stochastic", "floor", "ceil")
MIN_BITS = 2
MAX_BITS = 16

# Scales below this are treated as "all values equal": dividing by a tiny scale would turn
# rounding noise into huge integers.
_MIN_SCALE = 1e-12


@dataclass(frozen=True)
class QuantScheme:
    """How to quantize one tensor.

    A frozen dataclass rather than pydantic: it is built per layer inside training loops, and a
    bad value must raise ``ConfigError`` (a ZooError) with one line, not a ValidationError.
    """

    bits: int = 8
    symmetric: bool = True
    granularity: Granularity = "tensor"
    axis: int = 0
    group_size: int | None = None
    rounding: Rounding = "nearest"

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int):
            raise ConfigError(f"bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {self.bits!r}")
        if not MIN_BITS <= self.bits <= MAX_BITS:
            raise ConfigError(f"bits must be in {MIN_BITS}..{MAX_BITS}, got {self.bits}")
        if self.granularity not in GRANULARITIES:
            raise ConfigError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {self.granularity!r}")
        if self.rounding not in ROUNDINGS:
            raise ConfigError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {self.rounding!r}")
        if self.granularity == "group":
            if self.group_size is None or self.group_size < 1:
                raise ConfigError(f"granularity 'group' needs group_size >= 1, got {self.group_size!r}")
        elif self.group_size is not None:
            raise ConfigError(f"group_size is only used with granularity 'group', not {self.granularity!r}")

    @property
    def qmin(self) -> int:
        return qrange(self.bits, self.symmetric)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.bits, self.symmetric)[1]


@dataclass(frozen=True)
class QParams:
    """Scale and zero point for one tensor, shaped to broadcast against it after ``expand``.

    For ``"group"`` the stored tensors have ``ceil(n / group_size)`` entries along ``axis`` and
    ``expand`` repeats them; storing them compact is what a size estimate or a file writer needs.
    """

    scale: torch.Tensor
    zero_point: torch.Tensor
    qmin: int
    qmax: int
    granularity: Granularity = "tensor"
    axis: int = 0
    group_size: int | None = None

    def expand(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale and zero point broadcastable to ``like`` (groups repeated along ``axis``)."""
        if self.granularity != "group":
            return self.scale, self.zero_point
        axis = self.axis % like.dim()
        size = like.shape[axis]
        group = int(self.group_size or 1)
        scale = self.scale.repeat_interleave(group, dim=axis).narrow(axis, 0, size)
        zero = self.zero_point.repeat_interleave(group, dim=axis).narrow(axis, 0, size)
        return scale, zero

    @property
    def count(self) -> int:
        """How many (scale, zero point) pairs: what a quantized file stores besides the integers."""
        return int(self.scale.numel())


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """Integer range for ``bits``.

    Symmetric uses the restricted range ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` so that ``-x`` and ``x``
    quantize to opposite integers and zero is the centre (what ncnn's int8 uses: +-127).
    Asymmetric uses the full unsigned range ``[0, 2^b - 1]``.
    """
    if symmetric:
        top = 2 ** (bits - 1) - 1
        return -top, top
    return 0, 2**bits - 1


def _check_axis(x: torch.Tensor, axis: int) -> int:
    if x.dim() == 0:
        raise InputError("per-channel or group quantization needs a tensor with at least one dim")
    if not -x.dim() <= axis < x.dim():
        raise InputError(f"axis {axis} is out of range for a tensor of shape {tuple(x.shape)}")
    return axis % x.dim()


def _reduce_range(x: torch.Tensor, scheme: QuantScheme) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of ``x`` at the scheme's granularity, shaped to broadcast (compact for groups)."""
    x = x.detach()
    if scheme.granularity == "tensor":
        return x.min(), x.max()
    axis = _check_axis(x, scheme.axis)
    if scheme.granularity == "channel":
        dims = [d for d in range(x.dim()) if d != axis]
        if not dims:
            return x, x
        return x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    # Group-wise: move axis last, pad it to a multiple of group_size with +inf (for min) and
    # -inf (for max) so padding never wins, reduce each block, then move the axis back.
    group = int(scheme.group_size or 1)
    moved = x.movedim(axis, -1)
    n = moved.shape[-1]
    n_groups = -(-n // group)
    pad = n_groups * group - n
    lo_src, hi_src = moved, moved
    if pad:
        lo_src = torch.nn.functional.pad(moved, (0, pad), value=float("inf"))
        hi_src = torch.nn.functional.pad(moved, (0, pad), value=float("-inf"))
    shape = (*moved.shape[:-1], n_groups, group)
    lo = lo_src.reshape(shape).amin(dim=-1).movedim(-1, axis)
    hi = hi_src.reshape(shape).amax(dim=-1).movedim(-1, axis)
    return lo, hi


def qparams_from_range(
    min_val: torch.Tensor | float,
    max_val: torch.Tensor | float,
    scheme: QuantScheme,
) -> QParams:
    """Scale and zero point that map ``[min_val, max_val]`` (widened to include 0) onto the grid.

    Symmetric: ``s = max(|min|, |max|) / qmax``, ``z = 0``. Asymmetric: ``s = (max - min) /
    (qmax - qmin)``, ``z = round(qmin - min / s)``. The rounded zero point shifts the covered
    range by at most half a step, so every value in ``[min, max]`` still quantizes within ``s/2``.
    """
    lo = torch.as_tensor(min_val, dtype=torch.float32)
    hi = torch.as_tensor(max_val, dtype=torch.float32)
    if bool(torch.any(lo > hi)):
        raise InputError("min_val is greater than max_val; the observer has seen no data")
    lo = torch.clamp(lo, max=0.0)
    hi = torch.clamp(hi, min=0.0)
    qmin, qmax = qrange(scheme.bits, scheme.symmetric)
    if scheme.symmetric:
        scale = torch.maximum(-lo, hi) / qmax
        scale = torch.clamp(scale, min=_MIN_SCALE)
        zero = torch.zeros_like(scale)
    else:
        scale = torch.clamp((hi - lo) / (qmax - qmin), min=_MIN_SCALE)
        zero = torch.clamp(torch.round(qmin - lo / scale), qmin, qmax)
    return QParams(
        scale=scale,
        zero_point=zero,
        qmin=qmin,
        qmax=qmax,
        granularity=scheme.granularity,
        axis=scheme.axis,
        group_size=scheme.group_size,
    )


def compute_qparams(x: torch.Tensor, scheme: QuantScheme) -> QParams:
    """Scale and zero point for ``x`` from its own min and max at the scheme's granularity."""
    if x.numel() == 0:
        raise InputError("cannot compute quantization parameters of an empty tensor")
    if not torch.is_floating_point(x):
        raise InputError(f"quantization needs a floating-point tensor, got {x.dtype}")
    lo, hi = _reduce_range(x, scheme)
    return qparams_from_range(lo, hi, scheme)


def round_tensor(x: torch.Tensor, mode: Rounding = "nearest", generator: torch.Generator | None = None) -> torch.Tensor:
    """Round with the given mode.

    ``nearest`` is round-half-to-even (``torch.round``), unbiased on ties. ``stochastic`` rounds
    up with probability equal to the fractional part, so ``E[round(x)] = x``: the error averages
    out over many weights or steps, which helps training at very low bit widths.
    """
    if mode == "nearest":
        return torch.round(x)
    if mode == "stochastic":
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return torch.floor(x + noise)
    if mode == "floor":
        return torch.floor(x)
    if mode == "ceil":
        return torch.ceil(x)
    raise ConfigError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {mode!r}")


def quantize(
    x: torch.Tensor,
    qparams: QParams,
    rounding: Rounding = "nearest",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Integers ``clamp(round(x / s) + z, qmin, qmax)`` as int32 (wide enough for 16 bits)."""
    scale, zero = qparams.expand(x)
    q = round_tensor(x / scale, rounding, generator) + zero
    return torch.clamp(q, qparams.qmin, qparams.qmax).to(torch.int32)


def dequantize(q: torch.Tensor, qparams: QParams) -> torch.Tensor:
    """Real values ``s * (q - z)`` as float32."""
    scale, zero = qparams.expand(q)
    return scale * (q.to(torch.float32) - zero)


def fake_quantize(
    x: torch.Tensor,
    qparams: QParams,
    rounding: Rounding = "nearest",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Quantize then dequantize: float values that lie on the integer grid (no gradient rules)."""
    return dequantize(quantize(x, qparams, rounding, generator), qparams).to(x.dtype)


def quantize_tensor(
    x: torch.Tensor, scheme: QuantScheme, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, QParams]:
    """Integers and their parameters for ``x`` under ``scheme``, in one call."""
    qparams = compute_qparams(x, scheme)
    return quantize(x, qparams, scheme.rounding, generator), qparams
