"""A pendulum at large amplitude: theta'' = -(g / L) sin(theta) on [0, 10], theta(0) = 2.5 rad."""

import torch

from gan_core import ODE


class Pendulum(ODE):
    interval = (0.0, 10.0)
    y0 = 2.5
    v0 = 0.0
    outputs = ("theta",)
    g_over_L = 1.0

    def f(self, t, theta, dtheta):
        return -self.g_over_L * torch.sin(theta)
