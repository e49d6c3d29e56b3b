"""Poisson with a source: u_xx + u_yy = -5 pi^2 sin(pi x) sin(2 pi y) on [0, 1]^2, u = 0 on the
boundary. Trial solution u = x (1 - x) y (1 - y) N(x, y); reference sin(pi x) sin(2 pi y)."""

import numpy as np
import torch

from gan_core import Problem


class PoissonSource(Problem):
    bounds = ((0.0, 1.0), (0.0, 1.0))
    axes = ("x", "y")
    outputs = ("u",)
    order = 2
    n_default = 20  # points per axis: a 20 x 20 grid

    def solution(self, N, coords):
        x, y = coords
        return x * (1.0 - x) * y * (1.0 - y) * N

    def equation(self, u, coords):
        x, y = coords[0].value, coords[1].value
        return u.dd(0) + u.dd(1), -5 * np.pi ** 2 * torch.sin(np.pi * x) * torch.sin(2 * np.pi * y)

    def reference(self, X):
        return np.sin(np.pi * X[:, :1]) * np.sin(2 * np.pi * X[:, 1:])
