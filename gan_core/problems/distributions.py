"""Distribution problems: a classic GAN learns to sample from data (the classic-GAN seed notebooks).

G maps noise z (seeds, n, noise_dim) to samples (seeds, n, data_dim); D tells real data from G's
samples. Quality is measured on `eval_samples` fresh samples per seed against held-out real data,
with established implementations (scipy's Wasserstein distance, dcor's energy distance); the
problem's ``metric`` is the primary one (lower is better) and decides failure.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np


class Distribution:
    """A data distribution for G to imitate."""

    key: ClassVar[str]
    family: ClassVar[str] = "dist"
    data_dim: ClassVar[int] = 2
    noise_dim: ClassVar[int] = 2
    noise: ClassVar[str] = "normal"  # z ~ N(0, I), or "uniform": z ~ U(0, 1)
    n_default: ClassVar[int] = 256  # batch size: real and fake samples per seed and step
    train_size: ClassVar[int] = 2000  # fixed training set (as the seed notebooks use)
    eval_samples: ClassVar[int] = 1000  # samples per seed for the quality metrics
    metric: ClassVar[str]  # the primary quality metric, lower is better
    failure_threshold: ClassVar[float]  # primary metric above this = a failed seed

    def __init__(self, n_points: int | None = None):
        self.n = n_points or self.n_default

    @property
    def n_out(self) -> int:
        return self.data_dim

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n real samples, (n, data_dim)."""
        raise NotImplementedError

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        """Metrics of samples x (m, data_dim) against held-out real samples; includes `metric`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch={self.n})"


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance between two samples (dcor's implementation); 0 iff same distribution."""
    import dcor

    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("inf")
    return float(dcor.energy_distance(x, y))


class Gauss1D(Distribution):
    """N(-1, 1) from uniform noise z ~ U(0, 1) (seed 001); 1-D Wasserstein distance decides."""

    key = "gauss1d"
    data_dim = noise_dim = 1
    noise = "uniform"
    metric = "w1"
    failure_threshold = 0.1  # two independent 1000-samples of N(-1,1) are ~0.05 apart
    mean, std = -1.0, 1.0

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.std, size=(n, 1))

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        from scipy.stats import wasserstein_distance

        if not np.isfinite(x).all():
            return {"w1": float("inf"), "mean_error": float("inf"), "std_error": float("inf")}
        return {"w1": float(wasserstein_distance(x[:, 0], real[:, 0])),
                "mean_error": float(abs(x.mean() - self.mean)),
                "std_error": float(abs(x.std() - self.std))}


class Gauss2D(Distribution):
    """x = z A + b, z ~ N(0, I), A = [[1, 2], [-0.1, 0.5]], b = [1, 2] (seed 003)."""

    key = "gauss2d"
    metric = "energy"
    failure_threshold = 0.05
    A = np.array([[1.0, 2.0], [-0.1, 0.5]])
    b = np.array([1.0, 2.0])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(size=(n, 2)) @ self.A + self.b

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        if not np.isfinite(x).all():
            return {"energy": float("inf"), "mean_error": float("inf"), "cov_error": float("inf")}
        cov = self.A.T @ self.A  # covariance of z A
        return {"energy": energy_distance(x, real),
                "mean_error": float(np.linalg.norm(x.mean(0) - self.b)),
                "cov_error": float(np.linalg.norm(np.cov(x.T) - cov))}


class Moons(Distribution):
    """scikit-learn's two moons, 2000 points, noise 0.05 (seed 002); energy distance decides."""

    key = "moons"
    noise_dim = 32
    metric = "energy"
    failure_threshold = 0.02

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        from sklearn.datasets import make_moons

        x, _ = make_moons(n, noise=0.05, random_state=int(rng.integers(2 ** 31)))
        return x

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        return {"energy": energy_distance(x, real)}


class _Mixture(Distribution):
    """Equal-weight Gaussians at `modes` with std `sigma`: the standard mode-collapse tests."""

    metric = "modes_missed"
    sigma: ClassVar[float]

    @classmethod
    def modes(cls) -> np.ndarray:
        raise NotImplementedError

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        m = self.modes()
        return m[rng.integers(len(m), size=n)] + self.sigma * rng.normal(size=(n, 2))

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        m = self.modes()
        if not np.isfinite(x).all():
            return {"modes_missed": float(len(m)), "modes_covered": 0.0, "high_quality": 0.0}
        d = np.linalg.norm(x[:, None, :] - m[None], axis=-1)  # (samples, modes)
        nearest, dist = d.argmin(1), d.min(1)
        good = dist < 3 * self.sigma  # a high-quality sample: within 3 sigma of a mode
        counts = np.bincount(nearest[good], minlength=len(m))
        # a mode is covered when it gets at least a fifth of its fair share of good samples
        covered = int((counts >= 0.2 * len(x) / len(m)).sum())
        return {"modes_missed": float(len(m) - covered), "modes_covered": float(covered),
                "high_quality": float(good.mean())}


class Ring8(_Mixture):
    """8 Gaussians on a circle of radius 2, std 0.02."""

    key = "ring8"
    sigma = 0.02
    failure_threshold = 1.0  # more than one of the 8 modes missed = mode collapse

    @classmethod
    def modes(cls) -> np.ndarray:
        a = 2 * np.pi * np.arange(8) / 8
        return 2.0 * np.stack([np.cos(a), np.sin(a)], axis=1)


class Grid25(_Mixture):
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05."""

    key = "grid25"
    sigma = 0.05
    failure_threshold = 3.0  # more than 3 of the 25 modes missed = mode collapse

    @classmethod
    def modes(cls) -> np.ndarray:
        g = np.arange(-4.0, 5.0, 2.0)
        return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
