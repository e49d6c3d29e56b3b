"""A stiff linear system: x' = -x + 2 y, y' = x - 40 y on [0, 4], x(0) = 2, y(0) = 1 (time scales
1 and 1/40)."""

import torch

from gan_core import ODE


class StiffSystem(ODE):
    interval = (0.0, 4.0)
    y0 = (2.0, 1.0)

    def f(self, t, y):
        x, z = y[..., :1], y[..., 1:]
        return torch.cat([-x + 2 * z, x - 40 * z], dim=-1)
