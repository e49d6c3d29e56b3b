"""A damped, driven oscillator: x'' + 0.2 x' + x = cos(1.5 t) on [0, 10], x(0) = 1, x'(0) = 0."""

import torch

from gan_core import ODE


class ForcedOscillator(ODE):
    interval = (0.0, 10.0)
    y0 = 1.0
    v0 = 0.0              # x'(0): second order
    damping, drive = 0.2, 1.5
    constants = {"damping": "friction", "drive": "driving frequency", "t_max": "end"}

    def f(self, t, x, dx):
        return torch.cos(self.drive * t) - self.damping * dx - x
