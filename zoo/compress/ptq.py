"""Post-training quantization: per-channel weights, calibrated activations, by simulation.

Two outputs, for two uses:

- ``simulate_ptq`` returns a fake-quantized copy (weights *and* input activations quantized) to
  measure the accuracy an integer runtime would get.
- ``quantize_weights`` bakes quantized weights into a plain float model (what ``compress`` returns
  for export); activation ranges travel separately as data, since plain layers cannot hold them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

from zoo.compress.fake_quant import QUANTIZABLE, calibrate, prepare_qat, weight_scheme
from zoo.compress.linear import QParams, compute_qparams, fake_quantize
from zoo.errors import InputError


@torch.no_grad()
def quantize_weights(
    model: nn.Module,
    bits: int = 8,
    granularity: Literal["tensor", "channel", "group"] = "channel",
    group_size: int | None = None,
    inplace: bool = False,
) -> tuple[nn.Module, dict[str, QParams]]:
    """Round every Conv2d/Linear weight onto its ``bits``-bit grid, in float.

    Returns the model (a copy unless ``inplace``) and each layer's parameters by module name,
    which is what a size estimate or an int8 file writer needs.
    """
    scheme = weight_scheme(bits, granularity, group_size)
    target = model if inplace else copy.deepcopy(model)
    params: dict[str, QParams] = {}
    for name, module in target.named_modules():
        if isinstance(module, QUANTIZABLE):
            qp = compute_qparams(module.weight, scheme)
            module.weight.copy_(fake_quantize(module.weight, qp))
            params[name] = qp
    if not params:
        raise InputError("the model has no Conv2d or Linear layer to quantize")
    return target, params


def simulate_ptq(
    model: nn.Module,
    calibration: Iterable[torch.Tensor],
    bits: int = 8,
    act_bits: int | None = None,
    weight_granularity: Literal["tensor", "channel", "group"] = "channel",
    group_size: int | None = None,
    act_observer: str = "minmax",
) -> nn.Module:
    """A fake-quantized copy of ``model`` calibrated on ``calibration``, in eval mode.

    The copy quantizes weights (symmetric, per channel by default) and every Conv2d/Linear input
    activation (asymmetric per tensor, range from ``act_observer``); its accuracy is the PTQ
    accuracy. No training happens.
    """
    prepared = prepare_qat(
        model,
        bits=bits,
        act_bits=act_bits,
        weight_granularity=weight_granularity,
        group_size=group_size,
        act_observer=act_observer,
    )
    calibrate(prepared, calibration)
    prepared.eval()
    return prepared
