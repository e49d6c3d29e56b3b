"""Batched MLPs: one set of weight tensors holds every seed's network.

A layer's weight has shape (seeds, in, out) and one ``torch.bmm`` runs all seeds; there is no Python
loop over models. Layers accept a :class:`~gan_core.jets.Jet`, so a forward pass also carries the
exact derivatives of the output with respect to the input (see jets.py).

Seeds are independent by construction: no operation mixes the seed axis, the loss is a *sum* of
per-seed losses (so each seed's gradient is its own), and Adam is element-wise. A seed that
diverges to NaN therefore cannot contaminate the others.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from .config import NetConfig
from .jets import Jet

Tensor = torch.Tensor
Activation = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]

SWISH_BETA = 1.0  # swish(x) = x * sigmoid(beta * x)
LEAKY_SLOPE = 0.2  # leaky_relu slope for x < 0


def _fast_tanh(x: Tensor) -> Tensor:
    # tanh x = 2 sigmoid(2x) - 1: on the CPU build here (torch 2.13, AVX512) torch.tanh takes
    # ~2.3 ns per float32 element and torch.sigmoid ~0.25 ns. Absolute error <= 2e-7 in float32
    # (torch.tanh: 3e-8), 3e-16 in float64; the exp gan convergence test (median 1e-7) passes
    return torch.sigmoid(2 * x) * 2 - 1


def _tanh(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    t = _fast_tanh(x)
    s = 1 - t * t
    return t, s, -2 * t * s


def _swish(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    b = SWISH_BETA
    s = torch.sigmoid(b * x)
    ds = b * s * (1 - s)  # d sigmoid(bx) / dx
    return x * s, s + x * ds, ds * (2 + b * x * (1 - 2 * s))


def _sin(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    s = torch.sin(x)
    return s, torch.cos(x), -s


def _relu(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    step = (x > 0).to(x.dtype)
    return torch.relu(x), step, torch.zeros_like(x)


def _leaky_relu(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    slope = torch.where(x > 0, 1.0, LEAKY_SLOPE).to(x.dtype)
    return x * slope, slope, torch.zeros_like(x)


def _softplus(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    s = torch.sigmoid(x)
    return nn.functional.softplus(x), s, s * (1 - s)


# value-only versions: the common order-0 path (D, evaluation) skips the derivative work
_VALUE_ONLY: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": _fast_tanh,
    "swish": lambda x: x * torch.sigmoid(SWISH_BETA * x),
    "sin": torch.sin,
    "relu": torch.relu,
    "leaky_relu": lambda x: nn.functional.leaky_relu(x, LEAKY_SLOPE),
    "softplus": nn.functional.softplus,
}

ACTIVATION_FNS: dict[str, Activation] = {
    "tanh": _tanh, "swish": _swish, "sin": _sin, "relu": _relu,
    "leaky_relu": _leaky_relu, "softplus": _softplus,
}


def activate(h: Jet, name: str) -> Jet:
    """act(h) with derivatives; value-only jets take the cheap path."""
    if h.order == 0:
        return Jet(_VALUE_ONLY[name](h.a), h.dim, 0)
    return h.apply(ACTIVATION_FNS[name])


def seed_generators(seed: int, seeds: int, stream: int) -> list[torch.Generator]:
    """One CPU generator per replica, derived from (seed, replica, stream) so replicas differ."""
    gens = []
    for k in range(seeds):
        state = np.random.SeedSequence([seed, k, stream]).generate_state(1)[0]
        gens.append(torch.Generator().manual_seed(int(state)))
    return gens


class BatchedLinear(nn.Module):
    """y = x W_k + b_k for every seed k at once; weight (seeds, in, out), bias (seeds, out)."""

    def __init__(self, seeds: int, n_in: int, n_out: int, gens: list[torch.Generator],
                 spectral_norm: bool = False):
        super().__init__()
        # PyTorch's nn.Linear default init, U(-1/sqrt(in), 1/sqrt(in)), drawn per seed in float32
        # whatever torch's default dtype is (train() casts), so a seed's weights never depend on it
        bound = 1.0 / math.sqrt(n_in)
        f32 = torch.float32
        w = torch.stack([(torch.rand(n_in, n_out, generator=g, dtype=f32) * 2 - 1) * bound
                         for g in gens])
        b = torch.stack([(torch.rand(n_out, generator=g, dtype=f32) * 2 - 1) * bound for g in gens])
        self.weight = nn.Parameter(w)  # (seeds, in, out)
        self.bias = nn.Parameter(b)  # (seeds, out)
        self.spectral_norm = spectral_norm
        if spectral_norm:
            u = torch.stack([torch.randn(n_out, generator=g, dtype=f32) for g in gens])
            self.register_buffer("u", nn.functional.normalize(u, dim=-1))  # (seeds, out)

    def _weight(self) -> Tensor:
        if not self.spectral_norm:
            return self.weight
        # batched power iteration (torch's spectral_norm handles one 2-D weight, not a stack)
        W = self.weight
        with torch.no_grad():
            v = nn.functional.normalize(torch.bmm(W, self.u[..., None])[..., 0], dim=-1)  # (K, in)
            u = nn.functional.normalize(torch.bmm(v[:, None], W)[:, 0], dim=-1)  # (K, out)
            if self.training:
                self.u.copy_(u)
        sigma = torch.einsum("ki,kio,ko->k", v, W, u)  # largest singular value per seed
        return W / sigma[:, None, None]

    def forward(self, h: Jet) -> Jet:
        K, P, n, c = h.a.shape
        W = self._weight()
        out = torch.bmm(h.a.reshape(W.shape[0], P * n, c), W).view(W.shape[0], P, n, -1)
        b = self.bias[:, None, None, :]  # (K, 1, 1, out)
        if P > 1:  # the bias shifts the value only; derivatives of a constant are zero
            b = b * _value_mask(P, out)
        return Jet(out + b, h.dim, h.order)


def _value_mask(P: int, like: Tensor) -> Tensor:
    m = torch.zeros(1, P, 1, 1, dtype=like.dtype, device=like.device)
    m[:, 0] = 1.0
    return m


class BatchedMLP(nn.Module):
    """MLP n_in -> width x depth -> n_out, one replica per seed; depth 0 is one linear map."""

    def __init__(self, seeds: int, n_in: int, n_out: int, cfg: NetConfig, seed: int, stream: int,
                 spectral_norm: bool = False):
        super().__init__()
        gens = seed_generators(seed, seeds, stream)
        self.seeds = seeds
        self.cfg = cfg
        widths = [n_in] + [cfg.width] * cfg.depth
        self.hidden = nn.ModuleList(
            BatchedLinear(seeds, a, b, gens, spectral_norm) for a, b in zip(widths[:-1], widths[1:]))
        self.out = BatchedLinear(seeds, widths[-1], n_out, gens, spectral_norm)  # depth 0: linear
        if cfg.dropout:  # masks from the net's own generator, whose state is a buffer: saved in
            # the state_dict, so a resumed run draws the same masks as one that never stopped
            g = torch.Generator().manual_seed(
                int(np.random.SeedSequence([seed, stream, 7]).generate_state(1)[0]))
            self.register_buffer("dropout_rng", g.get_state())

    def _dropout(self, h: Jet) -> Jet:
        """Zero each hidden unit with probability p (the same unit in the value and derivatives)."""
        p = self.cfg.dropout
        K, _, n, c = h.a.shape
        g = torch.Generator()
        g.set_state(self.dropout_rng.cpu())
        keep = torch.rand((K, 1, n, c), generator=g) >= p
        self.dropout_rng.copy_(g.get_state())
        return Jet(h.a * keep.to(h.a.device, h.a.dtype) / (1 - p), h.dim, h.order)

    def forward(self, x: "Jet | Tensor") -> "Jet | Tensor":
        """x: a Jet with value (seeds, n, n_in), or a plain tensor (seeds, n, n_in)."""
        plain = isinstance(x, Tensor)
        h = Jet(x[:, None], 0, 0) if plain else x
        act = self.cfg.activation
        for i, layer in enumerate(self.hidden):
            z = activate(layer(h), act)
            h = h + z if (self.cfg.residual and i > 0) else z
            if self.cfg.dropout and self.training:
                h = self._dropout(h)
        y = self.out(h)
        if self.cfg.output_tanh:
            y = activate(y, "tanh")
        return y.value if plain else y
