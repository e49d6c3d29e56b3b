"""The training loop: one call trains `config.seeds` independent replicas as batched tensors.

Reads top to bottom: setup (the problem, the networks, the run's state, the path its steps take),
then one loop with the D steps and the G steps, residual monitoring, evaluation and reporting,
and a Result. Nothing is printed; progress goes to the optional ``report`` callback. The steps
live in steps.py, the state a run carries (and resumes from) in state.py, residual monitoring in
monitor.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from . import native, steps
from .config import Config, Result, failed_seeds
from .monitor import Monitor
from .optim import lr_factor
from .problems import make_problem
from .state import RunState
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
    fast_path: str  # the path the run is on (docs/speed.md): fused, native (why not fused),
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
    cfg, K = config, config.seeds
    device, dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device = {cfg.device!r} but CUDA is not available; use device='cpu'")

    # -- setup: the problem and its points, the networks, the run's state, the path ----------------
    problem = make_problem(cfg.problem, cfg.n_points, **cfg.problem_args)
    task = (DETask if problem.family == "de" else DistTask)(problem, cfg, device, dtype)
    threshold = cfg.failure_threshold or task.failure_threshold
    metric = task.metric  # "mse" for equations; the problem's distance for distributions
    nets = steps.Nets.build(cfg, task, device, dtype, native.fast_path(cfg) == native.NATIVE)
    G, D = nets.G, nets.D
    rng = torch.Generator(device=device).manual_seed(cfg.seed)  # point noise, labels, GP mixing
    run = (RunState.fresh(cfg, metric, device, dtype) if state is None
           else RunState.resume(state, nets, rng, device, dtype, cfg.seed))
    path = steps.select(cfg, task, nets, rng, problem)  # fused, native, CUDA graphs or reference
    monitor = Monitor(cfg)
    if cfg.d_pretrain and run.iteration == 0:  # seed 001: D starts out knowing the data density
        task.pretrain(D, nets.opt_D, rng)

    def elapsed() -> float:
        return run.elapsed + time.perf_counter() - t_start

    # -- the loop ----------------------------------------------------------------------------------
    it, prediction, collapsed = run.iteration, None, np.zeros(K, dtype=bool)
    for it in range(run.iteration + 1, cfg.iterations + 1):
        # fresh inputs for every seed: collocation points (grid + noise) or noise z; with a
        # curriculum, in the part of the time axis each seed trains on so far
        X = task.draw(rng, task.reach(it - 1 - run.born))
        inst = ((run.loss_G - run.loss_D).clamp(min=0)[:, None, None] if cfg.instance_noise
                else None)
        run.set_learning_rates(cfg, nets, it)

        # D steps first (the default): D learns to tell real (zeros, the rhs, data) from fake
        # (the residual, the lhs, G(z)) as G stands now
        if cfg.adversarial and cfg.step_order == "d_first":
            with torch.no_grad():
                pair = task.pair(G, X, rng)
            run.loss_D = path.d_steps(*pair, X, inst)

        # G steps: make the residual look real to D, or shrink it directly (classical losses)
        if cfg.adversarial:
            D.requires_grad_(False)  # G's loss flows through D, but D's weights stay put
        for _ in range(cfg.g_iters):
            run.loss_G, real, fake = path.g_step(X, inst)
        if cfg.adversarial:
            D.requires_grad_(True)

        # ... or D steps after G (the DEQGAN paper): on the residual of that G step
        if cfg.adversarial and cfg.step_order == "g_first":
            run.loss_D = path.d_steps(real, fake, X, inst)
        run.loss_G, run.loss_D = run.loss_G.detach(), run.loss_D.detach()

        monitor.observe(run, nets, it, real, fake)  # a seed that trips the rule restarts

        # evaluate (the unperturbed grid, or fixed noise); NaN/inf marks a seed diverged, no raise
        if it % cfg.eval_every == 0 or it == cfg.iterations:
            mse, prediction, extras = task.evaluate(G)
            mse, g, d = run.record(it, mse, extras, metric, cfg.G.lr * _base_factor(cfg, it))
            collapsed = task.collapsed(prediction) & np.isfinite(mse) & (mse > threshold)
            hopeless = monitor.hopeless(run, it)  # every seed gone, and no restart can come
            report(Progress(
                iteration=it, mse=mse.copy(), done=it == cfg.iterations or hopeless,
                metrics=_aggregate(metric, mse, extras, g, d, run, threshold, collapsed),
                checkpoint=lambda: run.checkpoint(it, nets, rng, elapsed()),
                fast_path=path.now(), restarts=run.restarts.copy(),
                abandoned=run.abandoned.copy(), collapsed=collapsed.copy()))
            if hopeless:
                break

    # -- the result --------------------------------------------------------------------------------
    if prediction is None:  # resumed at the end: nothing left to run
        mse, prediction, _ = task.evaluate(G)
        mse = np.where(run.diverged | run.abandoned, np.inf, mse)
        collapsed = task.collapsed(prediction) & np.isfinite(mse) & (mse > threshold)
    return Result(
        config=cfg, final_mse=mse, best_mse=run.best, diverged=run.diverged,
        diverged_at=run.diverged_at, failure_threshold=threshold, iterations=it,
        wall_time=elapsed(),
        curves={k: np.asarray(v, dtype=float) for k, v in run.curves.items()},
        grid=task.grid_np, prediction=prediction, reference=task.reference_np, metric=metric,
        restarts=run.restarts, abandoned=run.abandoned, collapsed=collapsed,
        status="diverged" if run.diverged.all() else "ok", fast_path=path.now(),
    )


# -- helpers ---------------------------------------------------------------------------------------
def _base_factor(cfg: Config, it: int) -> float:
    """The schedule's learning-rate factor after `it` iterations of a seed never restarted (what
    the next iteration uses, as torch's schedulers report it after their step)."""
    age = torch.tensor([it], dtype=torch.float64)
    return float(lr_factor(cfg.lr_decay, cfg.gamma, cfg.lr_step, age)[0])


def _aggregate(metric: str, mse: np.ndarray, extras: dict[str, np.ndarray], g: np.ndarray,
               d: np.ndarray, run: RunState, threshold: float, collapsed: np.ndarray
               ) -> dict[str, float]:
    """What Progress.metrics holds: medians over seeds, the worst and best, counts."""
    ok = ~run.diverged & ~run.abandoned
    failed = failed_seeds(mse, threshold)
    return {
        **{f"eval/{k}": float(np.median(v)) for k, v in extras.items()},
        f"eval/{metric}": float(np.median(mse)),
        f"eval/{metric}_worst": float(np.max(mse)),
        f"eval/{metric}_best": float(np.min(mse)),
        "eval/failure_rate": float(failed.mean()),
        "eval/diverged": int(run.diverged.sum()),
        "eval/restarts": int(run.restarts.sum()),
        "eval/abandoned": int(run.abandoned.sum()),
        "eval/collapsed": int(collapsed.sum()),
        "train/g_loss": float(np.median(g[ok])) if ok.any() else float("nan"),
        "train/d_loss": float(np.median(d[ok])) if ok.any() else float("nan"),
    }
