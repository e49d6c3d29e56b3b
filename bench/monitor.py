"""Residual monitoring against the failure rate, in the DEQGAN paper's Table 3 setting.

    python bench/monitor.py                  # 50 learning-rate draws x 10 seeds = 500 runs per variant
    python bench/monitor.py --draws 10 --jobs 2

The paper (Table 3): 500 runs of its exp config for 1000 iterations, both learning rates drawn
from [0.01, 0.1]; a run fails when its final MSE is >= 1e-5. Failed share: neither instance
noise nor residual monitoring 12.4%, monitoring 0.4%, instance noise 8.0%, both 0.0%.

Here: `--draws` pairs (G lr, D lr), log-uniform in [0.01, 0.1] from a seeded generator, each
trained with 10 seeds at once (own initial weights and point noise), the same draws for every
variant: instance noise off / on x monitoring none / restart (a tripped seed starts over from
fresh weights, optimiser and schedule inside the batch) / abandon (a tripped seed is given up
and counts as failed). Printed: failed runs, restarts and abandoned runs per variant.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from gan_core import train  # noqa: E402
from gan_core.config import ConfigError, parse_setting  # noqa: E402
from gan_core.presets import preset  # noqa: E402

FAIL_AT = 1e-5  # the paper's Table 3 threshold


def run(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    cfg = preset("exp", source="paper", seeds=job["seeds"], eval_every=10 ** 9,
                 instance_noise=job["noise"], monitor=job["monitor"],
                 **{"G.lr": job["lr"][0], "D.lr": job["lr"][1], **job["set"]})
    # Table 3's setting: the paper's per-step schedule as it is, cut at job["iterations"]
    cfg = cfg.replace(iterations=job["iterations"])
    r = train(cfg)
    return {**job, "mse": r.final_mse.tolist(), "seed_restarts": r.restarts.tolist(),
            "restarts": int(r.restarts.sum()),
            "abandoned": int(r.abandoned.sum())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--draws", type=int, default=50, help="learning-rate pairs (x 10 seeds each)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--monitors", default="none,restart", help="e.g. none,restart,abandon")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="seeds the learning-rate draws")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a config field of every run, e.g. --set monitor_restarts=4")
    a = p.parse_args(argv)
    try:
        settings = dict(parse_setting(s) for s in a.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    monitors = a.monitors.split(",")
    if a.draws < 1 or a.seeds < 1 or a.jobs < 1 or not set(monitors) <= {"none", "restart",
                                                                          "abandon"}:
        print("error: --draws/--seeds/--jobs >= 1; --monitors from none, restart, abandon",
              file=sys.stderr)
        return 2
    lrs = 10 ** np.random.default_rng(a.seed).uniform(-2, -1, size=(a.draws, 2))
    variants = [(noise, m) for noise in (False, True) for m in monitors]
    jobs = [{"lr": tuple(lr), "noise": noise, "monitor": m, "seeds": a.seeds,
             "iterations": a.iterations, "draw": i, "set": settings}
            for i, lr in enumerate(lrs) for noise, m in variants]
    print(f"{len(jobs)} trainings of {a.seeds} seeds: {a.draws} learning-rate draws x "
          f"{len(variants)} variants, {a.jobs} at a time", flush=True)
    t0 = time.perf_counter()
    done: dict[tuple[bool, str], list[dict[str, Any]]] = {v: [] for v in variants}
    with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
        for n, r in enumerate(pool.imap_unordered(run, jobs), 1):
            done[(r["noise"], r["monitor"])].append(r)
            if n % max(1, len(jobs) // 20) == 0:
                print(f"  {n}/{len(jobs)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n| instance noise | monitoring | runs | failed (MSE >= {FAIL_AT:g}) | restarts | "
          "failed after a restart | abandoned | median MSE |")
    print("|---|---|---|---|---|---|---|---|")
    for (noise, m), rows in done.items():
        mse = np.concatenate([r["mse"] for r in rows])
        restarted = np.concatenate([r["seed_restarts"] for r in rows]) > 0
        failed = ~(mse < FAIL_AT)
        print(f"| {'on' if noise else 'off'} | {m} | {mse.size} | {int(failed.sum())} "
              f"({failed.mean():.1%}) | {sum(r['restarts'] for r in rows)} | "
              f"{int((failed & restarted).sum())} | {sum(r['abandoned'] for r in rows)} | "
              f"{np.median(mse):.1e} |")
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
