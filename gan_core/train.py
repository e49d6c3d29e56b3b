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

from . import graphs, losses, native
from .config import Config, Result, failed_seeds
from .fused import NotAffine, Steps
from .graphs import Graphed
from .networks import BatchedMLP
from .optim import BatchedAdam, lr_factor
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
    fast_path: str  # the path the run is on (README "Speed"): fused, native (why not fused),
    # cuda graphs, or reference (why)
    restarts: np.ndarray  # (seeds,) restarts by residual monitoring so far
    abandoned: np.ndarray  # (seeds,) bool: abandoned by residual monitoring
    collapsed: np.ndarray  # (seeds,) bool: failed on a (nearly) constant solution (DETask.collapsed)


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
    problem = make_problem(cfg.problem, cfg.n_points, **cfg.problem_args)
    task = (DETask if problem.family == "de" else DistTask)(problem, cfg, device, dtype)
    n = task.n
    threshold = cfg.failure_threshold or task.failure_threshold
    metric = task.metric  # "mse" for equations; the problem's distance for distributions

    # the networks and Adam on the native kernels where they apply (see native.fast_path)
    fast_path = native.fast_path(cfg)
    fast = fast_path == native.NATIVE
    G = BatchedMLP(K, task.n_in, task.n_out, cfg.G, cfg.seed, stream=0).to(device, dtype)
    opt_G = BatchedAdam([G.params], cfg.G.lr, cfg.G.betas, native=fast)
    # one D per equation = a batch of K * n_eq discriminators, each seeing one residual channel
    d_groups = task.d_channels if cfg.d_per_equation else 1
    D = opt_D = None
    if cfg.adversarial:
        D_in = task.d_channels // d_groups + (task.cond_dim if cfg.conditional_d else 0)
        # output: the real/fake logit, then InfoGAN's code logits (task.d_extra, usually none)
        D = BatchedMLP(K * d_groups, D_in, 1 + task.d_extra, cfg.D, cfg.seed, stream=1,
                       spectral_norm=cfg.spectral_norm).to(device, dtype)
    elif cfg.method == "vae":  # the encoder takes D's slot: data -> (mu, log var) of z
        D = BatchedMLP(K, task.d_channels, 2 * problem.noise_dim, cfg.D, cfg.seed,
                       stream=1).to(device, dtype)
    if D is not None:
        opt_D = BatchedAdam([D.params], cfg.D.lr, cfg.D.betas, native=fast)
    for net in (G, D):
        if net is not None:
            net.native = fast
    rng = torch.Generator(device=device).manual_seed(cfg.seed)  # point noise, labels, GP mixing

    start = 0
    best = np.full(K, np.inf)
    diverged = np.zeros(K, dtype=bool)
    diverged_at = np.full(K, -1)
    # residual monitoring: each seed's restarts, whether it was abandoned, the iteration its
    # current life began (its schedule's origin), and the last window of its mean |residual|
    restarts = np.zeros(K, dtype=int)
    abandoned = np.zeros(K, dtype=bool)
    born = np.zeros(K, dtype=int)
    window = torch.zeros(cfg.monitor_window, K, dtype=dtype, device=device)
    # a seed is checked at the windows ending while its age is in [watch_from, watch_until]
    watch_from, watch_until = (round(f * cfg.iterations) for f in (cfg.monitor_from,
                                                                    cfg.monitor_until))
    curves: dict[str, list] = {k: [] for k in ("iteration", f"eval/{metric}", "train/g_loss",
                                                "train/d_loss", "train/lr_g")}
    loss_G = torch.zeros(K, dtype=dtype, device=device)
    loss_D = torch.zeros(K, dtype=dtype, device=device)
    elapsed = 0.0
    if state is not None:
        state = copy.deepcopy(state)  # we adopt the tensors we load: keep the caller's intact
        G.load_state_dict(state["G"])
        opt_G.load_state_dict(state["opt_G"])
        if D is not None:
            D.load_state_dict(state["D"])
            opt_D.load_state_dict(state["opt_D"])
        if state["rng"].numel() == rng.get_state().numel():
            rng.set_state(state["rng"])
        else:  # saved on another device type (a GPU checkpoint resumed on a CPU node): CUDA and
            # CPU generator states differ, so continue on a stream derived from (seed, iteration)
            rng.manual_seed(int(np.random.SeedSequence([cfg.seed, state["iteration"]])
                                .generate_state(1)[0]))
        start, best, diverged, diverged_at = (state["iteration"], state["best"].copy(),
                                              state["diverged"].copy(), state["diverged_at"].copy())
        restarts, abandoned, born = (state["restarts"].copy(), state["abandoned"].copy(),
                                     state["born"].copy())
        window = state["window"].to(device, dtype)
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

    def g_loss(X: Tensor, inst: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(K,) generator loss at inputs X (the residual or samples through D, or a residual
        loss), and the (real, fake) pair it was computed from (None for the vae)."""
        if cfg.method == "vae":
            return task.vae_loss(G, D, rng), None, None
        real, fake = task.pair(G, X, rng)
        # causal weighting: each point's part of G's loss, by how well the times before it fit
        w = task.causal_weights(fake - real) if cfg.causal else None
        if D is None:
            return losses.residual_loss(cfg.method, fake - real, cfg.huber_delta, w), real, fake
        w_d = w.repeat_interleave(d_groups, dim=0) if w is not None else None  # D's rows
        d_out = D(d_input(fake, X, inst))
        d_fake = d_out[..., :1]
        info = cfg.info_weight * task.info_loss(d_out, X) if task.d_extra else 0.0
        if cfg.method == "wgan_gp":
            return -_group_mean(d_fake if w_d is None else d_fake * w_d, K) + info, real, fake
        loss = losses.bce(d_fake, 1.0, K, w_d) + info
        if cfg.method == "gan_lhs_rhs":
            # both sides come from G here: it also pulls its "real" side towards looking fake,
            # else it only chases a target it moves (seen: MSE ~1e3 on exp without this term)
            loss = loss + losses.bce(D(d_input(real, X, inst)), 0.0, K, w_d)
        return loss, real, fake

    def d_loss(real: Tensor, fake: Tensor, X: Tensor, inst: Tensor | None) -> Tensor:
        """(K,) discriminator (critic) loss on a detached (real, fake) pair."""
        d_real, d_out = D(d_input(real, X, inst))[..., :1], D(d_input(fake, X, inst))
        d_fake = d_out[..., :1]
        if cfg.method == "wgan_gp":
            eps = torch.rand((K * d_groups, 1, 1), generator=rng, dtype=dtype, device=device)
            gp = losses.critic_gradient_penalty(D, d_input(real, X, None),
                                                d_input(fake, X, None), eps, K)
            loss = _group_mean(d_fake, K) - _group_mean(d_real, K) + cfg.gp_weight * gp
        else:
            loss = (losses.bce(d_real, labels(1.0, d_real), K)
                    + losses.bce(d_fake, labels(0.0, d_fake), K))
            if cfg.d_loss_mean:
                loss = loss / 2
        if task.d_extra:  # InfoGAN: D's code head learns to recover G's code too
            loss = loss + cfg.info_weight * task.info_loss(d_out, X)
        return loss

    if cfg.compile:
        # one fused graph for the G step's forward and backward (Inductor, C++ on CPU): 1.4-1.8x
        # faster steps at K = 32, after a one-off ~30 s compile per process and shape
        g_loss = torch.compile(g_loss, dynamic=False)

    def set_learning_rates(it: int) -> None:
        """Each seed's schedule runs from the start of its current life; abandoned seeds freeze."""
        if cfg.lr_decay == "none" and not abandoned.any():
            return
        age = torch.as_tensor(it - 1 - born, dtype=torch.float64, device=device)
        f = lr_factor(cfg.lr_decay, cfg.gamma, cfg.lr_step, age)
        f = f * torch.as_tensor(~abandoned, dtype=torch.float64, device=device)
        opt_G.scale.copy_(f)
        if opt_D is not None:
            opt_D.scale.copy_(f.repeat_interleave(opt_D.scale.shape[0] // K))

    def restart(seeds: np.ndarray, it: int) -> None:
        """Residual monitoring tripped on `seeds`: fresh weights, optimiser state and schedule
        (restart), or frozen and counted as failed (abandon)."""
        nonlocal loss_G, loss_D
        if cfg.monitor == "abandon":
            abandoned[seeds] = True
            best[seeds] = np.inf
            return
        restarts[seeds] += 1
        born[seeds] = it
        best[seeds], diverged[seeds], diverged_at[seeds] = np.inf, False, -1
        for net, opt in ((G, opt_G), (D, opt_D)):
            if net is None:
                continue
            per = net.seeds // K  # replicas per seed (one D per equation: d_groups)
            rows = [k * per + j for k in seeds for j in range(per)]
            net.reinit(rows, [int(restarts[r // per]) for r in rows])
            opt.reset(torch.as_tensor(rows, device=device))
        idx = torch.as_tensor(seeds, device=device)
        loss_G, loss_D = loss_G.index_fill(0, idx, 0.0), loss_D.index_fill(0, idx, 0.0)

    def g_step(X: Tensor, inst: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """One G step: make the residual look real to D, or shrink it directly (classical
        losses); the (K,) loss and the (real, fake) pair, as before the update."""
        loss, real, fake = g_loss(X, inst)
        opt_G.zero_grad()
        if cfg.method == "vae":  # encoder and decoder learn together from one loss
            opt_D.zero_grad()
        loss.sum().backward()  # sum: each seed's gradient stays its own
        opt_G.step()
        if cfg.method == "vae":
            opt_D.step()
        return loss, real, fake

    def d_steps(real: Tensor, fake: Tensor, X: Tensor, inst: Tensor | None) -> Tensor:
        """d_iters D steps on one (real, fake) pair; the last (K,) loss."""
        return _d_steps(D, opt_D, d_loss, real.detach(), fake.detach(), X, inst, cfg.d_iters)

    # the fast path: on a CPU the same steps fused, each one native call, where the problem
    # allows (fused.py; else the networks and Adam alone run natively); on a GPU the steps
    # replayed as CUDA graphs (graphs.py). fast_path says which, or why neither
    graphed: list[Graphed] = []
    if fast:
        why = Steps.why_not(cfg, problem)
        try:
            fused = Steps(cfg, task, G, D, opt_G, opt_D, rng) if why is None else None
        except NotAffine as e:
            fused, why = None, str(e)
        if fused is not None:
            g_step, d_steps = fused.g_step, fused.d_steps
        fast_path = "fused" if fused is not None else f"native ({why})"
    elif device.type == "cuda" and cfg.fast_path == "auto":
        why = graphs.why_not(cfg)
        if why is None:
            g_step, d_steps = graphed = [Graphed(g_step, rng), Graphed(d_steps, rng)]
        fast_path = "cuda graphs" if why is None else f"reference (no CUDA graphs: {why})"

    def path() -> str:
        """The run's path so far: a failed CUDA graph capture left its step eager."""
        failed = [g.failure for g in graphed if g.failure]
        return f"reference (CUDA graph capture failed: {failed[0]})" if failed else fast_path

    if cfg.d_pretrain and start == 0:  # seed 001: D starts out knowing the data density
        task.pretrain(D, opt_D, rng)

    # -- training loop -------------------------------------------------------------------------
    it = start
    prediction = None
    collapsed = np.zeros(K, dtype=bool)
    for it in range(start + 1, cfg.iterations + 1):
        # fresh inputs for every seed: collocation points (grid + noise) or noise z; with a
        # curriculum, in the part of the time axis each seed trains on so far
        reach = task.reach(it - 1 - born)
        X = task.draw(rng, reach)
        inst = (loss_G - loss_D).clamp(min=0)[:, None, None] if cfg.instance_noise else None
        set_learning_rates(it)

        # D steps first (the default): D learns to tell real (zeros, the rhs, data) from fake
        # (the residual, the lhs, G(z)) as G stands now
        if cfg.adversarial and cfg.step_order == "d_first":
            with torch.no_grad():
                pair = task.pair(G, X, rng)
            loss_D = d_steps(*pair, X, inst)

        # G steps: make the residual look real to D, or shrink it directly (classical losses)
        if D is not None and cfg.adversarial:
            D.requires_grad_(False)  # G's loss flows through D, but D's weights stay put
        for _ in range(cfg.g_iters):
            loss_G, real, fake = g_step(X, inst)
        if D is not None and cfg.adversarial:
            D.requires_grad_(True)

        # ... or D steps after G (the DEQGAN paper): on the residual of that G step
        if cfg.adversarial and cfg.step_order == "g_first":
            loss_D = d_steps(real, fake, X, inst)
        loss_G, loss_D = loss_G.detach(), loss_D.detach()

        # residual monitoring (paper A.7): a seed whose mean |residual| still varies by more
        # than the threshold over a window near the end of its first quarter is restarted (or
        # abandoned). Not earlier: every healthy seed's residual falls fast at first, so a window
        # there trips the rule (measured on exp, Table 3's setting: every one of 191 healthy
        # seeds), while from 20% on the windows catch 48 of 49 failing seeds and 14 healthy ones
        if cfg.monitor != "none":
            window[(it - 1) % cfg.monitor_window] = _per_seed_mean_abs(fake - real)
            age = it - born
            due = ((age >= watch_from) & (age <= watch_until) & ~abandoned
                   & (restarts < cfg.monitor_restarts))
            if it % cfg.monitor_window == 0 and due.any():
                var = window.var(dim=0, unbiased=False).cpu().numpy()
                tripped = np.flatnonzero(due & ~(var <= cfg.monitor_threshold))
                if len(tripped):
                    restart(tripped, it)

        # evaluate (the unperturbed grid, or fixed noise); NaN/inf marks a seed diverged, never raises
        last = it == cfg.iterations
        if it % cfg.eval_every == 0 or last:
            mse, prediction, extras = task.evaluate(G)
            g_np, d_np = loss_G.cpu().numpy(), loss_D.cpu().numpy()
            bad = (~np.isfinite(mse) | ~np.isfinite(g_np) | ~np.isfinite(d_np)) & ~abandoned
            diverged_at[bad & ~diverged] = it
            diverged |= bad
            mse = np.where(diverged | abandoned, np.inf, mse)
            best = np.minimum(best, mse)
            collapsed = task.collapsed(prediction) & np.isfinite(mse) & (mse > threshold)
            for key, value in (("iteration", it), (f"eval/{metric}", mse), ("train/g_loss", g_np),
                               ("train/d_loss", d_np),
                               ("train/lr_g", cfg.G.lr * _base_factor(cfg, it)),
                               *((f"eval/{k}", v) for k, v in extras.items() if k != metric)):
                curves.setdefault(key, []).append(value)
            # nothing left to train: every seed diverged or was abandoned, and no restart can come
            hopeless = bool((diverged | abandoned).all()) and not (
                cfg.monitor == "restart" and ((restarts < cfg.monitor_restarts)
                                              & (it - born < watch_until)).any())
            last = last or hopeless
            report(Progress(
                iteration=it,
                metrics=_aggregate(metric, mse, extras, g_np, d_np, diverged, threshold, restarts,
                                   abandoned, collapsed),
                mse=mse.copy(), done=last,
                checkpoint=lambda: _state(it, G, D, opt_G, opt_D, rng, best, diverged,
                                          diverged_at, restarts, abandoned, born, window, curves,
                                          loss_G, loss_D,
                                          elapsed + time.perf_counter() - t_start),
                fast_path=path(), restarts=restarts.copy(), abandoned=abandoned.copy(),
                collapsed=collapsed.copy()))
            if hopeless:
                break

    if prediction is None:  # resumed at the end: nothing left to run
        mse, prediction, _ = task.evaluate(G)
        mse = np.where(diverged | abandoned, np.inf, mse)
        collapsed = task.collapsed(prediction) & np.isfinite(mse) & (mse > threshold)
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
        restarts=restarts,
        abandoned=abandoned,
        collapsed=collapsed,
        status="diverged" if diverged.all() else "ok",
        fast_path=path(),
    )


# -- helpers ---------------------------------------------------------------------------------------
def _d_steps(D: torch.nn.Module, opt: BatchedAdam, d_loss: Callable[..., Tensor], real: Tensor,
             fake: Tensor, X: Tensor, inst: Tensor | None, steps: int) -> Tensor:
    """`steps` updates of D on one (real, fake) pair; returns the last (K,) loss."""
    for _ in range(steps):
        loss = d_loss(real, fake, X, inst)
        opt.zero_grad()
        loss.sum().backward()  # sum: each seed's gradient stays its own
        opt.step()
    return loss


def _per_seed_mean_abs(r: Tensor) -> Tensor:
    """(K,) mean |residual| of each seed over its points and equations."""
    with torch.no_grad():
        return r.abs().reshape(r.shape[0], -1).mean(dim=1)


def _base_factor(cfg: Config, it: int) -> float:
    """The schedule's learning-rate factor after `it` iterations of a seed never restarted (what
    the next iteration uses, as torch's schedulers report it after their step)."""
    age = torch.tensor([it], dtype=torch.float64)
    return float(lr_factor(cfg.lr_decay, cfg.gamma, cfg.lr_step, age)[0])


def _group_mean(d: Tensor, K: int) -> Tensor:
    """Mean critic output per seed, over points and (per-equation) discriminators."""
    return d.reshape(K, -1).mean(dim=1)


def _aggregate(metric: str, mse: np.ndarray, extras: dict[str, np.ndarray], g: np.ndarray,
               d: np.ndarray, diverged: np.ndarray, threshold: float, restarts: np.ndarray,
               abandoned: np.ndarray, collapsed: np.ndarray) -> dict[str, float]:
    ok = ~diverged & ~abandoned
    failed = failed_seeds(mse, threshold)
    return {
        **{f"eval/{k}": float(np.median(v)) for k, v in extras.items()},
        f"eval/{metric}": float(np.median(mse)),
        f"eval/{metric}_worst": float(np.max(mse)),
        f"eval/{metric}_best": float(np.min(mse)),
        "eval/failure_rate": float(failed.mean()),
        "eval/diverged": int(diverged.sum()),
        "eval/restarts": int(restarts.sum()),
        "eval/abandoned": int(abandoned.sum()),
        "eval/collapsed": int(collapsed.sum()),
        "train/g_loss": float(np.median(g[ok])) if ok.any() else float("nan"),
        "train/d_loss": float(np.median(d[ok])) if ok.any() else float("nan"),
    }


def _state(it: int, G: torch.nn.Module, D: torch.nn.Module | None, opt_G: BatchedAdam,
           opt_D: BatchedAdam | None, rng: torch.Generator, best: np.ndarray,
           diverged: np.ndarray, diverged_at: np.ndarray, restarts: np.ndarray,
           abandoned: np.ndarray, born: np.ndarray, window: Tensor, curves: dict[str, list],
           loss_G: Tensor, loss_D: Tensor, elapsed: float) -> dict[str, Any]:
    return copy.deepcopy({
        "iteration": it, "G": G.state_dict(), "opt_G": opt_G.state_dict(),
        "D": D.state_dict() if D is not None else None,
        "opt_D": opt_D.state_dict() if opt_D is not None else None,
        "rng": rng.get_state(), "best": best, "diverged": diverged, "diverged_at": diverged_at,
        "restarts": restarts, "abandoned": abandoned, "born": born, "window": window,
        "curves": curves, "loss_G": loss_G, "loss_D": loss_D, "elapsed": elapsed,
    })
