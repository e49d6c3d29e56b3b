"""A relaxation oscillator (van der Pol): x'' = mu (1 - x^2) x' - x, mu = 2, on [0, 8],
x(0) = 1, x'(0) = 0."""

from gan_core import ODE


class VanDerPol(ODE):
    interval = (0.0, 8.0)
    y0 = 1.0
    v0 = 0.0
    mu = 2.0
    constants = {"mu": "nonlinear damping", "t_max": "end of the interval"}

    def f(self, t, x, dx):
        return self.mu * (1 - x * x) * dx - x
