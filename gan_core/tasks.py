"""What the training loop asks of a problem family: inputs, the (real, fake) pair D judges, and
the evaluation. Two families: differential equations (DEQGAN) and data distributions (classic GAN).

             inputs X                  real                    fake
  DE         grid + Gaussian noise     zeros (or the rhs)      residual F (or the lhs), from G(X)
  dist       noise z                   a batch of data         G(z)
"""

from __future__ import annotations

import numpy as np
import torch

from .config import Config
from .jets import Jet
from .losses import _per_seed
from .problems.distributions import Distribution
from .problems.base import Problem

Tensor = torch.Tensor


class DETask:
    """A differential equation: the error metric is the MSE against the reference on the grid."""

    metric = "mse"

    def __init__(self, problem: Problem, cfg: Config, device: torch.device, dtype: torch.dtype):
        self.problem, self.cfg, self.K = problem, cfg, cfg.seeds
        self.grid_np = problem.grid()  # (n, dim)
        self.reference_np = problem.reference(self.grid_np)  # (n, n_out)
        self.grid = torch.as_tensor(self.grid_np, dtype=dtype, device=device)
        self.reference = torch.as_tensor(self.reference_np, dtype=dtype, device=device)
        self.noise_std = torch.as_tensor(problem.noise_std(), dtype=dtype, device=device)
        self.n, self.n_in = self.grid.shape  # points, G's input size
        self.n_out = problem.n_out
        self.d_channels = problem.n_eq  # what D sees of one point
        self.cond_dim = self.n_in  # conditional D appends the coordinates
        self.failure_threshold = problem.failure_threshold

    def draw(self, rng: torch.Generator) -> Tensor:
        """Fresh collocation points for every seed: the grid plus Gaussian noise, (K, n, dim)."""
        g = self.grid
        return g + self.noise_std * torch.randn((self.K, *g.shape), generator=rng, dtype=g.dtype,
                                                device=g.device)

    def pair(self, G: torch.nn.Module, X: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """(real, fake), each (K, n, n_eq): DEQGAN's (zeros, residual) or the seed's (rhs, lhs)."""
        coords = Jet.coordinates(X, self.problem.order)
        u = self.problem.solution(G(self.problem.net_input(coords)), coords)
        lhs, rhs = self.problem.equation(u, coords)
        if self.cfg.method == "gan_lhs_rhs":
            return rhs, lhs
        return torch.zeros_like(lhs), lhs - rhs

    def evaluate(self, G: torch.nn.Module) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(MSE per seed, prediction (K, n, n_out), no extra metrics)."""
        with torch.no_grad():
            coords = Jet.coordinates(self.grid.expand(self.K, *self.grid.shape), order=0)
            u = self.problem.solution(G(self.problem.net_input(coords)), coords).value
            err = (u - self.reference).double()
            return _per_seed(err * err).cpu().numpy(), u.cpu().numpy(), {}


class DistTask:
    """A data distribution: G(z) against a fixed training set; quality on held-out samples."""

    def __init__(self, problem: Distribution, cfg: Config, device: torch.device,
                 dtype: torch.dtype):
        self.problem, self.cfg, self.K = problem, cfg, cfg.seeds
        self.metric = problem.metric
        data_rng = np.random.default_rng([cfg.seed, 101])
        self.data = torch.as_tensor(problem.sample(problem.train_size, data_rng), dtype=dtype,
                                    device=device)  # (train_size, data_dim)
        self.reference_np = problem.sample(problem.eval_samples, np.random.default_rng([cfg.seed,
                                                                                        202]))
        self.grid_np = np.zeros((problem.eval_samples, 0))  # no grid: samples are compared
        self.n, self.n_in, self.n_out = problem.n, problem.noise_dim, problem.data_dim
        self.d_channels, self.cond_dim = problem.data_dim, 0
        self.failure_threshold = problem.failure_threshold
        # the same evaluation noise at every report, so curves show G changing, not z
        eval_rng = torch.Generator(device=device).manual_seed(cfg.seed + 303)
        self.z_eval = self._noise((self.K, problem.eval_samples), eval_rng, dtype, device)

    def _noise(self, shape: tuple[int, int], rng: torch.Generator, dtype: torch.dtype,
               device: torch.device) -> Tensor:
        size = (*shape, self.problem.noise_dim)
        if self.problem.noise == "uniform":
            return torch.rand(size, generator=rng, dtype=dtype, device=device)
        return torch.randn(size, generator=rng, dtype=dtype, device=device)

    def draw(self, rng: torch.Generator) -> Tensor:
        """Noise z for every seed, (K, n, noise_dim)."""
        return self._noise((self.K, self.n), rng, self.data.dtype, self.data.device)

    def pair(self, G: torch.nn.Module, X: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """(a batch of real data per seed, G's samples), each (K, n, data_dim)."""
        idx = torch.randint(len(self.data), (self.K, self.n), generator=rng,
                            device=self.data.device)
        return self.data[idx], G(X)

    def evaluate(self, G: torch.nn.Module) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(primary metric per seed, samples (K, m, data_dim), every metric per seed)."""
        with torch.no_grad():
            x = G(self.z_eval).double().cpu().numpy()
        per_seed = [self.problem.quality(x[k], self.reference_np) for k in range(self.K)]
        extras = {name: np.array([q[name] for q in per_seed]) for name in per_seed[0]}
        return extras[self.metric].copy(), x, extras
