"""Activation range observers: watch tensors during calibration, then give quantization params.

Observers are ``nn.Module``s with buffers so that a prepared model's ``state_dict`` and
``copy.deepcopy`` carry the calibrated ranges along with the weights.

- ``MinMaxObserver``: the running min and max over everything seen. Exact cover, but one outlier
  stretches the range and wastes levels.
- ``EMAObserver``: exponential moving average of each batch's min and max (momentum), the usual
  choice during quantization-aware training where the ranges drift as weights change.
- ``PercentileObserver``: clip to the ``q``-th percentile of a uniform sample of the values seen,
  which throws away rare outliers (cheap stand-in for the histogram methods of ncnn/TensorRT).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.compress.linear import QParams, QuantScheme, _reduce_range, qparams_from_range
from zoo.errors import ConfigError, InputError


class Observer(nn.Module):
    """Base: ``forward(x)`` records ``x`` and returns it unchanged; ``qparams()`` reads the range."""

    min_val: torch.Tensor
    max_val: torch.Tensor

    def __init__(self, scheme: QuantScheme | None = None) -> None:
        super().__init__()
        self.scheme = scheme or QuantScheme(bits=8, symmetric=False)
        if self.scheme.granularity == "group":
            raise ConfigError("observers support granularity 'tensor' or 'channel', not 'group'")
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    @property
    def initialized(self) -> bool:
        return bool(torch.all(self.min_val <= self.max_val))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.update(x.detach())
        return x

    def update(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The calibrated ``(min, max)``; raises InputError before any data was seen."""
        if not self.initialized:
            raise InputError(f"{type(self).__name__} has seen no data: run calibration first")
        return self.min_val, self.max_val

    def qparams(self, scheme: QuantScheme | None = None) -> QParams:
        lo, hi = self.range()
        return qparams_from_range(lo, hi, scheme or self.scheme)


class MinMaxObserver(Observer):
    """Running min and max over every tensor seen."""

    def update(self, x: torch.Tensor) -> None:
        lo, hi = _reduce_range(x.float(), self.scheme)
        if not self.initialized:
            self.min_val, self.max_val = lo.clone(), hi.clone()
            return
        self.min_val = torch.minimum(self.min_val, lo)
        self.max_val = torch.maximum(self.max_val, hi)


class EMAObserver(Observer):
    """``range = momentum * range + (1 - momentum) * batch_range``; the first batch sets it."""

    def __init__(self, scheme: QuantScheme | None = None, momentum: float = 0.9) -> None:
        super().__init__(scheme)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum

    def update(self, x: torch.Tensor) -> None:
        lo, hi = _reduce_range(x.float(), self.scheme)
        if not self.initialized:
            self.min_val, self.max_val = lo.clone(), hi.clone()
            return
        m = self.momentum
        self.min_val = m * self.min_val + (1.0 - m) * lo
        self.max_val = m * self.max_val + (1.0 - m) * hi


class PercentileObserver(Observer):
    """Range from the ``(100 - percentile)``-th and ``percentile``-th percentiles (per tensor).

    Keeps a uniform random sample of at most ``max_samples`` values (each batch contributes in
    proportion to its size) instead of every value, so memory stays bounded on big calibration
    sets; ``torch.quantile`` on that sample is exact for the sample.
    """

    def __init__(
        self,
        scheme: QuantScheme | None = None,
        percentile: float = 99.99,
        max_samples: int = 1 << 20,
        seed: int = 0,
    ) -> None:
        super().__init__(scheme)
        if self.scheme.granularity != "tensor":
            raise ConfigError("PercentileObserver supports granularity 'tensor' only")
        if not 50.0 < percentile <= 100.0:
            raise ConfigError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile
        self.max_samples = max_samples
        self._generator = torch.Generator().manual_seed(seed)
        self._samples: list[torch.Tensor] = []
        self._seen = 0

    def update(self, x: torch.Tensor) -> None:
        flat = x.detach().float().reshape(-1)
        self._seen += flat.numel()
        keep = max(1, round(self.max_samples * flat.numel() / max(self._seen, 1)))
        if flat.numel() > keep:
            idx = torch.randperm(flat.numel(), generator=self._generator)[:keep]
            flat = flat[idx]
        self._samples.append(flat)
        pool = torch.cat(self._samples)
        if pool.numel() > self.max_samples:
            idx = torch.randperm(pool.numel(), generator=self._generator)[: self.max_samples]
            pool = pool[idx]
        self._samples = [pool]
        # torch.quantile refuses inputs above 16M elements; max_samples keeps us below.
        q = torch.tensor([1.0 - self.percentile / 100.0, self.percentile / 100.0])
        lo, hi = torch.quantile(pool, q)
        self.min_val, self.max_val = lo.clone(), hi.clone()


OBSERVERS: dict[str, type[Observer]] = {
    "minmax": MinMaxObserver,
    "ema": EMAObserver,
    "percentile": PercentileObserver,
}


def make_observer(name: str, scheme: QuantScheme | None = None) -> Observer:
    """Build an observer by name (``minmax``, ``ema``, ``percentile``)."""
    cls = OBSERVERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown observer {name!r}; valid: {', '.join(OBSERVERS)}")
    return cls(scheme)
