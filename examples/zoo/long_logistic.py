"""Logistic growth over a long horizon: P' = r P (1 - P / K), r = 0.3, K = 20, on [0, 40],
P(0) = 0.5 (units: the population in thousands)."""

from gan_core import ODE


class LongLogistic(ODE):
    interval = (0.0, 40.0)
    y0 = 0.5
    r, K = 0.3, 20.0
    constants = {"r": "growth rate", "K": "carrying capacity", "t_max": "end of the interval"}

    def f(self, t, P):
        return self.r * P * (1 - P / self.K)
