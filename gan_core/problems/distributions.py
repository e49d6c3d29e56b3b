"""Distribution problems: a classic GAN learns to sample from data (the classic-GAN seed notebooks).

G maps noise z (seeds, n, noise_dim) to samples (seeds, n, data_dim); D tells real data from G's
samples. Quality is measured on `eval_samples` fresh samples per seed against held-out real data,
with established implementations (scipy's Wasserstein and pairwise distances); the
problem's ``metric`` is the primary one (lower is better) and decides failure.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .base import ProblemBase


class Distribution(ProblemBase):
    """A data distribution for G to imitate."""

    family: ClassVar[str] = "dist"
    baseline_method: ClassVar[str | None] = "vae"  # the non-adversarial baseline
    plot: ClassVar[str] = "samples"  # each seed's samples over held-out real ones
    data_dim: ClassVar[int] = 2
    noise_dim: ClassVar[int] = 2
    noise: ClassVar[str] = "normal"  # z ~ N(0, I), or "uniform": z ~ U(0, 1)
    n_default: ClassVar[int] = 256  # batch size: real and fake samples per seed and step
    train_size: ClassVar[int] = 2000  # fixed training set (as the seed notebooks use)
    eval_samples: ClassVar[int] = 1000  # samples per seed for the quality metrics
    metric: ClassVar[str]  # the primary quality metric, lower is better
    failure_threshold: ClassVar[float]  # primary metric above this = a failed seed
    # labelled data (moons): `labels` classes. "conditional": G and D both see the one-hot label
    # (cGAN); "code": G gets a random one-hot code that D's extra head must recover from G's
    # samples (InfoGAN); quality then also gets the labels (see quality)
    labels: ClassVar[int] = 0
    label_use: ClassVar[str] = "none"  # none | conditional | code
    # a sweep's default objective: the failure rate (a seed that collapses fails, however well its
    # siblings do; the median would not see it), ties broken by the median (sweeps.spaces)
    sweep_objective: ClassVar[str] = "failures"

    def __init__(self, n_points: int | None = None):
        self.n = n_points or self.n_default

    @property
    def n_out(self) -> int:
        return self.data_dim

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n real samples, (n, data_dim)."""
        raise NotImplementedError

    def sample_labelled(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n real samples and their labels in 0..labels-1, for problems with `labels`."""
        raise NotImplementedError(f"{self.key} has no labels")

    def datasets(self, train_rng: np.random.Generator, heldout_rng: np.random.Generator,
                 labelled: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray,
                                          np.ndarray | None]:
        """(training data, its labels, held-out data, its labels): train_size and eval_samples
        fresh samples (labels None unless `labelled`). A fixed data set (PointCloud) splits its
        points instead."""
        if labelled:
            return (*self.sample_labelled(self.train_size, train_rng),
                    *self.sample_labelled(self.eval_samples, heldout_rng))
        return (self.sample(self.train_size, train_rng), None,
                self.sample(self.eval_samples, heldout_rng), None)

    def quality(self, x: np.ndarray, real: np.ndarray, **labels: np.ndarray) -> dict[str, float]:
        """Metrics of samples x (m, data_dim) against held-out real samples; includes `metric`.

        Problems with `labels` also get y (the label or code each sample was drawn with) and
        y_real (the held-out samples' labels).
        """
        raise NotImplementedError

    def density(self, x: np.ndarray) -> np.ndarray:
        """The data density at x (m, data_dim), for D pre-training; only some problems know it."""
        raise NotImplementedError(f"{self.key} has no closed-form density")

    @classmethod
    def has_density(cls) -> bool:
        return cls.density is not Distribution.density

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch={self.n})"


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistic); 0 iff same distribution.

    From scipy's pairwise distances: the same numbers as dcor.energy_distance (tested), without
    its import, which compiles numba code for ~5-25 s in every process (each Ray worker).
    """
    from scipy.spatial.distance import cdist

    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("inf")
    return float(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())


COVERAGE_SHARE = 0.2  # a mode / class is covered with >= 20% of its fair share of the samples


def covered(counts: np.ndarray, n_samples: int) -> int:
    """How many of the len(counts) modes (or classes) are covered: got at least COVERAGE_SHARE of
    their fair share n_samples / len(counts); the mode-collapse rule of the mixtures and digits."""
    return int((counts >= COVERAGE_SHARE * n_samples / len(counts)).sum())


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

    def density(self, x: np.ndarray) -> np.ndarray:
        from scipy.stats import norm

        return norm.pdf(x, loc=self.mean, scale=self.std)

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
    study = "gauss2d"
    failure_threshold = 0.05
    # the moments need many samples: with 1000, sampling noise alone gives a covariance error of
    # ~0.25 (Var S_22 = 2 * 4.25^2 / n) and a mean error of ~0.07; with 20000, ~0.06 and ~0.015
    eval_samples = 20000
    energy_samples = 2000  # energy distance on a subset: its cost grows with the product of sizes
    A = np.array([[1.0, 2.0], [-0.1, 0.5]])
    b = np.array([1.0, 2.0])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(size=(n, 2)) @ self.A + self.b

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        if not np.isfinite(x).all():
            return {"energy": float("inf"), "mean_error": float("inf"), "cov_error": float("inf")}
        cov = self.A.T @ self.A  # covariance of z A
        m = self.energy_samples
        return {"energy": energy_distance(x[:m], real[:m]),
                "mean_error": float(np.linalg.norm(x.mean(0) - self.b)),
                "cov_error": float(np.linalg.norm(np.cov(x.T) - cov))}


class Moons(Distribution):
    """scikit-learn's two moons, 2000 points, noise 0.05 (seed 002); energy distance decides."""

    key = "moons"
    noise_dim = 32
    metric = "energy"
    study = "moons"  # the cGAN and InfoGAN variants share the study and the budget
    # a trial (4 seeds, 3000 iterations of the preset) is ~1-2 min on one core plus an energy
    # distance per seed and report; ASHA stops most trials at 1/8 or 3/8: the time budget ends it
    sweep_budget = {"trials": 24, "seeds": 4, "time_budget": 480}
    # two independent 1000-point real samples are 1-2e-4 apart; a seed that has learnt both moons
    # lands below 0.01, one that misses a moon or smears between them lands at 0.05-0.4
    failure_threshold = 0.02
    labels = 2  # which moon; used by the cGAN and InfoGAN variants

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.sample_labelled(n, rng)[0]

    def sample_labelled(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_moons

        return make_moons(n, noise=0.05, random_state=int(rng.integers(2 ** 31)))

    def quality(self, x: np.ndarray, real: np.ndarray, **labels: np.ndarray) -> dict[str, float]:
        return {"energy": energy_distance(x, real)}


class MoonsCGAN(Moons):
    """Moons with the moon given to G and D as a one-hot label; each label's samples must match
    that moon (the mean of the two per-label energy distances decides)."""

    key = "moons_cgan"
    metric = "label_energy"
    label_use = "conditional"

    def quality(self, x: np.ndarray, real: np.ndarray, **labels: np.ndarray) -> dict[str, float]:
        return label_energy(x, real, labels["y"], labels["y_real"], self.labels)


def label_energy(x: np.ndarray, real: np.ndarray, y: np.ndarray, y_real: np.ndarray,
                 n_labels: int) -> dict[str, float]:
    """A conditional GAN's quality: each label's samples against that label's real ones (their
    mean decides, ``label_energy``), the overall energy distance, and each label's."""
    per = [energy_distance(x[y == c], real[y_real == c]) for c in range(n_labels)]
    return {"label_energy": float(np.mean(per)), "energy": energy_distance(x, real),
            **{f"energy_label{c}": e for c, e in enumerate(per)}}


class MoonsInfoGAN(Moons):
    """Moons with the labels hidden: G gets a 2-way code and D's extra head learns to recover it
    from G's samples (InfoGAN). The code should come to pick the moon: `code_error` is 1 - the
    accuracy of code -> moon up to swapping the codes (0 = the code picks the moon; 0.5 = chance),
    with each sample's moon taken from its nearest held-out real point."""

    key = "moons_infogan"
    # a small z: with moons' 32 noise dims the code was used on only 1 of 4 seeds (code error
    # 0.20-0.48 after 2000 iterations); with 2, on 2-3 of 4
    noise_dim = 2
    metric = "code_error"
    failure_threshold = 0.1  # more than 1 sample in 10 on the other moon than its code says
    label_use = "code"
    baseline_method = None  # its metric is about the code D recovers: a VAE has none

    def quality(self, x: np.ndarray, real: np.ndarray, **labels: np.ndarray) -> dict[str, float]:
        from sklearn.neighbors import KNeighborsClassifier

        energy = energy_distance(x, real)
        if not np.isfinite(x).all():
            return {"code_error": 0.5, "energy": energy}
        moon = KNeighborsClassifier(n_neighbors=1).fit(real, labels["y_real"]).predict(x)
        acc = float(np.mean(moon == labels["y"]))
        return {"code_error": min(acc, 1 - acc), "energy": energy}  # two codes: best of 2 matchings


def mode_metrics(x: np.ndarray, means: np.ndarray, scales: np.ndarray,
                 weights: np.ndarray | None = None) -> dict[str, float]:
    """The mode-collapse metrics of VEEGAN and PacGAN (Lin et al. 2018, Table 1) for samples x
    (m, d) of a mixture with modes at `means` (M, d), per-axis std `scales` (M, d) and real
    shares `weights` (M,) (None: equal):

      high_quality    share of samples within 3 std of their nearest mode (the distance scaled
                      per axis, as PacGAN's code does; real samples of a 2-D Gaussian: 98.9%)
      modes_captured  modes with at least one high-quality sample (PacGAN's "modes")
      modes_covered   modes with at least COVERAGE_SHARE of their fair share of the samples as
                      high-quality ones (gansweep's stricter rule; digits' classes alike)
      modes_missed    M - modes_covered
      reverse_kl      KL(histogram of the high-quality samples over their modes || weights):
                      0 balanced, log M for one mode (also when no sample is high-quality)

    Any non-finite sample gives the worst value of every metric.
    """
    M = len(means)
    w = np.full(M, 1.0 / M) if weights is None else np.asarray(weights, dtype=float)
    worst_kl = float(np.log(1.0 / w.min()))  # all samples on the rarest mode
    if len(x) == 0 or not np.isfinite(x).all():
        return {"modes_missed": float(M), "modes_covered": 0.0, "modes_captured": 0.0,
                "high_quality": 0.0, "reverse_kl": worst_kl}
    from scipy.stats import entropy

    z = (x[:, None, :] - means[None]) / scales[None]  # (samples, modes, d)
    d = np.sqrt((z * z).sum(-1))
    nearest, dist = d.argmin(1), d.min(1)
    good = dist < 3.0  # a high-quality sample
    counts = np.bincount(nearest[good], minlength=M)  # (modes,) of the high-quality samples
    n_covered = (covered(counts, len(x)) if weights is None
                 else int((counts >= COVERAGE_SHARE * w * len(x)).sum()))
    kl = float(entropy(counts / counts.sum(), w)) if counts.sum() else worst_kl
    return {"modes_missed": float(M - n_covered), "modes_covered": float(n_covered),
            "modes_captured": float((counts > 0).sum()), "high_quality": float(good.mean()),
            "reverse_kl": kl}


class _Mixture(Distribution):
    """Equal-weight Gaussians at `modes` with std `sigma`: the standard mode-collapse tests, judged
    as VEEGAN and PacGAN do (``mode_metrics``) on 2500 samples, and by the energy distance."""

    metric = "modes_missed"
    study = "mixtures"  # the remedies for mode collapse among the choices (sweeps/spaces.py)
    # PacGAN's reverse KL or the energy distance may be primary instead (Config.metric), failing
    # above these: missing one of 8 modes alone is a KL of log(8/7) = 0.13 (one of 25: 0.04);
    # 1000 real samples are 0.006 (ring8) / 0.015 (grid25) in energy from 1000 others, and 0.06 /
    # 0.04 from 1000 real samples with one mode left out
    metric_thresholds = {"reverse_kl": 0.1, "energy": 0.03}
    tiebreak = "high_quality"  # a sweep's objective: collapsed seeds first, then blurred samples
    eval_samples = 2500  # the PacGAN table's
    energy_samples = 1000  # energy distance on a subset: its cost grows with the product of sizes
    sigma: ClassVar[float]

    @classmethod
    def modes(cls) -> np.ndarray:
        raise NotImplementedError

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        m = self.modes()
        return m[rng.integers(len(m), size=n)] + self.sigma * rng.normal(size=(n, 2))

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        m = self.modes()
        e = self.energy_samples
        energy = energy_distance(x[:e], real[:e]) if real is not None else float("nan")
        return {**mode_metrics(x, m, np.full_like(m, self.sigma)), "energy": energy}


class Ring8(_Mixture):
    """8 Gaussians on a circle of radius 2, std 0.02."""

    key = "ring8"
    sigma = 0.02
    # its preset's trial (4 seeds, 24000 iterations) is 1-3 min on a shared core
    sweep_budget = {"trials": 16, "seeds": 4, "time_budget": 1800}
    failure_threshold = 1.0  # more than one of the 8 modes missed = mode collapse

    @classmethod
    def modes(cls) -> np.ndarray:
        a = 2 * np.pi * np.arange(8) / 8
        return 2.0 * np.stack([np.cos(a), np.sin(a)], axis=1)


class Grid25(_Mixture):
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05."""

    key = "grid25"
    sigma = 0.05
    # its preset's trial (4 seeds, 18000 iterations of G and D 256x3) is 5-10 min on a shared
    # core: fewer trials than the default 16, most stopped by ASHA at 1/8 or 3/8
    sweep_budget = {"trials": 12, "seeds": 4, "time_budget": 2700}
    failure_threshold = 3.0  # more than 3 of the 25 modes missed = mode collapse

    @classmethod
    def modes(cls) -> np.ndarray:
        g = np.arange(-4.0, 5.0, 2.0)
        return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
