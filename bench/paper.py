"""The DEQGAN paper's Table 2, reproduced with gan_core: per problem, the published config and
budget, `--seeds` seeds at once, and the classical losses (l1, l2, huber) on the same generator,
schedule and budget; best, median and worst MSE and the failure rate beside the paper's number.

    python bench/paper.py --problems exp                  # ~30 s: exp, 10 seeds, 4 methods
    python bench/paper.py --problems sho,nlo,pos,hea --jobs 2
    python bench/paper.py --problems sho --scale 0.25     # a quarter of the iterations
    python bench/paper.py --constants ours                # our sho/nlo constants, not the paper's
    python bench/paper.py --monitor restart               # with per-seed residual monitoring
    python bench/paper.py --problems exp --methods gan --set step_order=d_first --seeds 20
    python bench/paper.py --source gansweep --problems sho --constants ours   # our preset

The paper reports the *lowest* MSE of 10 runs (all from the same initial weights, the seed only
changing the point noise); here every seed has its own initial weights too, and the median and
the worst seed stand beside the best. `--scale s` runs s times the iterations with the same
total learning-rate decay (presets.rescaled). The failure rule is each problem's own
(failure_threshold, e.g. MSE above 1e-4 on exp and sho). Each (problem, method) is one
gan_core.train call on one torch thread; `--jobs N` runs N of them side by side.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from gan_core import Config, ConfigError, train  # noqa: E402
from gan_core.config import parse_setting  # noqa: E402
from gan_core.presets import PAPER, PAPER_TABLE, SOURCES, preset, rescaled  # noqa: E402

METHODS = ("gan", "l1", "l2", "huber")


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One (problem, method): train the seeds, return the per-seed figures."""
    import torch

    torch.set_num_threads(1)
    cfg = preset(job["problem"], job["method"], source=job["source"], seeds=job["seeds"],
                 seed=job["seed"], eval_every=10 ** 9, **job["set"])
    if job["constants"] == "ours":  # the paper's config on gansweep's problem constants
        cfg = Config.from_dict({k: v for k, v in cfg.to_dict().items()
                                if not k.startswith("problem.")})
    if job["scale"] != 1.0:
        cfg = rescaled(cfg, job["scale"])
    if job["monitor"] != "none" and cfg.method == "gan":
        cfg = cfg.replace(monitor=job["monitor"])
    t0 = time.perf_counter()
    r = train(cfg)
    mse = r.final_mse
    return {**job, "iterations": cfg.iterations, "n_points": cfg.n_points,
            "mse": [float(m) for m in mse], "best": float(np.min(mse)),
            "median": float(np.median(mse)), "worst": float(np.max(mse)),
            "failed": int(r.failed.sum()), "restarts": int(r.restarts.sum()),
            "abandoned": int(r.abandoned.sum()), "threshold": r.failure_threshold,
            "paper": PAPER_TABLE[job["problem"]][job["method"]],
            "seconds": time.perf_counter() - t0}


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table, the paper's best-of-10 beside ours."""
    out = ["| problem | method | iterations | best | median | worst | failed | paper (best of 10) "
           "| best / paper | wall |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        failed = f"{r['failed']} of {r['seeds']}"
        if r["restarts"] or r["abandoned"]:
            failed += f" ({r['restarts']} restarts, {r['abandoned']} abandoned)"
        out.append(f"| {r['problem']} | {r['method']} | {r['iterations']} | {r['best']:.1e} | "
                   f"{r['median']:.1e} | {r['worst']:.1e} | {failed} | {r['paper']:.0e} | "
                   f"{r['best'] / r['paper']:.2g} | {r['seconds']:.0f} s |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", default=",".join(PAPER), help="comma-separated problem keys")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="base seed (seed k: weights and noise)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="fraction of the published iterations (same total LR decay)")
    p.add_argument("--constants", choices=("paper", "ours"), default="paper",
                   help="the paper's sho/nlo constants (default) or gansweep's")
    p.add_argument("--monitor", choices=("none", "restart", "abandon"), default="none",
                   help="residual monitoring for the GAN runs")
    p.add_argument("--source", choices=SOURCES, default="paper",
                   help="the paper's configs (default) or gansweep's presets")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a config field of every run, e.g. --set step_order=d_first")
    p.add_argument("--jobs", type=int, default=1, help="runs side by side (one core each)")
    p.add_argument("--json", help="also write every seed's figures here")
    a = p.parse_args(argv)
    problems = [x for x in a.problems.split(",") if x]
    methods = [x for x in a.methods.split(",") if x]
    bad = [x for x in problems if x not in PAPER] + [m for m in methods if m not in METHODS]
    if bad:
        print(f"error: unknown {', '.join(bad)}: problems are {', '.join(PAPER)}, methods "
              f"{', '.join(METHODS)}", file=sys.stderr)
        return 2
    if a.seeds < 1 or not 0 < a.scale <= 1 or a.jobs < 1:
        print(f"error: --seeds {a.seeds}, --scale {a.scale}, --jobs {a.jobs}: expected seeds "
              ">= 1, a scale in (0, 1] and jobs >= 1", file=sys.stderr)
        return 2
    try:
        changes = dict(parse_setting(item) for item in a.set)
        for pr in problems:
            preset(pr, "gan", source=a.source, **changes)  # a bad --set fails here, not in a job
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    jobs = [{"problem": pr, "method": m, "seeds": a.seeds, "seed": a.seed, "scale": a.scale,
             "constants": a.constants, "monitor": a.monitor, "source": a.source, "set": changes}
            for pr in problems for m in methods]
    print(f"{len(jobs)} runs of {a.seeds} seeds ({', '.join(problems)} x {', '.join(methods)}), "
          f"{a.jobs} at a time, {a.source} configs, scale {a.scale:g}, {a.constants} constants"
          + "".join(f", {k}={v}" for k, v in changes.items()), flush=True)
    t0 = time.perf_counter()
    rows = []
    with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
        for r in pool.imap_unordered(run, jobs):
            rows.append(r)
            print(f"  {r['problem']:>7} {r['method']:>5}: median {r['median']:.1e}, best "
                  f"{r['best']:.1e}, worst {r['worst']:.1e}, {r['failed']} of {r['seeds']} failed "
                  f"({r['seconds']:.0f} s; {time.perf_counter() - t0:.0f} s so far)", flush=True)
    order = {(pr, m): i for i, (pr, m) in enumerate((j["problem"], j["method"]) for j in jobs)}
    rows.sort(key=lambda r: order[(r["problem"], r["method"])])
    print()
    print(table(rows))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
