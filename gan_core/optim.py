"""Adam for a batch of independent replicas, and the per-iteration learning-rate schedules.

torch.optim.Adam keeps one step count and one learning rate per parameter tensor. Here a tensor
holds every replica (seed) of a network, so both live per replica instead: a replica can be
restarted from fresh weights (its moments and step count reset, its schedule started over, the
paper's residual monitoring) or frozen (learning rate 0), and replicas may have their own learning
rates. The update is torch's Adam, element-wise and per replica:

    m = b1 m + (1 - b1) g        v = b2 v + (1 - b2) g^2
    p -= lr_k * scale_k / (1 - b1^t_k) * m / (sqrt(v / (1 - b2^t_k)) + eps)
"""

from __future__ import annotations

from typing import Any

import torch

from . import native

Tensor = torch.Tensor


class BatchedAdam:
    """Adam over parameters whose first axis is the replica: (R, ...) each. ``native``: each
    parameter's update is one pass of gan_core.native's kernel (the code below is its reference)."""

    def __init__(self, params: list[Tensor], lr: float, betas: tuple[float, float],
                 eps: float = 1e-8, native: bool = False):
        self.params = list(params)
        self.native = native
        R = self.params[0].shape[0]
        assert all(p.shape[0] == R for p in self.params), "every parameter has the replica axis"
        self.lr, self.betas, self.eps = lr, betas, eps
        device = self.params[0].device
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        # per replica, float64 on the parameters' device: steps taken (bias correction) and the
        # learning-rate factor the schedule / a freeze set
        self.steps = torch.zeros(R, dtype=torch.float64, device=device)
        self.scale = torch.ones(R, dtype=torch.float64, device=device)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.steps += 1
        if self.native:
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is not None:
                    native.adam_step(p, m, v, self.steps, self.scale, self.lr, self.betas,
                                     self.eps)
            return
        # per-replica factors, broadcast over each parameter's other axes
        step_size = self.lr * self.scale / (1 - b1 ** self.steps)  # (R,)
        root_bc2 = torch.sqrt(1 - b2 ** self.steps)  # (R,)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            shape = (-1,) + (1,) * (p.dim() - 1)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / root_bc2.to(p.dtype).view(shape)).add_(self.eps)
            p.addcdiv_(m * step_size.to(p.dtype).view(shape), denom, value=-1.0)

    @torch.no_grad()
    def reset(self, rows: Tensor) -> None:
        """Start replicas `rows` over: zero moments, step count 0 (their bias correction too)."""
        for m, v in zip(self.m, self.v):
            m[rows] = 0
            v[rows] = 0
        self.steps[rows] = 0

    def state_dict(self) -> dict[str, Any]:
        return {"m": [t.clone() for t in self.m], "v": [t.clone() for t in self.v],
                "steps": self.steps.clone(), "scale": self.scale.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.params[0].device
        for mine, saved in zip(self.m + self.v, state["m"] + state["v"]):
            mine.copy_(saved.to(device))
        self.steps.copy_(state["steps"].to(device))
        self.scale.copy_(state["scale"].to(device))


def lr_factor(decay: str, gamma: float, step: int, age: Tensor) -> Tensor:
    """The schedule's learning-rate factor after `age` iterations (per replica, (R,) float64):
    none 1, exp gamma^age, step gamma^floor(age / step) (torch's ExponentialLR and StepLR stepped
    once per iteration)."""
    if decay == "exp":
        return gamma ** age
    if decay == "step":
        return gamma ** torch.div(age, step, rounding_mode="floor")
    return torch.ones_like(age)
