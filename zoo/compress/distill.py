"""Knowledge distillation loss (Hinton, Vinyals & Dean 2015).

``loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
        + (1 - alpha) * CE(student, labels)``

The temperature ``T`` softens both distributions so the student learns the teacher's ranking of
wrong classes ("dark knowledge"); the soft term's gradients shrink as ``1 / T^2``, so it is scaled
by ``T^2`` to keep its weight against the hard-label term independent of ``T``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ConfigError, InputError


def _check(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """Hinton KD loss (mean over the batch); the teacher gets no gradient."""
    _check(temperature, alpha)
    if student_logits.shape != teacher_logits.shape:
        raise InputError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )
    hard = F.cross_entropy(student_logits, labels)
    if alpha == 0.0:
        return hard
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.log_softmax(teacher_logits.detach() / t, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    return alpha * (t * t) * soft + (1.0 - alpha) * hard


class DistillationLoss(nn.Module):
    """``distillation_loss`` with its temperature and alpha fixed, for training loops."""

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9) -> None:
        super().__init__()
        _check(temperature, alpha)
        self.temperature = temperature
        self.alpha = alpha

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return distillation_loss(student_logits, teacher_logits, labels, self.temperature, self.alpha)
