"""Truncated Taylor jets: a function's value with its exact 1st and 2nd derivatives per input axis.

Why this exists: the seed notebooks differentiate the solution with
``autograd.grad(create_graph=True)`` and then backpropagate through that graph (double backward),
once per model. Here derivatives travel *forward* with the value, through every layer, by the chain
rule; the loss then needs a single ordinary backward pass, and all seeds share one batched tensor.

A jet holds one tensor ``a`` of shape (seeds, P, n, c) with P = 1 + dim * order:
``a[:, 0]`` is the value, ``a[:, 1 + i]`` the first derivative along axis i, and
``a[:, 1 + dim + i]`` the (pure) second derivative d²/dx_i² along axis i. Mixed derivatives are not
carried: none of the equations here need them.
"""

from __future__ import annotations

from typing import Callable, Union

import torch

Tensor = torch.Tensor
Number = Union[int, float]


class Jet:
    """Value and exact derivatives along `dim` axes, up to `order` (0, 1 or 2)."""

    __slots__ = ("a", "dim", "order")

    def __init__(self, a: Tensor, dim: int, order: int):
        assert a.shape[1] == 1 + dim * order, (a.shape, dim, order)
        self.a = a  # (seeds, P, n, c)
        self.dim = dim
        self.order = order

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def coordinates(cls, X: Tensor, order: int) -> list["Jet"]:
        """One jet per input axis of points X (seeds, n, dim): value x_i, dx_i/dx_j = delta_ij."""
        K, n, dim = X.shape
        out = []
        for i in range(dim):
            parts = [X[:, None, :, i:i + 1]]  # (K, 1, n, 1)
            if order >= 1:
                e = torch.zeros(1, dim, 1, 1, dtype=X.dtype, device=X.device)
                e[:, i] = 1.0
                parts.append(e.expand(K, dim, n, 1))
            if order >= 2:
                parts.append(X.new_zeros(1, dim, 1, 1).expand(K, dim, n, 1))
            out.append(cls(torch.cat(parts, dim=1), dim, order))
        return out

    @classmethod
    def from_parts(cls, value: Tensor, d1: Tensor | None = None, d2: Tensor | None = None) -> "Jet":
        """From value (K, n, c), d1 and d2 (K, dim, n, c): e.g. finite-difference derivatives."""
        parts = [value[:, None]]
        dim, order = 0, 0
        if d1 is not None:
            parts.append(d1)
            dim, order = d1.shape[1], 1
        if d2 is not None:
            parts.append(d2)
            order = 2
        return cls(torch.cat(parts, dim=1), dim, order)

    # -- views --------------------------------------------------------------------------------
    @property
    def value(self) -> Tensor:
        """(seeds, n, c)"""
        return self.a[:, 0]

    def d(self, i: int = 0) -> Tensor:
        """First derivative along axis i: (seeds, n, c)."""
        assert self.order >= 1, "this jet carries no first derivatives"
        return self.a[:, 1 + i]

    def dd(self, i: int = 0) -> Tensor:
        """Second derivative along axis i: (seeds, n, c)."""
        assert self.order >= 2, "this jet carries no second derivatives"
        return self.a[:, 1 + self.dim + i]

    def __getitem__(self, j: int) -> "Jet":
        """Output component j as a one-channel jet."""
        return Jet(self.a[..., j:j + 1], self.dim, self.order)

    def _like(self, a: Tensor) -> "Jet":
        return Jet(a, self.dim, self.order)

    # -- arithmetic ---------------------------------------------------------------------------
    def _split(self) -> tuple[Tensor, Tensor, Tensor]:
        # one split (its backward is one cat) rather than three slices, whose backwards each
        # allocate a zero tensor of the full jet's size and add them up
        D = self.dim
        d1 = D if self.order >= 1 else 0
        return torch.split(self.a, [1, d1, self.a.shape[1] - 1 - d1], dim=1)

    def __add__(self, other: "Jet | Tensor | Number") -> "Jet":
        if isinstance(other, Jet):
            return self._like(self.a + other.a)
        v, rest = self.a[:, :1] + _as_value(other), self.a[:, 1:]
        return self._like(torch.cat([v, rest.expand(v.shape[0], rest.shape[1], *v.shape[2:])], 1))

    __radd__ = __add__

    def __neg__(self) -> "Jet":
        return self._like(-self.a)

    def __sub__(self, other: "Jet | Tensor | Number") -> "Jet":
        return self + (-other)

    def __rsub__(self, other: "Jet | Tensor | Number") -> "Jet":
        return (-self) + other

    def __mul__(self, other: "Jet | Tensor | Number") -> "Jet":
        if not isinstance(other, Jet):  # a constant scales value and derivatives alike
            return self._like(self.a * _as_value(other))
        if self.order == 0:
            return self._like(self.a * other.a)
        u0, u1, u2 = self._split()
        v0, v1, v2 = other._split()
        parts = [u0 * v0, u1 * v0 + u0 * v1]
        if self.order >= 2:
            parts.append(u2 * v0 + 2.0 * u1 * v1 + u0 * v2)
        return self._like(torch.cat(parts, dim=1))

    __rmul__ = __mul__

    def apply(self, f: Callable[[Tensor], tuple[Tensor, ...]]) -> "Jet":
        """Compose with a scalar function; f(x) returns (f, f', f'') up to this jet's order."""
        u0, u1, u2 = self._split()
        fs = f(u0)
        parts = [fs[0]]
        if self.order >= 1:
            parts.append(fs[1] * u1)
        if self.order >= 2:
            parts.append(fs[2] * u1 * u1 + fs[1] * u2)
        return self._like(torch.cat(parts, dim=1))

    def exp(self) -> "Jet":
        return self.apply(lambda x: (lambda e: (e, e, e))(torch.exp(x)))

    def sin(self) -> "Jet":
        return self.apply(lambda x: (torch.sin(x), torch.cos(x), -torch.sin(x)))

    def cos(self) -> "Jet":
        return self.apply(lambda x: (torch.cos(x), -torch.sin(x), -torch.cos(x)))

    def cosh(self) -> "Jet":
        return self.apply(lambda x: (torch.cosh(x), torch.sinh(x), torch.cosh(x)))

    def reciprocal(self) -> "Jet":
        def f(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            r = 1 / x
            return r, -r * r, 2 * r * r * r
        return self.apply(f)

    def __pow__(self, p: int) -> "Jet":
        assert isinstance(p, int) and p >= 1
        return self.apply(lambda x: (x ** p, p * x ** (p - 1),
                                     p * (p - 1) * x ** (p - 2) if p >= 2 else torch.zeros_like(x)))

    def cat(self, others: list["Jet"]) -> "Jet":
        """Concatenate output channels."""
        return self._like(torch.cat([self.a] + [o.a for o in others], dim=-1))


def _as_value(x: "Tensor | Number") -> "Tensor | Number":
    """A plain tensor (seeds, n, c) broadcast against a jet's value slice (seeds, 1, n, c)."""
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        return x[:, None]
    return x
