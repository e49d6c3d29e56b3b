"""train()'s networks and its two steps: a G step and D's steps, and the one place that picks the
path they run on (``select``): the reference PyTorch steps here, the same steps fused into one
native call each (fused.py), or replayed as CUDA graphs (graphs.py).

Every path draws its random numbers (instance noise, soft labels, D's dropout, the gradient
penalty's mixing) from the run's generator in the same order, so they agree to round-off
(tests/test_native.py, tests/golden_train.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import graphs, losses, native
from .config import Config
from .fused import NotAffine, Steps as FusedSteps
from .graphs import Graphed
from .networks import BatchedMLP
from .optim import BatchedAdam

Tensor = torch.Tensor


@dataclass
class Nets:
    """G and D (the vae's encoder takes D's slot), their Adam, and D's copies per seed (one per
    equation with ``d_per_equation``, else one)."""

    G: BatchedMLP
    opt_G: BatchedAdam
    D: BatchedMLP | None
    opt_D: BatchedAdam | None
    d_groups: int

    @classmethod
    def build(cls, cfg: Config, task: Any, device: torch.device, dtype: torch.dtype,
              native_kernels: bool) -> "Nets":
        """Fresh networks of `cfg` for `task`, initialised from (cfg.seed, replica)."""
        K = cfg.seeds
        G = BatchedMLP(K, task.n_in, task.n_out, cfg.G, cfg.seed, stream=0).to(device, dtype)
        opt_G = BatchedAdam([G.params], cfg.G.lr, cfg.G.betas, native=native_kernels)
        # one D per equation = a batch of K * n_eq discriminators, each seeing one residual channel
        d_groups = task.d_channels if cfg.d_per_equation else 1
        D = opt_D = None
        if cfg.adversarial:
            D_in = task.d_channels // d_groups + (task.cond_dim if cfg.conditional_d else 0)
            # output: the real/fake logit, then InfoGAN's code logits (task.d_extra, usually none)
            D = BatchedMLP(K * d_groups, D_in, 1 + task.d_extra, cfg.D, cfg.seed, stream=1,
                           spectral_norm=cfg.spectral_norm).to(device, dtype)
        elif cfg.method == "vae":  # the encoder takes D's slot: data -> (mu, log var) of z
            D = BatchedMLP(K, task.d_channels, 2 * task.problem.noise_dim, cfg.D, cfg.seed,
                           stream=1).to(device, dtype)
        if D is not None:
            opt_D = BatchedAdam([D.params], cfg.D.lr, cfg.D.betas, native=native_kernels)
        for net in (G, D):
            if net is not None:
                net.native = native_kernels
        return cls(G, opt_G, D, opt_D, d_groups)

    def pairs(self):
        """(net, its optimiser) for G and, where there is one, D."""
        return [(n, o) for n, o in ((self.G, self.opt_G), (self.D, self.opt_D)) if n is not None]


class Reference:
    """The steps in plain PyTorch: what every other path reproduces."""

    def __init__(self, cfg: Config, task: Any, nets: Nets, rng: torch.Generator):
        self.cfg, self.task, self.nets, self.rng = cfg, task, nets, rng
        self.K, self.groups = cfg.seeds, nets.d_groups
        self.device, self.dtype = nets.G.params.device, nets.G.params.dtype
        if cfg.compile:
            # one fused graph for the G step's forward and backward (Inductor, C++ on CPU): 1.4-1.8x
            # faster steps at K = 32, after a one-off ~30 s compile per process and shape
            self.g_loss = torch.compile(self.g_loss, dynamic=False)

    def d_input(self, z: Tensor, X: Tensor, noise_std: Tensor | None) -> Tensor:
        """What D sees of z (K, n, n_eq): grouped per equation, instance noise, coordinates."""
        if noise_std is not None:
            z = z + noise_std * torch.randn(z.shape, generator=self.rng, dtype=self.dtype,
                                            device=self.device)
        if self.groups > 1:  # (K, n, E) -> (K * E, n, 1)
            z = z.permute(0, 2, 1).reshape(self.K * self.groups, self.task.n, 1)
            X = X.repeat_interleave(self.groups, dim=0)
        return torch.cat([z, X], dim=-1) if self.cfg.conditional_d else z

    def labels(self, value: float, like: Tensor) -> Tensor | float:
        """D's target: `value`, or jittered towards the middle (``soft_labels``)."""
        if self.cfg.soft_labels == 0:
            return value
        jitter = self.cfg.soft_labels * torch.rand(like.shape, generator=self.rng,
                                                   dtype=self.dtype, device=self.device)
        return 1.0 - jitter if value == 1.0 else jitter

    def g_loss(self, X: Tensor, inst: Tensor | None
               ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(K,) generator loss at inputs X (the residual or samples through D, or a residual
        loss), and the (real, fake) pair it was computed from (None for the vae)."""
        cfg, task, D, K = self.cfg, self.task, self.nets.D, self.K
        if cfg.method == "vae":
            return task.vae_loss(self.nets.G, D, self.rng), None, None
        real, fake = task.pair(self.nets.G, X, self.rng)
        # causal weighting: each point's part of G's loss, by how well the times before it fit
        w = task.causal_weights(fake - real) if cfg.causal else None
        if D is None:
            return losses.residual_loss(cfg.method, fake - real, cfg.huber_delta, w), real, fake
        w_d = w.repeat_interleave(self.groups, dim=0) if w is not None else None  # D's rows
        d_out = D(self.d_input(fake, X, inst))
        d_fake = d_out[..., :1]
        info = cfg.info_weight * task.info_loss(d_out, X) if task.d_extra else 0.0
        if cfg.method == "wgan_gp":
            return -group_mean(d_fake if w_d is None else d_fake * w_d, K) + info, real, fake
        loss = losses.bce(d_fake, 1.0, K, w_d) + info
        if cfg.method == "gan_lhs_rhs":
            # both sides come from G here: it also pulls its "real" side towards looking fake,
            # else it only chases a target it moves (seen: MSE ~1e3 on exp without this term)
            loss = loss + losses.bce(D(self.d_input(real, X, inst)), 0.0, K, w_d)
        return loss, real, fake

    def d_loss(self, real: Tensor, fake: Tensor, X: Tensor, inst: Tensor | None) -> Tensor:
        """(K,) discriminator (critic) loss on a detached (real, fake) pair."""
        cfg, D, K = self.cfg, self.nets.D, self.K
        d_real, d_out = D(self.d_input(real, X, inst))[..., :1], D(self.d_input(fake, X, inst))
        d_fake = d_out[..., :1]
        if cfg.method == "wgan_gp":
            eps = torch.rand((K * self.groups, 1, 1), generator=self.rng, dtype=self.dtype,
                             device=self.device)
            gp = losses.critic_gradient_penalty(D, self.d_input(real, X, None),
                                                self.d_input(fake, X, None), eps, K)
            loss = group_mean(d_fake, K) - group_mean(d_real, K) + cfg.gp_weight * gp
        else:
            loss = (losses.bce(d_real, self.labels(1.0, d_real), K)
                    + losses.bce(d_fake, self.labels(0.0, d_fake), K))
            if cfg.d_loss_mean:
                loss = loss / 2
        if self.task.d_extra:  # InfoGAN: D's code head learns to recover G's code too
            loss = loss + cfg.info_weight * self.task.info_loss(d_out, X)
        return loss

    def g_step(self, X: Tensor, inst: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """One G step: make the residual look real to D, or shrink it directly (classical
        losses); the (K,) loss and the (real, fake) pair, as before the update."""
        nets, vae = self.nets, self.cfg.method == "vae"
        loss, real, fake = self.g_loss(X, inst)
        nets.opt_G.zero_grad()
        if vae:  # encoder and decoder learn together from one loss
            nets.opt_D.zero_grad()
        loss.sum().backward()  # sum: each seed's gradient stays its own
        nets.opt_G.step()
        if vae:
            nets.opt_D.step()
        return loss, real, fake

    def d_steps(self, real: Tensor, fake: Tensor, X: Tensor, inst: Tensor | None) -> Tensor:
        """d_iters D steps on one (real, fake) pair; the last (K,) loss."""
        real, fake = real.detach(), fake.detach()
        for _ in range(self.cfg.d_iters):
            loss = self.d_loss(real, fake, X, inst)
            self.nets.opt_D.zero_grad()
            loss.sum().backward()  # sum: each seed's gradient stays its own
            self.nets.opt_D.step()
        return loss


@dataclass
class Path:
    """The steps a run takes and the path's name (docs/speed.md): fused, native (why not
    fused), cuda graphs, or reference (why)."""

    g_step: Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor, Tensor]]
    d_steps: Callable[[Tensor, Tensor, Tensor, Tensor | None], Tensor]
    name: str
    graphed: list[Graphed] = field(default_factory=list)

    def now(self) -> str:
        """The path so far: a failed CUDA graph capture left its step eager."""
        failed = [g.failure for g in self.graphed if g.failure]
        return f"reference (CUDA graph capture failed: {failed[0]})" if failed else self.name


def select(cfg: Config, task: Any, nets: Nets, rng: torch.Generator, problem: Any) -> Path:
    """The path of this run: on a CPU the steps fused, each one native call, where the problem
    allows (else the networks and Adam alone run natively: native.py); on a GPU the steps
    replayed as CUDA graphs; else the reference. ``native.fast_path(cfg)`` first says whether
    the native kernels apply at all."""
    reference = Reference(cfg, task, nets, rng)
    name = native.fast_path(cfg)
    if name == native.NATIVE:
        why = FusedSteps.why_not(cfg, problem)
        try:
            fused = FusedSteps(cfg, task, nets.G, nets.D, nets.opt_G, nets.opt_D, rng) \
                if why is None else None
        except NotAffine as e:
            fused, why = None, str(e)
        if fused is not None:
            return Path(fused.g_step, fused.d_steps, "fused")
        return Path(reference.g_step, reference.d_steps, f"native ({why})")
    if nets.G.params.device.type == "cuda" and cfg.fast_path == "auto":
        why = graphs.why_not(cfg)
        if why is None:
            graphed = [Graphed(reference.g_step, rng), Graphed(reference.d_steps, rng)]
            return Path(*graphed, "cuda graphs", graphed)
        return Path(reference.g_step, reference.d_steps, f"reference (no CUDA graphs: {why})")
    return Path(reference.g_step, reference.d_steps, name)


def group_mean(d: Tensor, K: int) -> Tensor:
    """Mean critic output per seed, over points and (per-equation) discriminators."""
    return d.reshape(K, -1).mean(dim=1)
