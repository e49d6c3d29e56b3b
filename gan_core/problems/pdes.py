"""Partial differential equations on a rectangle; axis 0 is x, axis 1 is y or t.

The network sees the coordinates mapped to [0, 1] (x~, t~); the conditions are built into the trial
solution exactly, as in the ODEs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ..jets import Jet
from .base import Problem, Tensor, decay

PI = float(np.pi)


class _PDE(Problem):
    order = 2
    axes = ("x", "t")
    outputs = ("u",)
    n_default = 32
    noise_divisor = 4.0
    normalise_input = True


class Poisson(_PDE):
    """Poisson  u_xx + u_yy = 2x(y-1)(y-2x+xy+2) e^(x-y)  on [0,1]^2,  u = 0 on the boundary.

    Trial solution u = x(1-x) y(1-y) N(x, y); reference x(1-x) y(1-y) e^(x-y).
    """

    key = "pos"
    metric = "mse"  # absolute, as the DEQGAN paper publishes it (rel_mse beside it)
    study = "generic"  # the equations' study around the published configs
    bounds = ((0.0, 1.0), (0.0, 1.0))
    axes = ("x", "y")
    failure_threshold = 1e-6  # the solution is small (|u| < 0.07): 1e-6 is ~5% of its RMS

    def solution(self, N: Jet, coords: list[Jet]) -> Jet:
        x, y = coords
        return x * (1.0 - x) * y * (1.0 - y) * N

    def equation(self, u: Jet, coords: list[Jet]) -> tuple[Tensor, Tensor]:
        x, y = coords[0].value, coords[1].value
        f = 2 * x * (y - 1) * (y - 2 * x + x * y + 2) * torch.exp(x - y)
        return u.dd(0) + u.dd(1), f

    def reference(self, X: np.ndarray) -> np.ndarray:
        x, y = X[:, :1], X[:, 1:]
        return x * (1 - x) * y * (1 - y) * np.exp(x - y)


class Heat(_PDE):
    """Heat  u_t = u_xx,  x in [0,1],  t in [0,0.2],  u(x,0) = sin(pi x),  u(0,t) = u(1,t) = 0.

    Trial solution u = sin(pi x) + x(1-x)(1 - e^-t~) N(x~, t~) with t~ = t / 0.2;
    reference e^(-pi^2 t) sin(pi x).
    """

    key = "hea"
    metric = "mse"  # absolute, as the DEQGAN paper publishes it (rel_mse beside it)
    study = "generic"  # the equations' study around the published configs
    bounds = ((0.0, 1.0), (0.0, 0.2))
    failure_threshold = 1e-4

    def solution(self, N: Jet, coords: list[Jet]) -> Jet:
        x, t = coords
        return (PI * x).sin() + x * (1.0 - x) * decay(t * (1.0 / 0.2)) * N

    def equation(self, u: Jet, coords: list[Jet]) -> tuple[Tensor, Tensor]:
        return u.d(1), u.dd(0)

    def reference(self, X: np.ndarray) -> np.ndarray:
        x, t = X[:, :1], X[:, 1:]
        return np.exp(-PI ** 2 * t) * np.sin(PI * x)


class Wave(_PDE):
    """Wave  u_tt = u_xx  on [0,1]^2,  u(x,0) = sin(pi x),  u_t(x,0) = 0,  u(0,t) = u(1,t) = 0.

    Trial solution u = sin(pi x) + x(1-x)(1 - e^-t)^2 N(x, t): the square keeps u_t(x,0) = 0;
    reference cos(pi t) sin(pi x).
    """

    key = "wav"
    metric = "mse"  # absolute, as the DEQGAN paper publishes it (rel_mse beside it)
    study = "generic"  # the equations' study around the published configs
    bounds = ((0.0, 1.0), (0.0, 1.0))
    failure_threshold = 1e-3

    def solution(self, N: Jet, coords: list[Jet]) -> Jet:
        x, t = coords
        g = decay(t)
        return (PI * x).sin() + x * (1.0 - x) * g * g * N

    def equation(self, u: Jet, coords: list[Jet]) -> tuple[Tensor, Tensor]:
        return u.dd(1), u.dd(0)

    def reference(self, X: np.ndarray) -> np.ndarray:
        x, t = X[:, :1], X[:, 1:]
        return np.cos(PI * t) * np.sin(PI * x)


class Burgers(_PDE):
    """Viscous Burgers  u_t + u u_x = nu u_xx,  nu = 0.001,  x in [-5,5],  t in [0,2.5].

    u(x,0) = sech x. Trial solution u = sech x + (1 - e^-t~) N(x~, t~), t~ = t / 2.5; the reference
    comes from a pseudo-spectral (FFT) solver on the periodic box, computed once and cached on disk.
    A front steepens and a shock forms near t = 2, which makes this the hard one.
    """

    key = "burgers"
    metric = "mse"  # absolute, as the DEQGAN paper publishes it (rel_mse beside it)
    bounds = ((-5.0, 5.0), (0.0, 2.5))
    failure_threshold = 1e-2
    study = "burgers"
    sweep_budget = {"trials": 8, "seeds": 2, "iterations": 2000, "time_budget": 1800}  # slow
    nu = 0.001

    def solution(self, N: Jet, coords: list[Jet]) -> Jet:
        x, t = coords
        return x.cosh().reciprocal() + decay(t * (1.0 / 2.5)) * N

    def equation(self, u: Jet, coords: list[Jet]) -> tuple[Tensor, Tensor]:
        # lhs = u_t, rhs = -u u_x + nu u_xx (so the residual is the full equation)
        return u.d(1), -u.value * u.d(0) + self.nu * u.dd(0)

    def reference(self, X: np.ndarray) -> np.ndarray:
        from scipy.interpolate import RegularGridInterpolator

        xs, ts, U = burgers_reference(self.nu)
        interp = RegularGridInterpolator((xs, ts), U.T, method="linear", bounds_error=False,
                                         fill_value=None)
        return interp(X)[:, None]


# -- Burgers reference: pseudo-spectral solver, computed once and cached ---------------------------
BURGERS_MODES = 4096  # grid points on the periodic box; resolves the front up to t = 2.5
BURGERS_SAVE = (1024, 251)  # stored (x, t) samples


def cache_dir() -> Path:
    """Where computed references live: $GANSWEEP_CACHE, else ~/.cache/gansweep."""
    return Path(os.environ.get("GANSWEEP_CACHE", Path.home() / ".cache" / "gansweep"))


_MEMO: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def burgers_reference(nu: float, L: float = 10.0, t_end: float = 2.5
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x (nx,), t (nt,), u (nt, nx)) for u(x,0) = sech x on [-L/2, L/2), from memory, disk or solve."""
    tag = hashlib.sha1(repr((nu, L, t_end, BURGERS_MODES, BURGERS_SAVE)).encode()).hexdigest()[:12]
    if tag in _MEMO:
        return _MEMO[tag]
    path = cache_dir() / f"burgers_{tag}.npz"
    if path.exists():
        with np.load(path) as z:
            out = (z["x"], z["t"], z["u"])
    else:
        out = _solve_burgers(nu, L, t_end)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, x=out[0], t=out[1], u=out[2])
        os.replace(tmp, path)  # atomic: parallel trials never read a half-written file
    _MEMO[tag] = out
    return out


def _solve_burgers(nu: float, L: float, t_end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.integrate import solve_ivp

    n = BURGERS_MODES
    x = -L / 2 + L * np.arange(n) / n
    k = 2 * np.pi * np.fft.rfftfreq(n, d=L / n)
    dealias = np.abs(k) < (2 / 3) * k.max()  # 2/3 rule for the quadratic term

    def rhs(t: float, u: np.ndarray) -> np.ndarray:
        u_hat = np.fft.rfft(u)
        flux_hat = np.fft.rfft(0.5 * u * u) * dealias  # u u_x = (u^2 / 2)_x
        return np.fft.irfft(-1j * k * flux_hat - nu * k * k * u_hat, n)

    t_save = np.linspace(0.0, t_end, BURGERS_SAVE[1])
    sol = solve_ivp(rhs, (0.0, t_end), 1 / np.cosh(x), t_eval=t_save, method="DOP853",
                    rtol=1e-8, atol=1e-10)
    if not sol.success:
        raise RuntimeError(f"Burgers reference solve failed: {sol.message}")
    stride = n // BURGERS_SAVE[0]
    xs = np.append(x[::stride], L / 2)  # close the periodic box so x = 5 interpolates
    U = sol.y[::stride].T  # (nt, nx)
    U = np.concatenate([U, U[:, :1]], axis=1)
    return xs, t_save, U
