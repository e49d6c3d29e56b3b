"""Throughput: gan_core's batched seeds against the naive loop, on the same machine in the same run.

    python bench/throughput.py                       # exp and sho, K = 1, 8, 32, 128, 1 thread
    python bench/throughput.py --quick               # a few seconds in all, a smoke check
    python bench/throughput.py --problems exp --seeds 32 --json out.json

The figure is trial-epochs per second per core: seeds x iterations / wall seconds / threads, where
an iteration (a trial-epoch) is d_iters D steps then g_iters G steps, as in gan_core.train.

The naive side is how the seed notebook (pde_nn) trains, written here from scratch: one nn.Module
G and D per seed, a Python loop over the seeds, dx/dt from ``torch.autograd.grad(create_graph=True)``
and then a backward through that graph (double backward), one default torch.optim.Adam per network.
(Its D step keeps no graph of the last derivative, create_graph=False, the cheapest correct way.)
Both sides do the same work per iteration: fresh points (the grid plus Gaussian noise, std
spacing / 3) for every seed, 1 D step on BCE(D(0), 1) + BCE(D(F), 0), then 9 G steps on
BCE(D(F), 1) at those points, F the residual of the reparameterised solution; Adam, lr 1e-3; the
same MSE evaluation on the grid every `warmup` iterations.

Timing: gan_core runs `warmup` iterations, then enough to fill `--budget` seconds (calibrated on a
short run), timed between two of its reports; the naive loop runs 2 warm-up iterations over all
seeds, then until the budget is spent. Ratios measured side by side in one run are what matters on a
shared machine, not the absolute figures; the "cpu share" column says how much of the wall time the
process actually ran (well under 1: another job took the core, the figure is low).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from gan_core import Config, NetConfig, Progress, make_problem, train  # noqa: E402

Tensor = torch.Tensor


@dataclass(frozen=True)
class Setup:
    """One benchmark problem: the issue's networks for it, and the DEQGAN 9:1 schedule."""

    problem: str  # gan_core problem key
    g: tuple[int, int]  # G width, depth (tanh)
    d: tuple[int, int]  # D width, depth (tanh)
    g_iters: int = 9
    d_iters: int = 1
    n_points: int = 100


SETUPS = {
    "exp": Setup("exp", g=(20, 3), d=(10, 2)),
    "sho": Setup("sho", g=(40, 4), d=(20, 2)),
}


@dataclass
class Row:
    """One (problem, K) measurement; rates are trial-epochs per second per core."""

    problem: str
    seeds: int
    naive_rate: float
    core_rate: float
    ratio: float
    naive_iterations: int  # timed iterations (each over all seeds)
    core_iterations: int
    naive_seconds: float  # wall seconds timed
    core_seconds: float
    naive_cpu: float  # process CPU seconds / wall seconds over the timed span (< 1: we were
    core_cpu: float  # descheduled; another job shared the core and the rate is pessimistic)


# -- the naive way: one module per seed, autograd.grad(create_graph=True), double backward ---------
def _mlp(n_in: int, width: int, depth: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.Tanh()]
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _residual_fn(problem: str) -> Callable[[nn.Module, Tensor, bool], Tensor]:
    """F(t) of the reparameterised solution, derivatives by autograd; t (n, 1) requires grad."""
    if problem == "exp":  # x = 1 + (1 - e^-t) N(t),  F = x' - lambda x,  lambda = -1
        def residual(G: nn.Module, t: Tensor, create_graph: bool) -> Tensor:
            x = 1.0 + (1 - torch.exp(-t)) * G(t)
            (dx,) = torch.autograd.grad(x, t, torch.ones_like(x), create_graph=create_graph)
            return dx + x
        return residual
    if problem == "sho":  # x = 0 + (1 - e^-t) 0.5 + (1 - e^-t)^2 N(t),  F = x'' + x
        def residual(G: nn.Module, t: Tensor, create_graph: bool) -> Tensor:
            g = 1 - torch.exp(-t)
            x = 0.5 * g + g * g * G(t)
            (dx,) = torch.autograd.grad(x, t, torch.ones_like(x), create_graph=True)
            (ddx,) = torch.autograd.grad(dx, t, torch.ones_like(dx), create_graph=create_graph)
            return ddx + x
        return residual
    raise ValueError(f"no naive residual for problem {problem!r}; known: {', '.join(SETUPS)}")


class _NaiveSeed:
    """One replica as the seed notebook builds it: its own G, D, two Adams and a noise generator."""

    def __init__(self, s: Setup, k: int, grid: Tensor, noise_std: float, reference: Tensor):
        torch.manual_seed(1000 + k)  # own initial weights per seed
        self.G = _mlp(1, *s.g, 1)
        self.D = _mlp(1, *s.d, 1)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=(0.9, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=1e-3, betas=(0.9, 0.999))
        self.rng = torch.Generator().manual_seed(2000 + k)  # own point noise per seed
        self.grid, self.noise_std, self.reference = grid, noise_std, reference
        self.residual = _residual_fn(s.problem)
        self.s = s
        self.bce = nn.BCEWithLogitsLoss()

    def iteration(self) -> None:
        t = self.grid + self.noise_std * torch.randn(self.grid.shape, generator=self.rng)
        t.requires_grad_(True)  # (n, 1)
        # D step: the residual is data for D; derivatives still need autograd through G
        for _ in range(self.s.d_iters):
            F = self.residual(self.G, t, False).detach()
            d_real, d_fake = self.D(torch.zeros_like(F)), self.D(F)
            loss_D = (self.bce(d_real, torch.ones_like(d_real))
                      + self.bce(d_fake, torch.zeros_like(d_fake)))
            self.opt_D.zero_grad(set_to_none=True)
            loss_D.backward()
            self.opt_D.step()
        # G steps: residual with create_graph=True, then backward through the derivative graph
        for _ in range(self.s.g_iters):
            d_fake = self.D(self.residual(self.G, t, True))
            loss_G = self.bce(d_fake, torch.ones_like(d_fake))
            self.opt_G.zero_grad(set_to_none=True)
            loss_G.backward()
            self.opt_G.step()

    def evaluate(self) -> float:
        with torch.no_grad():
            t = self.grid
            g = 1 - torch.exp(-t)
            N = self.G(t)
            x = 1.0 + g * N if self.s.problem == "exp" else 0.5 * g + g * g * N
            return float(((x - self.reference) ** 2).mean())


def time_naive(s: Setup, K: int, warmup: int, budget: float, iterations: int | None
               ) -> tuple[int, float, float]:
    """(timed iterations, wall seconds, CPU share) of the naive loop over K seeds, after a
    warm-up."""
    problem = make_problem(s.problem, s.n_points)
    grid_np = problem.grid()
    grid = torch.as_tensor(grid_np, dtype=torch.float32)  # (n, 1)
    reference = torch.as_tensor(problem.reference(grid_np), dtype=torch.float32)
    noise_std = float(problem.noise_std()[0])
    seeds = [_NaiveSeed(s, k, grid, noise_std, reference) for k in range(K)]

    def one_iteration(it: int) -> None:
        for seed in seeds:  # the Python loop over seeds
            seed.iteration()
        if it % warmup == 0:  # the same evaluation cadence as gan_core's eval_every
            [seed.evaluate() for seed in seeds]

    for it in range(1, min(warmup, 2) + 1):  # every seed's modules warmed; more is just slow at K=128
        one_iteration(it)
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        done += 1
        one_iteration(done)
        elapsed = time.perf_counter() - start
        if (iterations is not None and done >= iterations) or (iterations is None
                                                                  and elapsed >= budget):
            return done, elapsed, (time.process_time() - cpu) / elapsed


# -- gan_core: K seeds as batched tensors, derivatives as forward jets -----------------------------
COMPILE = False  # --compile: gan_core side with Config.compile (the warm-up absorbs the compile)


def _config(s: Setup, K: int, iterations: int, eval_every: int) -> Config:
    return Config(problem=s.problem, method="gan", seeds=K, seed=0, iterations=iterations,
                  compile=COMPILE,
                  n_points=s.n_points, g_iters=s.g_iters, d_iters=s.d_iters, eval_every=eval_every,
                  G=NetConfig(width=s.g[0], depth=s.g[1], activation="tanh"),
                  D=NetConfig(width=s.d[0], depth=s.d[1], activation="tanh"))


def _stamped_run(cfg: Config) -> dict[int, tuple[float, float]]:
    """Run gan_core.train; (wall clock, process CPU clock) at every report, by iteration."""
    stamps: dict[int, tuple[float, float]] = {}

    def report(p: Progress) -> None:
        stamps[p.iteration] = (time.perf_counter(), time.process_time())

    train(cfg, report=report)
    return stamps


def time_core(s: Setup, K: int, warmup: int, budget: float, iterations: int | None
              ) -> tuple[int, float, float]:
    """(timed iterations, wall seconds, CPU share) of gan_core.train over K seeds, from the report
    after `warmup` iterations to the last; reports (with their evaluation) every `warmup`."""
    if iterations is None:  # calibrate: how many iterations fill the budget
        stamps = _stamped_run(_config(s, K, 2 * warmup, warmup))
        rate = warmup / max(stamps[2 * warmup][0] - stamps[warmup][0], 1e-9)
        iterations = math.ceil(budget * rate)
    timed = max(1, math.ceil(iterations / warmup)) * warmup  # reports land on multiples of warmup
    stamps = _stamped_run(_config(s, K, warmup + timed, warmup))
    (w0, c0), (w1, c1) = stamps[warmup], stamps[warmup + timed]
    return timed, w1 - w0, (c1 - c0) / (w1 - w0)


# -- the table -------------------------------------------------------------------------------------
def measure(problem: str, K: int, warmup: int, budget: float, iterations: int | None,
            threads: int, repeat: int = 1) -> Row:
    """Naive then gan_core, side by side, `repeat` times; each side keeps its best measurement
    (the one least disturbed by other jobs on a shared machine)."""
    s = SETUPS[problem]
    naive = core = None
    for _ in range(repeat):
        n = time_naive(s, K, warmup, budget, iterations)
        c = time_core(s, K, warmup, budget, iterations)
        naive = n if naive is None or n[0] / n[1] > naive[0] / naive[1] else naive
        core = c if core is None or c[0] / c[1] > core[0] / core[1] else core
    (n_it, n_sec, n_cpu), (c_it, c_sec, c_cpu) = naive, core
    naive_rate = K * n_it / n_sec / threads
    core_rate = K * c_it / c_sec / threads
    return Row(problem, K, naive_rate, core_rate, core_rate / naive_rate, n_it, c_it, n_sec, c_sec,
               n_cpu, c_cpu)


def format_table(rows: list[Row], threads: int) -> str:
    head = (f"trial-epochs / s / core ({threads} thread{'s' if threads > 1 else ''}; "
            f"trial-epoch = 1 D step + 9 G steps)")
    lines = [head, f"{'problem':<8}{'K':>5}{'naive':>12}{'gan_core':>12}{'ratio':>9}"
                   f"{'cpu share':>14}{'ratio/cpu s':>13}"]
    for r in rows:
        lines.append(f"{r.problem:<8}{r.seeds:>5}{r.naive_rate:>12.1f}{r.core_rate:>12.1f}"
                     f"{r.ratio:>8.1f}x{r.naive_cpu:>8.2f}/{r.core_cpu:.2f}"
                     f"{r.ratio * r.naive_cpu / r.core_cpu:>12.1f}x")
    lines.append("cpu share: process CPU s / wall s while timed (naive/gan_core); well under the "
                 "thread count means other jobs took the core and the wall figure is low.\n"
                 "ratio/cpu s: the same ratio on process CPU seconds, which discounts being "
                 "descheduled (not cache or memory contention)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=["exp", "sho"], choices=sorted(SETUPS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 8, 32, 128],
                    help="numbers of seeds K to measure")
    ap.add_argument("--iterations", type=int, default=None,
                    help="timed iterations per config instead of a time budget")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds timed per config and side (default 2, 0.3 with --quick)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="warm-up iterations, also the evaluation interval (default 10, 2 quick)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the figure is per core)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure each config this many times, keep each side's best")
    ap.add_argument("--quick", action="store_true", help="small budget and K = 1, 8 only")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--compile", action="store_true",
                    help="gan_core with Config.compile=True (torch.compile of the G step)")
    args = ap.parse_args(argv)
    global COMPILE
    COMPILE = args.compile
    if any(k < 1 for k in args.seeds):
        ap.error(f"--seeds {args.seeds}: every K must be >= 1")
    for name in ("iterations", "warmup", "repeat", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name} {value}: must be >= 1")
    if args.quick and args.seeds == ap.get_default("seeds"):
        args.seeds = [1, 8]
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 2.0)
    warmup = args.warmup if args.warmup is not None else (2 if args.quick else 10)

    torch.set_num_threads(args.threads)
    rows = []
    for problem in args.problems:
        for K in args.seeds:
            rows.append(measure(problem, K, warmup, budget, args.iterations, args.threads,
                                args.repeat))
            print(f"  {problem} K={K}: naive {rows[-1].naive_rate:.1f}, "
                  f"gan_core {rows[-1].core_rate:.1f}", file=sys.stderr, flush=True)
    print(format_table(rows, args.threads))
    if args.json is not None:
        args.json.write_text(json.dumps({
            "unit": "trial-epochs per second per core",
            "threads": args.threads, "budget_s": budget, "warmup": warmup,
            "repeat": args.repeat, "iterations": args.iterations, "compile": args.compile,
            "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "rows": [asdict(r) for r in rows],
        }, indent=2))
    return rows


if __name__ == "__main__":
    main()
