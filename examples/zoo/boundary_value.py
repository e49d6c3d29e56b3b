"""A boundary-value problem: u'' = -(3 pi / 2)^2 sin(3 pi x / 2) on [0, 1], u(0) = 0, u(1) = -1.

Not an initial-value problem, so a ``Problem``: the trial solution u = -x + x (1 - x) N(x) meets
both boundary values exactly; the reference is sin(3 pi x / 2).
"""

import numpy as np
import torch

from gan_core import Problem

K = 1.5 * np.pi


class BoundaryValue(Problem):
    bounds = ((0.0, 1.0),)
    axes = ("x",)
    outputs = ("u",)
    order = 2

    def solution(self, N, coords):
        (x,) = coords
        return -1.0 * x + x * (1.0 - x) * N

    def equation(self, u, coords):
        x = coords[0].value
        return u.dd(), -K ** 2 * torch.sin(K * x)

    def reference(self, X):
        return np.sin(K * X[:, :1])
