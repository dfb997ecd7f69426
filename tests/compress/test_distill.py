from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.compress.distill import DistillationLoss, distillation_loss
from zoo.errors import ConfigError, InputError


def _logits(seed: int) -> torch.Tensor:
    return torch.randn(8, 10, generator=torch.Generator().manual_seed(seed))


LABELS = torch.arange(8) % 10


def test_alpha_zero_is_plain_cross_entropy() -> None:
    s, t = _logits(0), _logits(1)
    torch.testing.assert_close(distillation_loss(s, t, LABELS, alpha=0.0), F.cross_entropy(s, LABELS))


def test_identical_logits_at_alpha_one_give_zero_loss_and_gradient() -> None:
    s = _logits(0).requires_grad_(True)
    loss = distillation_loss(s, s.detach().clone(), LABELS, temperature=3.0, alpha=1.0)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)
    assert float(s.grad.abs().max()) < 1e-6


def test_soft_term_matches_hinton_formula_with_t_squared() -> None:
    s, t = _logits(0), _logits(1)
    temp = 4.0
    p_t = F.softmax(t / temp, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / temp, dim=1))).sum(1).mean()
    expected = 0.7 * temp**2 * kl + 0.3 * F.cross_entropy(s, LABELS)
    torch.testing.assert_close(distillation_loss(s, t, LABELS, temp, 0.7), expected)


def test_teacher_gets_no_gradient_and_module_form_agrees() -> None:
    s = _logits(0).requires_grad_(True)
    t = _logits(1).requires_grad_(True)
    loss = DistillationLoss(temperature=2.0, alpha=0.5)(s, t, LABELS)
    loss.backward()
    assert t.grad is None
    torch.testing.assert_close(loss, distillation_loss(s, t, LABELS, 2.0, 0.5))


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        distillation_loss(_logits(0), _logits(1), LABELS, temperature=0)
    with pytest.raises(ConfigError, match="alpha"):
        DistillationLoss(alpha=1.5)
    with pytest.raises(InputError, match="differ in shape"):
        distillation_loss(_logits(0), _logits(1)[:, :5], LABELS)
