"""What matters around a sweep's start: every searched parameter moved one step from the start's
value, one at a time, each variant trained on the same fresh seeds as the start.

    python bench/around.py sho                       # the sho study around its preset
    python bench/around.py examples/zoo/lotka_volterra.py:LotkaVolterra --seeds 8
    python bench/around.py sho --only G.lr,lr_end --factor 2 --out around.md
    python bench/around.py sho --also n_points=200 --also iterations=8000   # fixed fields too

A float moves by `--factor` up and down (times and over for a log-scale one, the range's width
over that factor for a linear one), an integer to its neighbours, a choice to every other choice;
each stays inside the study's range. Each variant and the start train on seeds base 4000 (the
sweeps' confirmation seeds, none of the trials') at the sweep's iterations, `--workers` at a time
with one thread each. The table: each variant's median and worst over those seeds against the
start's (ratios above 1: worse than the start), failed seeds, and per parameter the best ratio —
the parameters a budget-sized space searches first, and the directions that gain.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plan(problem: str, method: str, iterations: int | None, only: list[str] | None,
         factor: float, sets: list[str], also: list[str] = ()
         ) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """The sweep's fixed config and start, and the (key, value) variants to train: one step of
    each searched key, then each `also` KEY=VALUE (a fixed field)."""
    from gan_core.config import parse_value
    from sweeps.cli import plan as sweep_plan
    from sweeps.spaces import step

    argv = [problem, "--method", method, *(["--iterations", str(iterations)] if iterations else []),
            *[x for s in sets for x in ("--set", s)]]
    spec = sweep_plan(argv)
    space = spec.space()
    start = space.start_point()
    if not start:
        raise SystemExit(f"around: {problem}'s preset lies outside its study ({space.outside()})")
    dists = space.distributions()
    keys = [k for k in dists if not only or k in only]
    out = [(k, v) for k in keys for v in step(dists[k], start[k], factor)]
    out += [(k, parse_value(v)) for k, v in (x.split("=", 1) for x in also)]
    return {**spec.fixed, **start}, out


def run(point: dict[str, Any], seeds: int, base: int | None = None) -> dict[str, Any]:
    """`point` (a flat config with searched keys) trained on `seeds` fresh seeds from `base`
    (default the confirmation's): its summary part."""
    import torch

    from gan_core import Config, train
    from sweeps.spaces import to_config
    from sweeps.summary import CONFIRM_SEED_OFFSET, TRIAL_SEED_OFFSET, result_part

    torch.set_num_threads(1)
    cfg = Config.from_dict({**to_config(point), "seeds": seeds,
                            "seed": TRIAL_SEED_OFFSET + CONFIRM_SEED_OFFSET if base is None else base})
    t0 = time.perf_counter()
    part = result_part(train(cfg))
    return {**part, "wall": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("problem", help="as gansweep run takes it")
    p.add_argument("--method", default="gan")
    p.add_argument("--iterations", type=int, help="default: the sweep's")
    p.add_argument("--seeds", type=int, default=8, help="fresh seeds per variant (default 8)")
    p.add_argument("--seed-base", type=int, help="the seeds' base (default 4000, the sweeps' "
                   "confirmation seeds): another base checks a finding on other seeds")
    p.add_argument("--factor", type=float, default=3.0, help="a float's step (default 3)")
    p.add_argument("--only", help="these searched keys only, comma-separated")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a field first, as gansweep run --set")
    p.add_argument("--also", action="append", default=[], metavar="KEY=VALUE",
                   help="one more variant: a fixed field's value (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="variants trained at once")
    p.add_argument("--out", help="also write the Markdown table here")
    a = p.parse_args(argv)
    start, todo = plan(a.problem, a.method, a.iterations, a.only.split(",") if a.only else None,
                       a.factor, a.set, a.also)
    points = [start] + [{**start, k: v} for k, v in todo]
    print(f"training the start and {len(todo)} variants on {a.seeds} fresh seeds, "
          f"{a.workers} at a time ...", flush=True)
    results = []
    with ProcessPoolExecutor(a.workers) as pool:
        for i, r in enumerate(pool.map(run, points, [a.seeds] * len(points),
                                       [a.seed_base] * len(points))):
            results.append(r)
            name = "start" if i == 0 else f"{todo[i - 1][0]} = {todo[i - 1][1]!r}"
            print(f"  {name}: median {r['median_mse']:.2e}, worst {r['worst_mse']:.2e}, "
                  f"{r['wall']:.0f} s", flush=True)
    text = table(start, todo, results, a)
    print("\n" + text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


def table(start: dict[str, Any], todo: list[tuple[str, Any]], results: list[dict[str, Any]],
          a: argparse.Namespace) -> str:
    """The Markdown table: the start, then each variant against it; per parameter its best."""
    s = results[0]
    n = len(s["seeds"])

    def failed(r: dict[str, Any]) -> str:
        return f"{round(r['failure_rate'] * n)}/{n}"

    base = 4000 if a.seed_base is None else a.seed_base
    lines = [f"Around the start of {a.problem} ({a.method}), one parameter at a time; {n} fresh "
             f"seeds (base {base}); ratios to the start (above 1: worse)", "",
             "| parameter | value | median | worst | failed | median / start | worst / start |",
             "|---|---|---|---|---|---|---|",
             f"| (start) | | {s['median_mse']:.2e} | {s['worst_mse']:.2e} | {failed(s)} | 1 | 1 |"]
    best: dict[str, float] = {}
    for (k, v), r in zip(todo, results[1:]):
        m, w = r["median_mse"] / s["median_mse"], r["worst_mse"] / s["worst_mse"]
        best[k] = min(best.get(k, math.inf), m)
        lines.append(f"| {k} | {v!r} (start {start.get(k)!r}) | {r['median_mse']:.2e} | "
                     f"{r['worst_mse']:.2e} | {failed(r)} | {m:.2g} | {w:.2g} |")
    order = sorted(best, key=best.get)
    lines += ["", "Best median ratio per parameter (below 1: a step from the start gains): "
              + ", ".join(f"{k} {best[k]:.2g}" for k in order)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
