"""The training loop: one call trains `config.seeds` independent replicas as batched tensors.

Reads top to bottom: setup, then one loop with the D steps and the G steps, evaluation and
reporting, and a Result. Nothing is printed; progress goes to the optional ``report`` callback.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from . import losses
from .config import Config, Result, failed_seeds
from .networks import BatchedMLP
from .problems import make_problem
from .tasks import DETask, DistTask

Tensor = torch.Tensor


@dataclass
class Progress:
    """What ``report`` receives at every evaluation."""

    iteration: int  # iterations completed so far
    metrics: dict[str, float]  # aggregates: eval/mse (median over seeds), eval/mse_worst, ...
    mse: np.ndarray  # (seeds,) current MSE per seed, +inf for diverged seeds
    done: bool  # True at the last report of the run
    checkpoint: Callable[[], dict[str, Any]]  # call to get a resumable state (costs a copy)


Report = Callable[[Progress], Any]


def _noop(_: Progress) -> None:
    return None


def train(config: Config, report: Report | None = None, state: dict[str, Any] | None = None
          ) -> Result:
    """Train `config.seeds` replicas of config.method on config.problem; never raises on NaN/inf.

    report: called at every evaluation with a Progress (Tune's report, list.append, a printer).
    state: a dict from ``Progress.checkpoint()`` to resume from; the run continues exactly.
    """
    config.validate()
    report = report or _noop
    t_start = time.perf_counter()
    cfg = config
    K = cfg.seeds
    device = torch.device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device = {cfg.device!r} but CUDA is not available; use device='cpu'")

    # -- setup: problem, points, networks, optimisers -------------------------------------------
    problem = make_problem(cfg.problem, cfg.n_points)
    task = (DETask if problem.family == "de" else DistTask)(problem, cfg, device, dtype)
    n = task.n
    threshold = cfg.failure_threshold or task.failure_threshold
    metric = task.metric  # "mse" for equations; the problem's distance for distributions

    G = BatchedMLP(K, task.n_in, task.n_out, cfg.G, cfg.seed, stream=0).to(device, dtype)
    opt_G = _adam(G, cfg.G.lr, cfg.G.betas)
    sched_G = _scheduler(opt_G, cfg)
    # one D per equation = a batch of K * n_eq discriminators, each seeing one residual channel
    d_groups = task.d_channels if cfg.d_per_equation else 1
    D = opt_D = sched_D = None
    if cfg.adversarial:
        D_in = task.d_channels // d_groups + (task.cond_dim if cfg.conditional_d else 0)
        # output: the real/fake logit, then InfoGAN's code logits (task.d_extra, usually none)
        D = BatchedMLP(K * d_groups, D_in, 1 + task.d_extra, cfg.D, cfg.seed, stream=1,
                       spectral_norm=cfg.spectral_norm).to(device, dtype)
    elif cfg.method == "vae":  # the encoder takes D's slot: data -> (mu, log var) of z
        D = BatchedMLP(K, task.d_channels, 2 * problem.noise_dim, cfg.D, cfg.seed,
                       stream=1).to(device, dtype)
    if D is not None:
        opt_D = _adam(D, cfg.D.lr, cfg.D.betas)
        sched_D = _scheduler(opt_D, cfg)
    rng = torch.Generator(device=device).manual_seed(cfg.seed)  # point noise, labels, GP mixing

    start = 0
    best = np.full(K, np.inf)
    diverged = np.zeros(K, dtype=bool)
    diverged_at = np.full(K, -1)
    curves: dict[str, list] = {k: [] for k in ("iteration", f"eval/{metric}", "train/g_loss",
                                                "train/d_loss", "train/lr_g")}
    loss_G = torch.zeros(K, dtype=dtype, device=device)
    loss_D = torch.zeros(K, dtype=dtype, device=device)
    elapsed = 0.0
    if state is not None:
        state = copy.deepcopy(state)  # optimisers adopt the tensors they load: keep ours intact
        G.load_state_dict(state["G"])
        opt_G.load_state_dict(state["opt_G"])
        sched_G.load_state_dict(state["sched_G"])
        if D is not None:
            D.load_state_dict(state["D"])
            opt_D.load_state_dict(state["opt_D"])
            sched_D.load_state_dict(state["sched_D"])
        if state["rng"].numel() == rng.get_state().numel():
            rng.set_state(state["rng"])
        else:  # saved on another device type (a GPU checkpoint resumed on a CPU node): CUDA and
            # CPU generator states differ, so continue on a stream derived from (seed, iteration)
            rng.manual_seed(int(np.random.SeedSequence([cfg.seed, state["iteration"]])
                                .generate_state(1)[0]))
        start, best, diverged, diverged_at = (state["iteration"], state["best"].copy(),
                                              state["diverged"].copy(), state["diverged_at"].copy())
        curves = {k: list(v) for k, v in state["curves"].items()}
        loss_G, loss_D = state["loss_G"].to(device, dtype), state["loss_D"].to(device, dtype)
        elapsed = state["elapsed"]

    def d_input(z: Tensor, X: Tensor, noise_std: Tensor | None) -> Tensor:
        """What D sees of z (K, n, n_eq): grouped per equation, instance noise, coordinates."""
        if noise_std is not None:
            z = z + noise_std * torch.randn(z.shape, generator=rng, dtype=dtype, device=device)
        if d_groups > 1:  # (K, n, E) -> (K * E, n, 1)
            z = z.permute(0, 2, 1).reshape(K * d_groups, n, 1)
            X = X.repeat_interleave(d_groups, dim=0)
        return torch.cat([z, X], dim=-1) if cfg.conditional_d else z

    def labels(value: float, like: Tensor) -> Tensor | float:
        if cfg.soft_labels == 0:
            return value
        jitter = cfg.soft_labels * torch.rand(like.shape, generator=rng, dtype=dtype, device=device)
        return 1.0 - jitter if value == 1.0 else jitter

    def g_loss(X: Tensor, inst: Tensor | None) -> Tensor:
        """(K,) generator loss at inputs X: the residual (or samples) through D, or a residual loss."""
        if cfg.method == "vae":
            return task.vae_loss(G, D, rng)
        real, fake = task.pair(G, X, rng)
        if D is None:
            return losses.residual_loss(cfg.method, fake - real, cfg.huber_delta)
        d_out = D(d_input(fake, X, inst))
        d_fake = d_out[..., :1]
        info = cfg.info_weight * task.info_loss(d_out, X) if task.d_extra else 0.0
        if cfg.method == "wgan_gp":
            return -_group_mean(d_fake, K) + info
        loss = losses.bce(d_fake, 1.0, K) + info
        if cfg.method == "gan_lhs_rhs":
            # both sides come from G here: it also pulls its "real" side towards looking fake,
            # else it only chases a target it moves (seen: MSE ~1e3 on exp without this term)
            loss = loss + losses.bce(D(d_input(real, X, inst)), 0.0, K)
        return loss

    if cfg.compile:
        # one fused graph for the G step's forward and backward (Inductor, C++ on CPU): 1.4-1.8x
        # faster steps at K = 32, after a one-off ~30 s compile per process and shape
        g_loss = torch.compile(g_loss, dynamic=False)

    if cfg.d_pretrain and start == 0:  # seed 001: D starts out knowing the data density
        task.pretrain(D, opt_D, rng)

    # -- training loop -------------------------------------------------------------------------
    it = start
    prediction = None
    for it in range(start + 1, cfg.iterations + 1):
        # fresh inputs for every seed: collocation points (grid + noise) or noise z
        X = task.draw(rng)
        inst = (loss_G - loss_D).clamp(min=0)[:, None, None] if cfg.instance_noise else None

        # D steps: learn to tell real (zeros, the rhs, data) from fake (the residual, the lhs, G(z))
        if cfg.adversarial:
            with torch.no_grad():
                real, fake = task.pair(G, X, rng)
            for _ in range(cfg.d_iters):
                d_real, d_out = D(d_input(real, X, inst))[..., :1], D(d_input(fake, X, inst))
                d_fake = d_out[..., :1]
                if cfg.method == "wgan_gp":
                    eps = torch.rand((K * d_groups, 1, 1), generator=rng, dtype=dtype,
                                     device=device)
                    gp = losses.critic_gradient_penalty(D, d_input(real, X, None),
                                                        d_input(fake, X, None), eps, K)
                    loss_D = (_group_mean(d_fake, K) - _group_mean(d_real, K)
                              + cfg.gp_weight * gp)
                else:
                    loss_D = (losses.bce(d_real, labels(1.0, d_real), K)
                              + losses.bce(d_fake, labels(0.0, d_fake), K))
                if task.d_extra:  # InfoGAN: D's code head learns to recover G's code too
                    loss_D = loss_D + cfg.info_weight * task.info_loss(d_out, X)
                opt_D.zero_grad(set_to_none=True)
                loss_D.sum().backward()  # sum: each seed's gradient stays its own
                opt_D.step()

        # G steps: make the residual look real to D, or shrink it directly (classical losses)
        for _ in range(cfg.g_iters):
            loss_G = g_loss(X, inst)
            opt_G.zero_grad(set_to_none=True)
            if cfg.method == "vae":  # encoder and decoder learn together from one loss
                opt_D.zero_grad(set_to_none=True)
            loss_G.sum().backward()
            opt_G.step()
            if cfg.method == "vae":
                opt_D.step()
        loss_G, loss_D = loss_G.detach(), loss_D.detach()
        sched_G.step()
        if sched_D is not None:
            sched_D.step()

        # evaluate (the unperturbed grid, or fixed noise); NaN/inf marks a seed diverged, never raises
        last = it == cfg.iterations
        if it % cfg.eval_every == 0 or last:
            mse, prediction, extras = task.evaluate(G)
            g_np, d_np = loss_G.cpu().numpy(), loss_D.cpu().numpy()
            bad = ~np.isfinite(mse) | ~np.isfinite(g_np) | ~np.isfinite(d_np)
            diverged_at[bad & ~diverged] = it
            diverged |= bad
            mse = np.where(diverged, np.inf, mse)
            best = np.minimum(best, mse)
            for key, value in (("iteration", it), (f"eval/{metric}", mse), ("train/g_loss", g_np),
                               ("train/d_loss", d_np),
                               ("train/lr_g", opt_G.param_groups[0]["lr"]),
                               *((f"eval/{k}", v) for k, v in extras.items() if k != metric)):
                curves.setdefault(key, []).append(value)
            last = last or bool(diverged.all())
            report(Progress(
                iteration=it,
                metrics=_aggregate(metric, mse, extras, g_np, d_np, diverged, threshold),
                mse=mse.copy(), done=last,
                checkpoint=lambda: _state(it, G, D, opt_G, opt_D, sched_G, sched_D, rng, best,
                                          diverged, diverged_at, curves, loss_G, loss_D,
                                          elapsed + time.perf_counter() - t_start)))
            if diverged.all():
                break

    if prediction is None:  # resumed at the end: nothing left to run
        mse, prediction, _ = task.evaluate(G)
        mse = np.where(diverged, np.inf, mse)
    return Result(
        config=cfg,
        final_mse=mse,
        best_mse=best,
        diverged=diverged,
        diverged_at=diverged_at,
        failure_threshold=threshold,
        iterations=it,
        wall_time=elapsed + time.perf_counter() - t_start,
        curves={k: np.asarray(v, dtype=float) for k, v in curves.items()},
        grid=task.grid_np,
        prediction=prediction,
        reference=task.reference_np,
        metric=metric,
        status="diverged" if diverged.all() else "ok",
    )


# -- helpers ---------------------------------------------------------------------------------------
def _adam(net: torch.nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    # fused Adam is one kernel for all parameters; it is element-wise, so seeds stay independent
    try:
        return torch.optim.Adam(net.parameters(), lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):  # fused not supported on this device/dtype
        return torch.optim.Adam(net.parameters(), lr=lr, betas=betas)


def _scheduler(opt: torch.optim.Optimizer, cfg: Config) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.lr_decay == "exp":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_gamma)
    if cfg.lr_decay == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def _group_mean(d: Tensor, K: int) -> Tensor:
    """Mean critic output per seed, over points and (per-equation) discriminators."""
    return d.reshape(K, -1).mean(dim=1)


def _aggregate(metric: str, mse: np.ndarray, extras: dict[str, np.ndarray], g: np.ndarray,
               d: np.ndarray, diverged: np.ndarray, threshold: float) -> dict[str, float]:
    ok = ~diverged
    failed = failed_seeds(mse, threshold)
    return {
        **{f"eval/{k}": float(np.median(v)) for k, v in extras.items()},
        f"eval/{metric}": float(np.median(mse)),
        f"eval/{metric}_worst": float(np.max(mse)),
        f"eval/{metric}_best": float(np.min(mse)),
        "eval/failure_rate": float(failed.mean()),
        "eval/diverged": int(diverged.sum()),
        "train/g_loss": float(np.median(g[ok])) if ok.any() else float("nan"),
        "train/d_loss": float(np.median(d[ok])) if ok.any() else float("nan"),
    }


def _state(it: int, G: torch.nn.Module, D: torch.nn.Module | None, opt_G: torch.optim.Optimizer,
           opt_D: torch.optim.Optimizer | None, sched_G: Any, sched_D: Any, rng: torch.Generator,
           best: np.ndarray, diverged: np.ndarray, diverged_at: np.ndarray,
           curves: dict[str, list], loss_G: Tensor, loss_D: Tensor, elapsed: float
           ) -> dict[str, Any]:
    return copy.deepcopy({
        "iteration": it, "G": G.state_dict(), "opt_G": opt_G.state_dict(),
        "sched_G": sched_G.state_dict(),
        "D": D.state_dict() if D is not None else None,
        "opt_D": opt_D.state_dict() if opt_D is not None else None,
        "sched_D": sched_D.state_dict() if sched_D is not None else None,
        "rng": rng.get_state(), "best": best, "diverged": diverged, "diverged_at": diverged_at,
        "curves": curves, "loss_G": loss_G, "loss_D": loss_D, "elapsed": elapsed,
    })
