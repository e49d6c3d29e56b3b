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

from . import native
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


def _draw_layers(gens: list[torch.Generator], layers: list[tuple[int, int]],
                 spectral_norm: bool) -> tuple[Tensor, Tensor | None]:
    """Initial weights of every replica: ((seeds, P) parameters, (seeds, U) power-iteration
    vectors or None).

    PyTorch's nn.Linear default init, U(-1/sqrt(in), 1/sqrt(in)) for weight and bias, drawn per
    replica from its own generator in float32 whatever torch's default dtype is (train() casts),
    so a replica's weights never depend on it nor on how many replicas share the batch. Per layer
    and in layer order: the weight (in, out), the bias (out), then the spectral-norm vector.
    """
    params, us = [], []
    for g in gens:
        flat, u = [], []
        for n_in, n_out in layers:
            bound = 1.0 / math.sqrt(n_in)
            flat.append((torch.rand(n_in * n_out, generator=g, dtype=torch.float32) * 2 - 1) * bound)
            flat.append((torch.rand(n_out, generator=g, dtype=torch.float32) * 2 - 1) * bound)
            if spectral_norm:
                u.append(nn.functional.normalize(torch.randn(n_out, generator=g,
                                                             dtype=torch.float32), dim=0))
        params.append(torch.cat(flat))
        us.append(torch.cat(u) if spectral_norm else None)
    return torch.stack(params), (torch.stack(us) if spectral_norm else None)


def linear(h: Jet, W: Tensor, b: Tensor) -> Jet:
    """h W_k + b_k for every replica k: W (K, in, out), b (K, out); the bias shifts the value only
    (the derivatives of a constant are zero)."""
    K, P, n, c = h.a.shape
    out = torch.bmm(h.a.reshape(K, P * n, c), W).view(K, P, n, -1)
    out[:, 0] += b[:, None, :]  # in place: bmm's backward needs its inputs, not its output
    return Jet(out, h.dim, h.order)


class BatchedMLP(nn.Module):
    """One MLP per replica (seed), every replica's weights in one (seeds, P) parameter.

    plain (``cfg.residual`` False): n_in -> ``depth`` hidden layers act(h W + b) -> n_out; depth 0
    is one linear map.
    residual (the DEQGAN paper's "width x depth"): Linear(n_in -> width), act, then ``depth``
    blocks ``h -> act(act(h W1 + b1) W2 + b2 + h)`` (two layers, the skip added before the outer
    activation), then Linear(width -> n_out): 2 depth + 1 hidden layers.

    One flat parameter per network makes the optimiser a handful of element-wise operations on
    one tensor (gan_core.optim.BatchedAdam), and lets a replica be re-initialised or given its own
    learning rate by row. With ``spectral_norm``, every layer's weight is divided by its largest
    singular value (one power iteration per training forward, as torch's spectral_norm does).

    ``native`` (set by train() when gan_core.native.fast_path says so): forward and backward run
    as one native kernel call each (native.py); the PyTorch code below is their reference.
    """

    def __init__(self, seeds: int, n_in: int, n_out: int, cfg: NetConfig, seed: int, stream: int,
                 spectral_norm: bool = False):
        super().__init__()
        self.seeds, self.cfg, self.seed, self.stream = seeds, cfg, seed, stream
        self.spectral_norm = spectral_norm
        self.native = False
        hidden = 2 * cfg.depth + 1 if cfg.residual else cfg.depth
        widths = [n_in] + [cfg.width] * hidden + [n_out]
        self.layers = list(zip(widths[:-1], widths[1:]))  # (in, out) per layer
        self.sizes = [s for a, b in self.layers for s in (a * b, b)]  # weight, bias, weight, ...
        flat, u = _draw_layers(seed_generators(seed, seeds, stream), self.layers, spectral_norm)
        self.params = nn.Parameter(flat)  # (seeds, P)
        if spectral_norm:
            self.register_buffer("u", u)  # (seeds, sum of layer outputs)
        if cfg.dropout:  # masks from the net's own generator, whose state is a buffer: saved in
            # the state_dict, so a resumed run draws the same masks as one that never stopped
            g = torch.Generator().manual_seed(
                int(np.random.SeedSequence([seed, stream, 7]).generate_state(1)[0]))
            self.register_buffer("dropout_rng", g.get_state())

    # -- weights ----------------------------------------------------------------------------------
    def weights(self) -> list[tuple[Tensor, Tensor]]:
        """(W (K, in, out), b (K, out)) per layer: views of the flat parameter (one split, whose
        backward is one cat), spectrally normalised for a spectral-norm net."""
        parts = torch.split(self.params, self.sizes, dim=1)
        K = self.params.shape[0]
        us = (torch.split(self.u, [b for _, b in self.layers], dim=1) if self.spectral_norm
              else [None] * len(self.layers))
        out = []
        for i, ((a, b), u) in enumerate(zip(self.layers, us)):
            W = parts[2 * i].view(K, a, b)
            out.append((self._normalised(W, u) if u is not None else W, parts[2 * i + 1]))
        return out

    def _normalised(self, W: Tensor, u: Tensor) -> Tensor:
        # batched power iteration (torch's spectral_norm handles one 2-D weight, not a stack)
        with torch.no_grad():
            v = nn.functional.normalize(torch.bmm(W, u[..., None])[..., 0], dim=-1)  # (K, in)
            u_new = nn.functional.normalize(torch.bmm(v[:, None], W)[:, 0], dim=-1)  # (K, out)
            if self.training:
                u.copy_(u_new)  # u is a view of the buffer: the buffer is updated
        sigma = torch.einsum("ki,kio,ko->k", v, W, u_new)  # largest singular value per replica
        return W / sigma[:, None, None]

    def reinit(self, rows: list[int], salts: list[int]) -> None:
        """Fresh initial weights for replicas `rows`, each drawn from (seed, row, stream, salt): a
        restarted seed starts over from weights it never had (salt: its restart count)."""
        gens = [torch.Generator().manual_seed(int(np.random.SeedSequence(
            [self.seed, r, self.stream, 1000 + salt]).generate_state(1)[0]))
            for r, salt in zip(rows, salts)]
        flat, u = _draw_layers(gens, self.layers, self.spectral_norm)
        idx = torch.as_tensor(rows, device=self.params.device)
        with torch.no_grad():
            self.params[idx] = flat.to(self.params)
            if self.spectral_norm:
                self.u[idx] = u.to(self.u)

    # -- forward ----------------------------------------------------------------------------------
    def _keep(self, K: int, n: int, layers: int) -> Tensor:
        """(K, layers, n, width) bool: which hidden units the next `layers` dropout layers keep,
        each kept with probability 1 - p, drawn from the net's own generator."""
        g = torch.Generator()
        g.set_state(self.dropout_rng.cpu())
        keep = [torch.rand((K, 1, n, self.cfg.width), generator=g) >= self.cfg.dropout
                for _ in range(layers)]
        self.dropout_rng.copy_(g.get_state())
        return torch.cat(keep, dim=1)

    def _dropout(self, h: Jet) -> Jet:
        """Zero each hidden unit with probability p (the same unit in the value and derivatives)."""
        keep = self._keep(h.a.shape[0], h.a.shape[2], 1)
        return Jet(h.a * keep.to(h.a.device, h.a.dtype) / (1 - self.cfg.dropout), h.dim, h.order)

    def forward(self, x: "Jet | Tensor") -> "Jet | Tensor":
        """x: a Jet with value (seeds, n, n_in), or a plain tensor (seeds, n, n_in)."""
        plain = isinstance(x, Tensor)
        h = Jet(x[:, None], 0, 0) if plain else x
        act = self.cfg.activation
        drop = self.cfg.dropout and self.training
        if self.native:  # one dropout layer per hidden layer (plain) or block (residual): depth
            keep = self._keep(h.a.shape[0], h.a.shape[2], self.cfg.depth) if drop else None
            masks = None if keep is None else keep.to(h.a.dtype) / (1 - self.cfg.dropout)
            y = Jet(native.mlp(self, h.a, h.dim, h.order, masks), h.dim, h.order)
            return y.value if plain else y
        Ws = self.weights()
        if self.cfg.residual:
            h = activate(linear(h, *Ws[0]), act)
            for W1, W2 in zip(Ws[1:-1:2], Ws[2:-1:2]):  # one block: two layers, skip, activation
                h = activate(linear(activate(linear(h, *W1), act), *W2) + h, act)
                if drop:
                    h = self._dropout(h)
        else:
            for W in Ws[:-1]:
                h = activate(linear(h, *W), act)
                if drop:
                    h = self._dropout(h)
        y = linear(h, *Ws[-1])
        if self.cfg.output_tanh:
            y = activate(y, "tanh")
        return y.value if plain else y
