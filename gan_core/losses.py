"""Losses, per seed: every function returns a (seeds,) tensor; the optimiser steps on its sum.

Classical residual losses (the baselines a GAN must beat):
  l2 (Lagaris)  mean F^2      l1  mean |F|      huber  mean huber_delta(F)
Adversarial (DEQGAN, Bullwinkel et al. 2022): D tells the residual F from zeros
  gan          D: BCE(D(0), 1) + BCE(D(F), 0)     G: BCE(D(F), 1)
  gan_lhs_rhs  as gan with real = right-hand side, fake = left-hand side (the seed notebook)
  wgan_gp      critic D: mean D(F) - mean D(0) + lambda (|grad D| - 1)^2 on interpolates; G: -mean D(F)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F_

from .jets import Jet

Tensor = torch.Tensor


def _per_seed(x: Tensor) -> Tensor:
    """Mean over every axis but the first: (seeds, ...) -> (seeds,)."""
    return x.reshape(x.shape[0], -1).mean(dim=1)


# per point and equation: (seeds, n, n_eq) -> the same shape
RESIDUAL_LOSSES: dict[str, Callable[[Tensor, float], Tensor]] = {
    "l2": lambda r, delta: r * r,
    "l1": lambda r, delta: r.abs(),
    "huber": lambda r, delta: F_.huber_loss(r, torch.zeros_like(r), reduction="none", delta=delta),
}


def residual_loss(method: str, r: Tensor, huber_delta: float = 1.0,
                  weights: Tensor | None = None) -> Tensor:
    """Classical loss of the residual r (seeds, n, n_eq), looked up by method name; weights
    (seeds, n, 1) weigh the points (causal weighting), None: all alike."""
    loss = RESIDUAL_LOSSES[method](r, huber_delta)
    return _per_seed(loss if weights is None else loss * weights)


def bce(logits: Tensor, target: "Tensor | float", seeds: int,
        weights: Tensor | None = None) -> Tensor:
    """Binary cross-entropy with logits, averaged per seed; logits (seeds * E, n, 1); weights
    of logits' shape weigh the points, None: all alike."""
    if not isinstance(target, Tensor):
        target = torch.full_like(logits, target)
    loss = F_.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if weights is not None:
        loss = loss * weights
    return _per_seed(loss.reshape(seeds, -1))


def critic_gradient_penalty(D: Callable[[Jet], Jet], real: Tensor, fake: Tensor, eps: Tensor,
                            seeds: int) -> Tensor:
    """mean (|grad_x D(x)| - 1)^2 at x = eps real + (1 - eps) fake, per seed.

    The gradient comes from forward-mode jets through D (D's input has few channels), so the
    penalty needs no double backward.
    """
    x = eps * real + (1 - eps) * fake  # (K', n, c)
    coords = Jet.coordinates(x, order=1)
    xj = coords[0].cat(coords[1:]) if len(coords) > 1 else coords[0]
    grad = D(xj).a[:, 1:, :, :1]  # (K', c, n, 1): dD/dx_j of the critic output (not extra heads)
    norm = torch.sqrt((grad * grad).sum(dim=1) + 1e-12)  # (K', n, 1)
    return _per_seed(((norm - 1) ** 2).reshape(seeds, -1))
