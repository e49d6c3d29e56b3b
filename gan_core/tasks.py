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
    """A differential equation: the error metric is the MSE against the reference on the grid
    (absolute, or relative to the reference's mean square), or the residual without one.

    What a new equation needs is here too: the output scale (N times the solution's scale, the
    residual divided by it), the curriculum's growing interval and causal weighting's weights.
    """

    d_extra = 0  # D's outputs beyond the real/fake logit (only the InfoGAN code head has some)

    def __init__(self, problem: Problem, cfg: Config, device: torch.device, dtype: torch.dtype):
        self.problem, self.cfg, self.K = problem, cfg, cfg.seeds
        self.metric = problem.metric  # mse, rel_mse, or residual for a problem without reference
        self.grid = torch.as_tensor(problem.grid(), dtype=dtype, device=device)  # (n, dim)
        # evaluated on the training grid against the reference; without one, by the residual
        # on a finer grid (the points between the training points count too)
        self.grid_np = problem.grid() if problem.has_reference() else problem.fine_grid()
        self.reference_np = (problem.reference(self.grid_np) if problem.has_reference() else
                             np.full((len(self.grid_np), problem.n_out), np.nan))  # (m, n_out)
        self.eval_grid = torch.as_tensor(self.grid_np, dtype=dtype, device=device)
        self.reference = torch.as_tensor(self.reference_np, dtype=dtype, device=device)
        self.noise_std = torch.as_tensor(problem.noise_std(), dtype=dtype, device=device)
        self.n, self.n_in = self.grid.shape  # points, G's input size
        self.n_out = problem.n_out
        self.d_channels = problem.n_eq  # what D sees of one point
        self.cond_dim = self.n_in  # conditional D appends the coordinates
        self.failure_threshold = problem.failure_threshold
        self.mean_square = (float(np.mean(self.reference_np ** 2)) if problem.has_reference()
                            else None)  # of the reference: what rel_mse divides by
        self.scale = self.residual_scale = None  # output_scale: N's and the residual's sizes
        if cfg.output_scale == "auto":
            self.scale, self.residual_scale = (
                torch.as_tensor(v, dtype=dtype, device=device)
                for v in solution_scale(problem, self.reference_np))
        self.time_axis = problem.time_axis()

    # -- the maths, as the nets see it ----------------------------------------------------------
    def solution(self, N: Jet, coords: list[Jet]) -> Jet:
        """The problem's trial solution of the raw output N, scaled first (``output_scale``)."""
        return self.problem.solution(N if self.scale is None else N * self.scale, coords)

    def residual_sides(self, u: Jet, coords: list[Jet]) -> tuple[Tensor, Tensor]:
        """The equation's (lhs, rhs) at u, each (K, n, n_eq), divided by the residual's scale."""
        lhs, rhs = self.problem.equation(u, coords)
        if self.residual_scale is None:
            return lhs, rhs
        return lhs / self.residual_scale, rhs / self.residual_scale

    # -- points ---------------------------------------------------------------------------------
    def draw(self, rng: torch.Generator, reach: Tensor | None = None) -> Tensor:
        """Fresh collocation points for every seed: the grid plus Gaussian noise, (K, n, dim).
        reach (K,): the trained fraction of the time axis per seed (curriculum), the points
        squeezed into its first part; None: all of it."""
        g = self.grid
        X = g + self.noise_std * torch.randn((self.K, *g.shape), generator=rng, dtype=g.dtype,
                                             device=g.device)
        if reach is None:
            return X
        a = self.time_axis
        t0 = self.problem.bounds[a][0]
        t = t0 + (X[..., a:a + 1] - t0) * reach.to(X.dtype)[:, None, None]
        return torch.cat([X[..., :a], t, X[..., a + 1:]], dim=-1)

    def reach(self, age: np.ndarray) -> Tensor | None:
        """(K,) the curriculum's trained fraction of the time axis for seeds of this age
        (iterations since their (re)start): curriculum_start growing linearly to 1 over the
        first `curriculum` of the run; None when the curriculum is off."""
        c = self.cfg
        if not c.curriculum:
            return None
        grow = np.clip(age / (c.curriculum * c.iterations), 0.0, 1.0)
        return torch.as_tensor(c.curriculum_start + (1.0 - c.curriculum_start) * grow,
                               device=self.grid.device)

    def causal_weights(self, r: Tensor) -> Tensor:
        """Causal weighting's (K, n, 1) weights, no gradient: at each point exp(-causal * the
        integral over the time before it, in fractions of the trained interval, of the residual's
        mean square over the other axes and the equations), so a time is weighted in once the
        times before it are solved."""
        a, n = self.time_axis, self.problem.n
        with torch.no_grad():
            sq = (r * r).mean(-1).reshape(self.K, *[n] * self.problem.dim)  # (K, n, ..., n)
            others = [d + 1 for d in range(self.problem.dim) if d != a]
            per_t = sq.mean(dim=others) if others else sq  # (K, n_t)
            # the mean over the trained interval as a fraction of it: the same eps on any
            # interval and grid (the residual is at unit scale with output_scale "auto")
            before = (torch.cumsum(per_t, dim=1) - per_t) / n  # the times strictly before
            w_t = torch.exp(-self.cfg.causal * before)  # (K, n_t)
            shape = [self.K] + [n if d == a else 1 for d in range(self.problem.dim)]
            w = w_t.reshape(shape).expand(self.K, *[n] * self.problem.dim)
            return w.reshape(self.K, -1, 1)

    def pair(self, G: torch.nn.Module, X: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """(real, fake), each (K, n, n_eq): DEQGAN's (zeros, residual) or the seed's (rhs, lhs)."""
        coords = Jet.coordinates(X, self.problem.order)
        u = self.solution(G(self.problem.net_input(coords)), coords)
        lhs, rhs = self.residual_sides(u, coords)
        if self.cfg.method == "gan_lhs_rhs":
            return rhs, lhs
        return torch.zeros_like(lhs), lhs - rhs

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, G: torch.nn.Module) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(the primary metric per seed: MSE, relative MSE, or the mean squared residual without
        a reference; prediction (K, m, n_out) on the evaluation grid; the other metric of mse and
        rel_mse per seed, where there is a reference)."""
        residual = self.metric == "residual"
        with torch.no_grad():
            X = self.eval_grid.expand(self.K, *self.eval_grid.shape)
            coords = Jet.coordinates(X, order=self.problem.order if residual else 0)
            u = self.solution(G(self.problem.net_input(coords)), coords)
            prediction = u.value.cpu().numpy()
            if residual:  # the problem's own residual, unscaled: its units are the metric's
                lhs, rhs = self.problem.equation(u, coords)
                err = (lhs - rhs).double()
                return _per_seed(err * err).cpu().numpy(), prediction, {}
            err = (u.value - self.reference).double()
            mse = _per_seed(err * err).cpu().numpy()
        both = {"mse": mse, "rel_mse": mse / self.mean_square}
        return both.pop(self.metric), prediction, both

    def collapsed(self, prediction: np.ndarray) -> np.ndarray:
        """(K,) bool: seeds whose solution is (nearly) constant where the reference is not: over
        the second half of the time axis (the first axis without one; the trial solution's bend
        at the start is left out) every component that varies in the reference (std above 1e-3 of
        its RMS) varies less than a tenth as much in the prediction. The classic failure of
        residual training (the zero or a constant solution); all False without a reference."""
        if self.mean_square is None:
            return np.zeros(self.K, dtype=bool)
        a = self.time_axis if self.time_axis is not None else 0
        lo, hi = self.problem.bounds[a]
        late = self.grid_np[:, a] >= (lo + hi) / 2
        ref = self.reference_np[late]  # (m', c)
        varies = ref.std(axis=0) > 1e-3 * np.sqrt(np.mean(ref ** 2, axis=0) + 1e-300)
        if not varies.any():
            return np.zeros(self.K, dtype=bool)
        spread = prediction[:, late].std(axis=1)  # (K, c)
        flat = ~np.isfinite(spread) | (spread < 0.1 * ref.std(axis=0))
        return flat[:, varies].all(axis=1)


def solution_scale(problem: Problem, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_out,) the size of the network output N each solution component needs, and (n_eq,) the
    size of each equation's residual at the start, so that nets and discriminator work at unit
    scale whatever the equation's units.

    N's size: the trial solution is u = A + B N (Lagaris' form: A meets the conditions, B
    vanishes where they hold), so the N that gives the reference is (u - A) / B; its RMS over the
    points where B is at least a tenth of its largest. Without a reference, the largest initial
    value or slope of an ODE (else 1). The residual's: its RMS at N = 0, the trial solution's
    start. Each floored at a tenth of the largest component's, so none is scaled to nothing."""
    X = torch.as_tensor(problem.grid(), dtype=torch.float64)[None]  # (1, n, dim)
    c = problem.n_out
    coords = Jet.coordinates(X, problem.order)
    zero = torch.zeros(1, coords[0].a.shape[1], X.shape[1], c, dtype=torch.float64)
    with torch.no_grad():
        u0 = problem.solution(Jet(zero, problem.dim, problem.order), coords)
        lhs, rhs = problem.equation(u0, coords)
        start = torch.as_tensor(lhs - rhs).double().expand(1, X.shape[1], problem.n_eq)
        A = u0.value[0].numpy()  # (n, c)
        one = zero.clone()
        one[:, 0] = 1.0  # N = 1, derivatives 0: the value part of B
        B = problem.solution(Jet(one, problem.dim, problem.order), coords).value[0].numpy() - A
    if problem.has_reference():
        need = np.zeros(c)
        for k in range(c):
            b = np.abs(B[:, k])
            keep = b >= 0.1 * b.max() if b.max() > 0 else np.zeros(len(b), dtype=bool)
            if keep.any():
                need[k] = np.sqrt(np.mean(((reference[keep, k] - A[keep, k]) / B[keep, k]) ** 2))
    elif hasattr(problem, "initial"):
        y0, v0 = problem.initial()
        need = np.abs(y0) if v0 is None else np.maximum(np.abs(y0), np.abs(v0))
    else:
        need = np.ones(c)
    residual = np.sqrt(np.mean(start[0].numpy() ** 2, axis=0))  # (n_eq,)
    return _floored(need), _floored(residual)


def _floored(scale: np.ndarray) -> np.ndarray:
    """Non-finite or zero sizes to 1 where all are; else each at least a tenth of the largest."""
    scale = np.where(np.isfinite(scale), scale, 0.0)
    top = float(scale.max()) if scale.size and scale.max() > 0 else 1.0
    return np.maximum(scale, 0.1 * top)


class DistTask:
    """A data distribution: G(z) against a fixed training set; quality on held-out samples.

    Labelled problems append a one-hot label to what G gets (z, label) and, for a cGAN, to what
    D sees (x, label); for InfoGAN the label is a code D's extra output head must recover.
    With packing (PacGAN, ``cfg.pack`` = m > 1) D judges m samples at once: the n samples of a
    batch become n // m inputs of m samples side by side (``_pack``).
    """

    def __init__(self, problem: Distribution, cfg: Config, device: torch.device,
                 dtype: torch.dtype):
        self.problem, self.cfg, self.K = problem, cfg, cfg.seeds
        self.metric = cfg.metric or problem.metric
        self.L = problem.labels if problem.label_use != "none" else 0  # one-hot label width
        self.conditional = problem.label_use == "conditional"
        # a VAE decodes samples of its N(0, I) prior, whatever noise the GAN would get
        self.noise = "normal" if cfg.method == "vae" else problem.noise
        data_rng, ref_rng = np.random.default_rng([cfg.seed, 101]), np.random.default_rng(
            [cfg.seed, 202])
        data, y, self.reference_np, self.ref_labels = problem.datasets(data_rng, ref_rng,
                                                                       labelled=bool(self.L))
        if self.L:
            self.data_labels = torch.as_tensor(y, device=device)
        self.data = torch.as_tensor(data, dtype=dtype, device=device)  # (train_size, data_dim)
        self.grid_np = np.zeros((problem.eval_samples, 0))  # no grid: samples are compared
        self.n, self.n_out = problem.n, problem.data_dim
        self.n_in = problem.noise_dim + self.L
        self.d_channels = cfg.pack * (problem.data_dim + (self.L if self.conditional else 0))
        self.d_extra = self.L if problem.label_use == "code" else 0
        self.cond_dim = 0
        self.failure_threshold = problem.primary_metrics()[self.metric]
        # the same evaluation noise (and balanced labels) at every report, so curves show G
        # changing, not z
        eval_rng = torch.Generator(device=device).manual_seed(cfg.seed + 303)
        self.y_eval = np.arange(problem.eval_samples) % max(self.L, 1)
        z = self._noise((self.K, problem.eval_samples), eval_rng, dtype, device)
        self.X_eval = self._with_labels(z, torch.as_tensor(self.y_eval, device=device).expand(
            self.K, -1))

    def _noise(self, shape: tuple[int, int], rng: torch.Generator, dtype: torch.dtype,
               device: torch.device) -> Tensor:
        size = (*shape, self.problem.noise_dim)
        if self.noise == "normal":
            return torch.randn(size, generator=rng, dtype=dtype, device=device)
        u = torch.rand(size, generator=rng, dtype=dtype, device=device)
        if self.cfg.stratified_noise:  # seed 001: one jittered point per stratum of U(0, 1)
            return (torch.arange(shape[1], dtype=dtype, device=device)[:, None] + u) / shape[1]
        return u

    def _with_labels(self, z: Tensor, y: Tensor | None) -> Tensor:
        """z with the one-hot label appended, (K, n, noise_dim + L); z itself without labels."""
        if not self.L:
            return z
        return torch.cat([z, torch.nn.functional.one_hot(y, self.L).to(z.dtype)], dim=-1)

    def reach(self, age: np.ndarray) -> None:
        """No curriculum for data: G's inputs are noise (DETask.reach)."""
        return None

    def collapsed(self, samples: np.ndarray) -> np.ndarray:
        """(K,) all False: mode collapse is the problem's own metric (modes missed), not this."""
        return np.zeros(self.K, dtype=bool)

    def draw(self, rng: torch.Generator, reach: None = None) -> Tensor:
        """G's inputs for every seed, (K, n, n_in): noise z, and a random one-hot label or code."""
        z = self._noise((self.K, self.n), rng, self.data.dtype, self.data.device)
        y = (torch.randint(self.L, (self.K, self.n), generator=rng, device=self.data.device)
             if self.L else None)
        return self._with_labels(z, y)

    def real_batch(self, rng: torch.Generator) -> Tensor:
        """A batch of training data per seed, (K, n, d_channels): a cGAN's with its label."""
        idx = torch.randint(len(self.data), (self.K, self.n), generator=rng,
                            device=self.data.device)
        x = self.data[idx]
        return self._with_labels(x, self.data_labels[idx]) if self.conditional else x

    def pair(self, G: torch.nn.Module, X: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """(a batch of real data per seed, G's samples), each (K, n // pack, d_channels)."""
        fake = G(X)
        if self.conditional:  # D judges each sample together with the label it was asked for
            fake = torch.cat([fake, X[..., -self.L:]], dim=-1)
        return self._pack(self.real_batch(rng)), self._pack(fake)

    def _pack(self, x: Tensor) -> Tensor:
        """(K, n, c) -> (K, n // m, m c): m = cfg.pack consecutive samples (independent draws) as
        one input of D; the n % m left over go unjudged. m = 1: x itself."""
        m = self.cfg.pack
        if m == 1:
            return x
        K, n, c = x.shape
        return x[:, :n // m * m].reshape(K, n // m, m * c)

    def info_loss(self, d_out: Tensor, X: Tensor) -> Tensor:
        """InfoGAN: cross-entropy of D's code head on G's samples against the code in X, (K,)."""
        logits = d_out[..., 1:].reshape(-1, self.L)
        code = X[..., -self.L:].argmax(-1).reshape(-1)
        ce = torch.nn.functional.cross_entropy(logits, code, reduction="none")
        return _per_seed(ce.reshape(self.K, -1))

    def vae_loss(self, G: torch.nn.Module, E: torch.nn.Module, rng: torch.Generator) -> Tensor:
        """Negative ELBO per seed (beta-VAE form): |x - G(z)|^2 + kl_weight KL(q(z|x) | N(0, I)).

        E (the encoder, in D's slot) maps a real batch to (mu, log var); z = mu + sigma eps.
        """
        real = self.real_batch(rng)
        mu, logvar = E(real).chunk(2, dim=-1)
        eps = torch.randn(mu.shape, generator=rng, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        if self.conditional:  # a conditional VAE: the decoder also gets the label
            z = torch.cat([z, real[..., -self.L:]], dim=-1)
        err = G(z) - real[..., :self.n_out]
        kl = 0.5 * (mu * mu + logvar.exp() - 1 - logvar).sum(-1)
        return _per_seed((err * err).sum(-1) + self.cfg.kl_weight * kl)

    def pretrain(self, D: torch.nn.Module, opt: torch.optim.Optimizer, rng: torch.Generator
                 ) -> None:
        """Seed 001: before the game, fit sigmoid(D(x)) to the data density by least squares at
        points spread uniformly over mean +- 5 std of the data, for cfg.d_pretrain steps."""
        lo = self.data.mean(0) - 5 * self.data.std(0)
        span = 10 * self.data.std(0)
        for _ in range(self.cfg.d_pretrain):
            x = lo + span * torch.rand((self.K, self.n, self.n_out), generator=rng,
                                       dtype=self.data.dtype, device=self.data.device)
            target = torch.as_tensor(self.problem.density(x.cpu().numpy()), dtype=x.dtype,
                                     device=x.device)
            err = torch.sigmoid(D(x)[..., :1]) - target
            opt.zero_grad()
            _per_seed(err * err).sum().backward()
            opt.step()

    def evaluate(self, G: torch.nn.Module) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(primary metric per seed, samples (K, m, data_dim), every metric per seed)."""
        with torch.no_grad():
            x = G(self.X_eval).double().cpu().numpy()
        labels = {"y": self.y_eval, "y_real": self.ref_labels} if self.L else {}
        per_seed = [self.problem.quality(x[k], self.reference_np, **labels) for k in range(self.K)]
        extras = {name: np.array([q[name] for q in per_seed]) for name in per_seed[0]}
        return extras[self.metric].copy(), x, extras
