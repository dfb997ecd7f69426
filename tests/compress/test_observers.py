from __future__ import annotations

import copy

import pytest
import torch

from zoo.compress.linear import QuantScheme
from zoo.compress.observers import (
    EMAObserver,
    MinMaxObserver,
    PercentileObserver,
    make_observer,
)
from zoo.errors import ConfigError, InputError


def _batches() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(4, 3, 5, 5, generator=g) * (i + 1) for i in range(4)]


def test_minmax_is_global_min_and_max_over_batches() -> None:
    obs = MinMaxObserver()
    data = _batches()
    for x in data:
        obs(x)
    lo, hi = obs.range()
    everything = torch.cat([x.reshape(-1) for x in data])
    assert float(lo) == float(everything.min())
    assert float(hi) == float(everything.max())


def test_minmax_per_channel() -> None:
    obs = MinMaxObserver(QuantScheme(bits=8, symmetric=False, granularity="channel", axis=1))
    for x in _batches():
        obs(x)
    lo, hi = obs.range()
    assert lo.shape == (1, 3, 1, 1)
    everything = torch.cat(_batches())
    torch.testing.assert_close(hi.reshape(-1), everything.amax(dim=(0, 2, 3)))


def test_ema_follows_the_momentum_formula() -> None:
    obs = EMAObserver(momentum=0.8)
    obs(torch.tensor([-1.0, 1.0]))
    obs(torch.tensor([-3.0, 5.0]))
    lo, hi = obs.range()
    assert float(lo) == pytest.approx(0.8 * -1 + 0.2 * -3)
    assert float(hi) == pytest.approx(0.8 * 1 + 0.2 * 5)


def test_percentile_clips_rare_outliers_that_minmax_keeps() -> None:
    x = torch.randn(100_000, generator=torch.Generator().manual_seed(0))
    x[0] = 1000.0
    pct = PercentileObserver(percentile=99.9)
    mm = MinMaxObserver()
    pct(x)
    mm(x)
    assert float(mm.range()[1]) == 1000.0
    assert 2.5 < float(pct.range()[1]) < 4.0
    # Fewer wasted levels: a much smaller scale.
    assert float(pct.qparams().scale) < float(mm.qparams().scale) / 100


def test_observer_gives_qparams_and_survives_deepcopy() -> None:
    obs = MinMaxObserver(QuantScheme(bits=4, symmetric=False))
    obs(torch.tensor([0.0, 3.0]))
    qp = copy.deepcopy(obs).qparams()
    assert float(qp.scale) == pytest.approx(3.0 / 15)
    assert "min_val" in obs.state_dict()


def test_empty_observer_and_bad_settings() -> None:
    with pytest.raises(InputError, match="no data"):
        MinMaxObserver().qparams()
    with pytest.raises(ConfigError, match="momentum"):
        EMAObserver(momentum=1.0)
    with pytest.raises(ConfigError, match="percentile"):
        PercentileObserver(percentile=40)
    with pytest.raises(ConfigError, match="unknown observer 'median'; valid: minmax, ema"):
        make_observer("median")
