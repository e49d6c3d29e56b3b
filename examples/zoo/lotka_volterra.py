"""Predator and prey: x' = 1.5 x - x y, y' = -3 y + x y on [0, 5], x(0) = y(0) = 1."""

import torch

from gan_core import ODE


class LotkaVolterra(ODE):
    interval = (0.0, 5.0)
    y0 = (1.0, 1.0)
    outputs = ("prey", "predator")
    a, b, c, d = 1.5, 1.0, 3.0, 1.0
    constants = {"a": "prey growth", "c": "predator death", "t_max": "end of the interval"}

    def f(self, t, y):
        x, z = y[..., :1], y[..., 1:]
        return torch.cat([self.a * x - self.b * x * z, -self.c * z + self.d * x * z], dim=-1)
