"""Throughput: gan_core's trial path, its PyTorch reference and the naive per-seed loop, side by
side in one run, and the share of this machine's FLOP limit the trial path reaches.

    python bench/throughput.py                # the issue's configs (K = 1, 8, 32, 128) and the
                                              # DEQGAN paper's (100 and 400 points, K = 10)
    python bench/throughput.py --quick        # a smoke check: seconds
    python bench/throughput.py --sweep        # the trial path as a sweep sees it: 12 sho configs
                                              # drawn from the sweep's space, K = 8, build included
    python bench/throughput.py --sweep --sweep-problem exp
    python bench/throughput.py --configs exp sho-paper-400 --seeds 8 32 --json out.json

The figure is trial-epochs per core-second: seeds x iterations / CPU seconds of the (one-thread)
process, where an iteration is what gan_core.train does in one (d_iters D steps, g_iters G steps).
CPU seconds rather than wall seconds because the machines this runs on are shared: time spent
descheduled is not counted ("cpu share" says how much of the wall time the process ran). Three
sides per config:

- naive: how the seed notebook trains, written here from the config: one nn.Module G and D per seed
  (residual blocks and torch's spectral_norm where the config has them), a Python loop over the
  seeds, derivatives from ``torch.autograd.grad(create_graph=True)`` and a backward through them,
  one torch.optim.Adam per network, instance noise, the step order, d_loss_mean and the LR
  schedule as the config says;
- reference: gan_core.train with fast_path = "reference" (the PyTorch path: batched seeds, jets);
- fast: gan_core.train as sweeps run it (fast_path = "auto"; the path it took is printed).

% FLOP limit: the fast side's rate times the matmul FLOPs of one trial-epoch (every layer's
forward, and the backward a step needs: weight and input gradients), over the peak of a
1024 x 1024 sgemm measured in the same run (torch.mm, one thread, per CPU second).

--sweep: 12 configs of the sho (or --sweep-problem exp) study (sweeps/spaces.py) drawn by a seeded
random sampler over the preset, as trials: the native kernels built from a cold cache first (that time is counted), then
each config trained for --sweep-iterations with reports every 100, start to end (setup and
evaluations counted); the naive loop and the reference are measured on each config over a short
budget. The totals compare the trained trial-epochs over the fast side's whole time, build
included, with the time the naive loop would take for the same trial-epochs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from gan_core import Config, NetConfig, Progress, make_problem, native, train  # noqa: E402
from gan_core.networks import BatchedMLP  # noqa: E402
from gan_core.presets import preset  # noqa: E402

Tensor = torch.Tensor


# -- the configs -----------------------------------------------------------------------------------------
def _issue(problem: str, g: tuple[int, int], d: tuple[int, int]) -> Config:
    """The issue's networks (tanh) and the seed notebook's 9:1 schedule, 100 points."""
    return Config(problem=problem, method="gan", n_points=100, g_iters=9, d_iters=1,
                  G=NetConfig(width=g[0], depth=g[1], activation="tanh"),
                  D=NetConfig(width=d[0], depth=d[1], activation="tanh"))


CONFIGS: dict[str, tuple[Callable[[], Config], list[int]]] = {  # name: (config, default K)
    "exp": (lambda: _issue("exp", (20, 3), (10, 2)), [1, 8, 32, 128]),
    "sho": (lambda: _issue("sho", (40, 4), (20, 2)), [1, 8, 32, 128]),
    # the DEQGAN paper's (residual blocks, spectral norm, instance noise, 1:1 g_first, StepLR)
    "exp-paper-100": (lambda: preset("exp", source="paper", n_points=100), [10]),
    "exp-paper-400": (lambda: preset("exp", source="paper", n_points=400), [10]),
    "sho-paper-100": (lambda: preset("sho", source="paper", n_points=100), [10]),
    "sho-paper-400": (lambda: preset("sho", source="paper", n_points=400), [10]),
}


def describe(cfg: Config) -> str:
    """G and D in a few characters: 40x3r tanh (r: residual blocks), sn, noise, g:d steps."""
    def net(c: NetConfig) -> str:
        return f"{c.width}x{c.depth}{'r' if c.residual else ''}"
    extras = [x for x, on in (("sn", cfg.spectral_norm), ("noise", cfg.instance_noise)) if on]
    return (f"G {net(cfg.G)} {cfg.G.activation}, D {net(cfg.D)}, {cfg.g_iters}:{cfg.d_iters}"
            + "".join(f", {x}" for x in extras))


# -- FLOPs -------------------------------------------------------------------------------------------------
def trial_epoch_flops(cfg: Config) -> float:
    """Matmul FLOPs of one trial-epoch as gan_core.train does it: per G step G forward on the jet,
    G backward (weight gradients, input gradients past the first layer), D forward and D's input
    gradients; per D step, D forward on real and fake and their backwards; d_first's G forward."""
    problem = make_problem(cfg.problem, cfg.n_points, **cfg.problem_args)
    n, S = len(problem.grid()), 1 + problem.dim * problem.order
    G = BatchedMLP(1, problem.dim, problem.n_out, cfg.G, 0, 0).layers
    groups = problem.n_eq if cfg.d_per_equation else 1
    d_in = problem.n_eq // groups + (problem.dim if cfg.conditional_d else 0)
    D = BatchedMLP(1, d_in, 1, cfg.D, 0, 1).layers

    def fwd(layers: list[tuple[int, int]], rows: int) -> float:
        return 2.0 * sum(a * b for a, b in layers) * rows

    g_fwd = fwd(G, S * n)
    g_step = g_fwd + g_fwd + fwd(G[1:], S * n)
    d_fwd = fwd(D, n * groups)
    if not cfg.adversarial:
        return cfg.g_iters * g_step
    g_step += 2 * d_fwd
    d_step = 2 * (d_fwd + d_fwd + fwd(D[1:], n * groups))
    return (cfg.g_iters * g_step + cfg.d_iters * d_step
            + (g_fwd if cfg.step_order == "d_first" else 0.0))


def sgemm_peak(rounds: int = 5) -> float:
    """GFLOP per CPU second of a 1024 x 1024 float32 matmul on one thread: the best round."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(rounds):
        c0 = time.process_time()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * 1024 ** 3 / max(time.process_time() - c0, 1e-9) / 1e9)
    return best


# -- the naive way: one module per seed, autograd.grad(create_graph=True), double backward ---------
class _Sin(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh, "sin": _Sin, "swish": nn.SiLU, "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2), "softplus": nn.Softplus}


class _Block(nn.Module):
    """The DEQGAN paper's block: h -> act(act(h W1 + b1) W2 + b2 + h)."""

    def __init__(self, l1: nn.Module, l2: nn.Module, act: nn.Module):
        super().__init__()
        self.l1, self.l2, self.act = l1, l2, act

    def forward(self, h: Tensor) -> Tensor:
        return self.act(self.l2(self.act(self.l1(h))) + h)


def _net(n_in: int, n_out: int, c: NetConfig, sn: bool) -> nn.Module:
    def lin(a: int, b: int) -> nn.Module:
        return spectral_norm(nn.Linear(a, b)) if sn else nn.Linear(a, b)

    act = _ACTIVATIONS[c.activation]
    if c.residual:
        layers = [lin(n_in, c.width), act(),
                  *(_Block(lin(c.width, c.width), lin(c.width, c.width), act())
                    for _ in range(c.depth)), lin(c.width, n_out)]
    else:
        layers, a = [], n_in
        for _ in range(c.depth):
            layers += [lin(a, c.width), act()]
            a = c.width
        layers.append(lin(a, n_out))
    return nn.Sequential(*layers)


def _residual_fn(problem) -> Callable[[nn.Module, Tensor, bool], Tensor]:  # noqa: ANN001
    """F(t) of the reparameterised solution, derivatives by autograd; t (n, 1) requires grad."""
    if problem.key == "exp":  # x = x0 + (1 - e^-t) N(t),  F = x' - lambda x
        def residual(G: nn.Module, t: Tensor, create_graph: bool) -> Tensor:
            x = problem.x0 + (1 - torch.exp(-t)) * G(t)
            (dx,) = torch.autograd.grad(x, t, torch.ones_like(x), create_graph=create_graph)
            return dx - problem.lam * x
        return residual
    if problem.key == "sho":  # x = x0 + (1 - e^-t) v0 + (1 - e^-t)^2 N(t),  F = x'' + x
        def residual(G: nn.Module, t: Tensor, create_graph: bool) -> Tensor:
            g = 1 - torch.exp(-t)
            x = problem.x0 + g * problem.v0 + g * g * G(t)
            (dx,) = torch.autograd.grad(x, t, torch.ones_like(x), create_graph=True)
            (ddx,) = torch.autograd.grad(dx, t, torch.ones_like(dx), create_graph=create_graph)
            return ddx + x
        return residual
    raise ValueError(f"no naive residual for problem {problem.key!r}; known: exp, sho")


class _NaiveSeed:
    """One replica as the seed notebook builds it, for gan_core's gan method on cfg."""

    def __init__(self, cfg: Config, problem, k: int):  # noqa: ANN001
        torch.manual_seed(1000 + k)  # own initial weights per seed
        self.cfg, self.problem = cfg, problem
        self.G = _net(1, 1, cfg.G, False)
        self.D = _net(1, 1, cfg.D, cfg.spectral_norm)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.G.lr, betas=cfg.G.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.D.lr, betas=cfg.D.betas)
        self.schedules = []
        for opt in (self.opt_G, self.opt_D):
            if cfg.lr_decay == "step":
                self.schedules.append(torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step,
                                                                      cfg.lr_gamma))
            elif cfg.lr_decay == "exp":
                self.schedules.append(torch.optim.lr_scheduler.ExponentialLR(opt, cfg.lr_gamma))
        self.rng = torch.Generator().manual_seed(2000 + k)  # own point noise per seed
        self.grid = torch.as_tensor(problem.grid(), dtype=torch.float32)
        self.noise_std = float(problem.noise_std()[0])
        self.residual = _residual_fn(problem)
        self.bce = nn.BCEWithLogitsLoss()
        self.loss_G = self.loss_D = 0.0

    def _noisy(self, x: Tensor, std: float) -> Tensor:
        return x + std * torch.randn(x.shape, generator=self.rng) if std else x

    def _d_steps(self, F: Tensor, std: float) -> None:
        for _ in range(self.cfg.d_iters):
            d_real = self.D(self._noisy(torch.zeros_like(F), std))
            d_fake = self.D(self._noisy(F, std))
            loss = (self.bce(d_real, torch.ones_like(d_real))
                    + self.bce(d_fake, torch.zeros_like(d_fake)))
            if self.cfg.d_loss_mean:
                loss = loss / 2
            self.opt_D.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_D.step()
            self.loss_D = float(loss.detach()) if self.cfg.instance_noise else 0.0

    def iteration(self) -> None:
        cfg = self.cfg
        t = self.grid + self.noise_std * torch.randn(self.grid.shape, generator=self.rng)
        t.requires_grad_(True)  # (n, 1)
        std = max(0.0, self.loss_G - self.loss_D) if cfg.instance_noise else 0.0
        if cfg.step_order == "d_first":  # the residual is data for D; its derivatives need G
            self._d_steps(self.residual(self.G, t, False).detach(), std)
        for _ in range(cfg.g_iters):  # create_graph=True, then backward through the derivatives
            F = self.residual(self.G, t, True)
            d_fake = self.D(self._noisy(F, std))
            loss = self.bce(d_fake, torch.ones_like(d_fake))
            self.opt_G.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_G.step()
            self.loss_G = float(loss.detach()) if cfg.instance_noise else 0.0
        if cfg.step_order == "g_first":
            self._d_steps(F.detach(), std)
        for s in self.schedules:
            s.step()

    def evaluate(self) -> float:
        with torch.no_grad():
            g = 1 - torch.exp(-self.grid)
            N = self.G(self.grid)
            p = self.problem
            x = p.x0 + g * N if p.key == "exp" else p.x0 + g * p.v0 + g * g * N
            return float(((x - torch.as_tensor(p.reference(p.grid()))) ** 2).mean())


@dataclass
class Timing:
    """One side on one config: timed iterations (each over every seed), seconds, CPU share."""

    iterations: int
    cpu: float  # process CPU seconds
    wall: float
    path: str = "naive"  # gan_core's fast_path, or "naive"

    def rate(self, K: int) -> float:
        """Trial-epochs per core-second."""
        return K * self.iterations / max(self.cpu, 1e-9)

    @property
    def share(self) -> float:
        return self.cpu / max(self.wall, 1e-9)


def time_naive(cfg: Config, K: int, warmup: int, budget: float, iterations: int | None) -> Timing:
    problem = make_problem(cfg.problem, cfg.n_points, **cfg.problem_args)
    seeds = [_NaiveSeed(cfg, problem, k) for k in range(K)]

    def one_iteration(it: int) -> None:
        for seed in seeds:  # the Python loop over seeds
            seed.iteration()
        if it % warmup == 0:  # the same evaluation cadence as gan_core's eval_every
            [seed.evaluate() for seed in seeds]

    for it in range(1, min(warmup, 2) + 1):  # every seed's modules warmed
        one_iteration(it)
    done, w0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        done += 1
        one_iteration(done)
        cpu = time.process_time() - c0
        if (iterations is not None and done >= iterations) or (iterations is None
                                                                  and cpu >= budget):
            return Timing(done, cpu, time.perf_counter() - w0)


# -- gan_core: K seeds as batched tensors, derivatives as forward jets -----------------------------
def _stamped_run(cfg: Config) -> tuple[dict[int, tuple[float, float]], str]:
    """gan_core.train; (wall clock, CPU clock) at every report, by iteration, and its path."""
    stamps: dict[int, tuple[float, float]] = {}
    paths: list[str] = []

    def report(p: Progress) -> None:
        stamps[p.iteration] = (time.perf_counter(), time.process_time())
        paths.append(p.fast_path)

    train(cfg, report=report)
    return stamps, paths[-1]


def time_core(cfg: Config, K: int, warmup: int, budget: float, iterations: int | None,
              fast_path: str) -> Timing:
    """gan_core.train over K seeds from the report after `warmup` iterations to the last; reports
    (with their evaluation) every `warmup`."""
    cfg = cfg.replace(seeds=K, fast_path=fast_path, eval_every=warmup, monitor="none")
    if iterations is None:  # calibrate: how many iterations fill the budget
        stamps, _ = _stamped_run(cfg.replace(iterations=2 * warmup))
        rate = warmup / max(stamps[2 * warmup][1] - stamps[warmup][1], 1e-9)
        iterations = math.ceil(budget * rate)
    timed = max(1, math.ceil(iterations / warmup)) * warmup  # reports land on multiples of warmup
    stamps, path = _stamped_run(cfg.replace(iterations=warmup + timed))
    (w0, c0), (w1, c1) = stamps[warmup], stamps[warmup + timed]
    return Timing(timed, c1 - c0, w1 - w0, path)


# -- the table -------------------------------------------------------------------------------------
@dataclass
class Row:
    """One (config, K) measurement; rates are trial-epochs per core-second."""

    config: str
    seeds: int
    describe: str
    naive_rate: float
    reference_rate: float
    fast_rate: float
    fast_path: str
    fast_vs_naive: float
    fast_vs_reference: float
    flops_per_trial_epoch: float
    flop_limit_rate: float  # trial-epochs per core-second at the measured sgemm peak
    flop_share: float  # fast_rate / flop_limit_rate
    cpu_share: float  # the lowest CPU share of the three sides
    iterations: dict[str, int]


def measure(name: str, cfg: Config, K: int, warmup: int, budget: float,
            iterations: int | None, peak: float, repeat: int = 1) -> Row:
    """The three sides on one config, side by side, `repeat` times; each keeps its best."""
    best: dict[str, Timing] = {}
    for _ in range(repeat):
        runs = {"naive": time_naive(cfg, K, warmup, budget, iterations),
                "reference": time_core(cfg, K, warmup, budget, iterations, "reference"),
                "fast": time_core(cfg, K, warmup, budget, iterations, "auto")}
        for side, t in runs.items():
            if side not in best or t.rate(K) > best[side].rate(K):
                best[side] = t
    rates = {side: t.rate(K) for side, t in best.items()}
    flops = trial_epoch_flops(cfg)
    limit = peak * 1e9 / flops
    return Row(name, K, describe(cfg), rates["naive"], rates["reference"], rates["fast"],
               best["fast"].path, rates["fast"] / rates["naive"],
               rates["fast"] / rates["reference"], flops, limit, rates["fast"] / limit,
               min(t.share for t in best.values()),
               {side: t.iterations for side, t in best.items()})


def format_table(rows: list[Row], peak: float) -> str:
    lines = [f"trial-epochs per core-second (1 thread); sgemm peak {peak:.1f} GFLOP/s per "
             "core-second, measured in this run",
             f"{'config':<14}{'K':>4}{'naive':>9}{'reference':>11}{'fast':>9}{'fast/naive':>12}"
             f"{'fast/ref':>10}{'% FLOP limit':>14}{'cpu share':>11}  path / networks"]
    for r in rows:
        lines.append(f"{r.config:<14}{r.seeds:>4}{r.naive_rate:>9.1f}{r.reference_rate:>11.1f}"
                     f"{r.fast_rate:>9.1f}{r.fast_vs_naive:>11.1f}x{r.fast_vs_reference:>9.1f}x"
                     f"{100 * r.flop_share:>13.1f}%{r.cpu_share:>11.2f}  {r.fast_path[:24]}: "
                     f"{r.describe}")
    lines.append("cpu share: the lowest of the three sides' CPU seconds / wall seconds while "
                 "timed (well under 1: the machine was loaded; rates are per CPU second)")
    return "\n".join(lines)


# -- the trial path as a sweep sees it --------------------------------------------------------------
def sweep_configs(count: int, seed: int, iterations: int, problem: str = "sho") -> list[Config]:
    """`count` configs of the sweep's study for `problem`, drawn by a seeded random sampler over
    its preset, as the sweep's trials get them (gan, K = 8)."""
    import optuna

    from sweeps.spaces import study_for, to_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    fixed = preset(problem, "gan").to_dict()
    configs = []
    for _ in range(count):
        trial = study.ask()
        study_for(problem)(trial, "gan")
        configs.append(Config.from_dict({**fixed, **to_config(trial.params), "seeds": 8,
                                         "iterations": iterations, "eval_every": 100}))
    return configs


@dataclass
class SweepRow:
    """One sweep trial: the fast side start to end, the naive and reference rates."""

    describe: str
    fast_path: str
    trial_epochs: int
    fast_cpu: float  # the whole train() call: setup, evaluations, (first trial) loading
    fast_wall: float
    fast_rate: float
    naive_rate: float
    reference_rate: float
    flop_limit_rate: float  # trial-epochs per core-second at the measured sgemm peak


def measure_sweep(problem: str, count: int, seed: int, iterations: int, budget: float
                  ) -> tuple[float, list[SweepRow]]:
    """(core-seconds to build the native kernels from a cold cache, one row per trial)."""
    os.environ["GANSWEEP_CACHE"] = tempfile.mkdtemp(prefix="gansweep-bench-")  # a cold cache
    t0 = os.times()
    native.load()
    t1 = os.times()  # the compiler runs as a child process: its CPU time counts too
    build = sum(getattr(t1, f) - getattr(t0, f)
                for f in ("user", "system", "children_user", "children_system"))
    peak = sgemm_peak()
    rows = []
    for cfg in sweep_configs(count, seed, iterations, problem):
        K = cfg.seeds
        w0, c0 = time.perf_counter(), time.process_time()
        result = train(cfg)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        te = K * result.iterations
        naive = time_naive(cfg, K, 10, budget, None)
        ref = time_core(cfg, K, 10, budget, None, "reference")
        rows.append(SweepRow(describe(cfg), result.fast_path, te, cpu, wall, te / cpu,
                             naive.rate(K), ref.rate(K), peak * 1e9 / trial_epoch_flops(cfg)))
        print(f"  {rows[-1].describe}: fast {rows[-1].fast_rate:.0f}, naive "
              f"{rows[-1].naive_rate:.1f}, reference {rows[-1].reference_rate:.1f}",
              file=sys.stderr, flush=True)
    return build, rows


def format_sweep(problem: str, build: float, rows: list[SweepRow]) -> str:
    lines = [f"the trial path as a sweep sees it: {len(rows)} {problem} configs of the sweep's "
             "space, K = 8; trial-epochs per core-second",
             f"{'trial':<44}{'fast':>7}{'naive':>7}{'ref':>7}{'fast/naive':>11}"
             f"{'% FLOP limit':>13}{'limit/naive':>12}  path"]
    for r in rows:
        lines.append(f"{r.describe:<44}{r.fast_rate:>7.0f}{r.naive_rate:>7.1f}"
                     f"{r.reference_rate:>7.0f}{r.fast_rate / r.naive_rate:>10.1f}x"
                     f"{100 * r.fast_rate / r.flop_limit_rate:>12.0f}%"
                     f"{r.flop_limit_rate / r.naive_rate:>11.0f}x  {r.fast_path[:20]}")
    te = sum(r.trial_epochs for r in rows)
    fast = build + sum(r.fast_cpu for r in rows)
    naive = sum(r.trial_epochs / r.naive_rate for r in rows)
    reference = sum(r.trial_epochs / r.reference_rate for r in rows)
    lines.append(f"all {len(rows)} trials: {te} trial-epochs; fast {fast:.1f} core-seconds "
                 f"(of which building the kernels from a cold cache {build:.1f}): {te / fast:.0f} "
                 f"per core-second; naive {naive:.0f} core-seconds ({te / naive:.1f}); reference "
                 f"{reference:.0f} ({te / reference:.1f}): fast {naive / fast:.1f}x the naive "
                 f"loop, {reference / fast:.1f}x the reference")
    # the build is paid once per machine (every later process loads the cached library): over a
    # default sweep of this problem it is a share of the sweep's core-seconds, not of 12 trials
    budget = make_problem(problem).sweep_budget["time_budget"] * (os.cpu_count() or 1)
    trained = fast - build
    lines.append(f"without the build: {te / trained:.0f} per core-second, {naive / trained:.1f}x "
                 f"the naive loop; the build is paid once per machine, {100 * build / budget:.1f}% "
                 f"of a default {problem} sweep ({budget:.0f} core-seconds here)")
    limit = sum(r.trial_epochs / r.flop_limit_rate for r in rows)
    lines.append(f"the trials overall at {100 * limit / trained:.0f}% of the FLOP limit; at 100% "
                 f"they would run {naive / limit:.0f}x the naive loop")
    lines.append("limit/naive: the most any implementation could gain on the naive loop (the "
                 "FLOP limit's rate over the naive rate)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Row] | list[SweepRow]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=None,
                    help="numbers of seeds K for every config (default: each config's own)")
    ap.add_argument("--iterations", type=int, default=None,
                    help="timed iterations per config instead of a time budget")
    ap.add_argument("--budget", type=float, default=None,
                    help="CPU seconds timed per config and side (default 2, 0.3 with --quick)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="warm-up iterations, also the evaluation interval (default 10, 2 quick)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure each config this many times, keep each side's best")
    ap.add_argument("--quick", action="store_true",
                    help="small budget, the issue's configs at K = 1, 8 (--sweep: 2 trials)")
    ap.add_argument("--sweep", action="store_true", help="the trial path as a sweep sees it")
    ap.add_argument("--sweep-problem", default="sho", choices=["exp", "sho"],
                    help="whose study the sweep's configs come from (default sho: the main job)")
    ap.add_argument("--sweep-trials", type=int, default=None, help="trials (default 12, 2 quick)")
    ap.add_argument("--sweep-iterations", type=int, default=None,
                    help="iterations per trial (default 300, 20 quick)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.seeds is not None and any(k < 1 for k in args.seeds):
        ap.error(f"--seeds {args.seeds}: every K must be >= 1")
    for name in ("iterations", "warmup", "repeat", "sweep_trials", "sweep_iterations"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')} {value}: must be >= 1")
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 2.0)
    warmup = args.warmup if args.warmup is not None else (2 if args.quick else 10)
    torch.set_num_threads(1)
    meta = {"unit": "trial-epochs per core-second", "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}

    if args.sweep:
        trials = args.sweep_trials or (2 if args.quick else 12)
        its = args.sweep_iterations or (20 if args.quick else 300)
        build, rows = measure_sweep(args.sweep_problem, trials, 0, its, budget)
        print(format_sweep(args.sweep_problem, build, rows))
        if args.json is not None:
            args.json.write_text(json.dumps({**meta, "build_s": build,
                                             "rows": [asdict(r) for r in rows]}, indent=2))
        return rows

    peak = sgemm_peak()
    names = args.configs
    if args.quick and names == ap.get_default("configs"):
        names = ["exp", "sho"]
    rows = []
    for name in names:
        make, default_K = CONFIGS[name]
        Ks = args.seeds or ([1, 8] if args.quick and len(default_K) > 1 else default_K)
        for K in Ks:
            rows.append(measure(name, make(), K, warmup, budget, args.iterations, peak,
                                args.repeat))
            r = rows[-1]
            print(f"  {name} K={K}: naive {r.naive_rate:.1f}, reference {r.reference_rate:.1f}, "
                  f"fast {r.fast_rate:.1f} ({r.fast_path[:20]})", file=sys.stderr, flush=True)
    print(format_table(rows, peak))
    if args.json is not None:
        args.json.write_text(json.dumps({**meta, "sgemm_peak_gflops": peak, "budget_s": budget,
                                         "warmup": warmup, "repeat": args.repeat,
                                         "iterations": args.iterations,
                                         "rows": [asdict(r) for r in rows]}, indent=2))
    return rows


if __name__ == "__main__":
    main()
