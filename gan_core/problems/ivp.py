"""An ODE from its right-hand side: give f, the interval and the initial values; gansweep builds
the rest.

    class Logistic(ODE):  # x' = x (1 - x) on [0, 10], x(0) = 0.1
        interval = (0.0, 10.0)
        y0 = 0.1

        def f(self, t, y):
            return y * (1 - y)

First order y' = f(t, y) with y(t0) = y0; second order y'' = f(t, y, y') when ``v0 = y'(t0)`` is
given. y may have several components (``y0 = (1.0, 0.0)``). From these, with g = 1 - e^-(t - t0):

  trial solution   y = y0 + g N(t)                  (first order: meets y(t0) = y0 exactly)
                   y = y0 + g v0 + g^2 N(t)         (second order: also y'(t0) = v0)
  residual         y' - f(t, y)                     (y'' - f(t, y, y'))
  reference        scipy's solve_ivp (DOP853, rtol = atol = ``tol``, 1e-10) on the interval,
                   computed once per process and set of constants

f gets torch tensors, t (..., 1) and y (..., c) with the components on the last axis, and returns
y's shape; write it with torch functions (torch.exp, not np.exp): the same f gives the exact
derivatives the training needs and the right-hand side solve_ivp integrates. A constant named in
``constants`` (``{"r": "growth rate"}``) becomes settable as ``problem.r``; keep ``t_max`` in it
when you set your own (the default lists only it): it makes the interval's end settable as
``problem.t_max``. ``outputs`` names the components in plots and tables (default "x" for one
component, "y[0]", "y[1]", ... for several).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from ..jets import Jet
from .base import Problem, Tensor, decay
from .odes import _solve

_REFERENCES: dict[tuple, Any] = {}  # (class, interval, constants, tol) -> dense solution


class ODE(Problem):
    """An initial-value problem y' = f(t, y) (or y'' = f(t, y, y')) given by its right-hand
    side; see the module docstring."""

    interval: ClassVar[tuple[float, float]]  # (t0, t1)
    y0: ClassVar[float | Sequence[float]]  # y(t0), one value per component
    v0: ClassVar[float | Sequence[float] | None] = None  # y'(t0): makes it second order
    tol: ClassVar[float] = 1e-10  # solve_ivp's rtol and atol for the reference
    constants: ClassVar[dict[str, str]] = {"t_max": "end of the interval"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # the Problem attributes follow from the declaration
        if "interval" in cls.__dict__:
            cls.bounds = ((float(cls.interval[0]), float(cls.interval[1])),)
        if hasattr(cls, "y0"):
            cls.n_out = cls.n_eq = len(np.atleast_1d(cls.y0))
            cls.order = 1 if cls.v0 is None else 2
            if "outputs" not in cls.__dict__:
                # y[i]: the component as f indexes it; never "y0", the initial values' name
                cls.outputs = ("x",) if cls.n_out == 1 else tuple(f"y[{i}]" for i in
                                                                  range(cls.n_out))
        super().__init_subclass__(**kwargs)

    def f(self, t: Tensor, y: Tensor, dy: Tensor | None = None) -> Tensor:
        """The right-hand side: y' = f(t, y), or y'' = f(t, y, y') for second order."""
        raise NotImplementedError(f"{type(self).__name__} defines no f(self, t, y)")

    def rhs(self, t: Tensor, y: Tensor, dy: Tensor | None = None) -> Tensor:
        """f at (t, y[, y']), as f's order asks."""
        return self.f(t, y) if self.order == 1 else self.f(t, y, dy)

    # -- the maths gansweep builds -----------------------------------------------------------
    def initial(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(y0, v0) as float arrays of the components (v0 None for first order)."""
        y0 = np.atleast_1d(np.asarray(self.y0, dtype=float))
        return y0, None if self.v0 is None else np.broadcast_to(
            np.asarray(self.v0, dtype=float), y0.shape)

    def solution(self, N: Jet, coords: list[Jet]) -> Jet:
        (t,) = coords
        g = decay(t - self.bounds[0][0])
        y0, v0 = self.initial()
        if v0 is None:
            parts = [float(y0[i]) + g * N[i] for i in range(self.n_out)]
        else:
            parts = [float(y0[i]) + g * float(v0[i]) + g * g * N[i] for i in range(self.n_out)]
        return parts[0].cat(parts[1:]) if len(parts) > 1 else parts[0]

    def equation(self, u: Jet, coords: list[Jet]) -> tuple[Tensor, Tensor]:
        t = coords[0].value  # (seeds, n, 1)
        if self.order == 1:
            return u.d(), self.rhs(t, u.value)
        return u.dd(), self.rhs(t, u.value, u.d())

    def reference(self, X: np.ndarray) -> np.ndarray:
        key = (type(self), self.bounds, tuple(sorted(
            (c, getattr(self, c)) for c in self.constants if c != "t_max")), self.tol)
        if key not in _REFERENCES:
            _REFERENCES[key] = self._integrate()
        return _REFERENCES[key](X[:, 0])[:self.n_out].T

    def _integrate(self):  # noqa: ANN202
        """solve_ivp of f as a first-order system (y, y' for second order), dense output."""
        c = self.n_out
        y0, v0 = self.initial()

        def system(t: float, z: np.ndarray) -> np.ndarray:
            tt = torch.full((1, 1, 1), t, dtype=torch.float64)
            y = torch.as_tensor(z[:c], dtype=torch.float64).reshape(1, 1, c)
            with torch.no_grad():
                if v0 is None:
                    return self.rhs(tt, y).reshape(c).numpy()
                dy = torch.as_tensor(z[c:], dtype=torch.float64).reshape(1, 1, c)
                return np.concatenate([z[c:], self.rhs(tt, y, dy).reshape(c).numpy()])

        start = tuple(y0) if v0 is None else (*y0, *v0)
        return _solve(system, self.bounds[0], start, tol=self.tol)
