"""Diffusion: u_t = D u_xx, D = 0.05, x in [0, 1], t in [0, 2], u(x, 0) = sin(2 pi x),
u(0, t) = u(1, t) = 0. Trial solution u = sin(2 pi x) + x (1 - x) (1 - e^-t) N(x, t); reference
exp(-4 pi^2 D t) sin(2 pi x)."""

import numpy as np

from gan_core import Problem
from gan_core.problems.base import decay


class Diffusion(Problem):
    bounds = ((0.0, 1.0), (0.0, 2.0))
    axes = ("x", "t")
    outputs = ("u",)
    order = 2
    n_default = 20
    D = 0.05
    constants = {"D": "diffusivity"}

    def solution(self, N, coords):
        x, t = coords
        return (2 * np.pi * x).sin() + x * (1.0 - x) * decay(t) * N

    def equation(self, u, coords):
        return u.d(1), self.D * u.dd(0)

    def reference(self, X):
        x, t = X[:, :1], X[:, 1:]
        return np.exp(-4 * np.pi ** 2 * self.D * t) * np.sin(2 * np.pi * x)
