"""The training paths compared on results: the same preset, seeds and budget trained on each path
(docs/speed.md), per-seed final MSE pooled over seed sets, with a rank test against the first.

    python bench/paths.py                                # sho's preset, 3 sets x 8 seeds, 4 paths
    python bench/paths.py --problem exp --sets 2 --jobs 2
    python bench/paths.py --paths fused,reference --iterations 1000 --sets 1

Paths: fused (the default on a CPU: fused steps), native (the networks and Adam natively, the
residual and the loss in PyTorch: the path nlo, sir and burgers take), reference (PyTorch,
float32: the steps a GPU replays), float64 (PyTorch in float64). The paths agree step by step to
round-off (tests/test_native.py), but training is chaotic: seeds part within a few hundred
iterations, so only the distributions over seeds compare. Each (path, seed set) is one
gan_core.train call on one torch thread; `--jobs N` runs N side by side.
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
from gan_core.config import failed_seeds  # noqa: E402
from gan_core.presets import preset  # noqa: E402

PATHS = {  # name: Config changes
    "fused": {},
    "native": {},  # the fused steps turned off below: the networks and Adam stay native
    "reference": {"fast_path": "reference"},
    "float64": {"dtype": "float64"},
}


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One (path, seed set): train the preset, return the per-seed final MSE."""
    import torch

    from gan_core import fused

    torch.set_num_threads(1)
    if job["path"] == "native":
        fused.Steps.why_not = staticmethod(lambda cfg, problem: "bench/paths.py: native path")
    changes = {**PATHS[job["path"]], "seeds": job["seeds"], "seed": job["set"],
               "eval_every": 10 ** 9}
    if job["iterations"]:
        changes["iterations"] = job["iterations"]
    cfg = preset(job["problem"], "gan", **changes)
    t0 = time.perf_counter()
    r = train(cfg)
    return {**job, "fast_path": r.fast_path, "iterations": cfg.iterations,
            "mse": [float(m) for m in r.final_mse], "seconds": time.perf_counter() - t0,
            "threshold": r.failure_threshold}


def compare(rows: list[dict[str, Any]], paths: list[str]) -> str:
    """Per path: seeds, median, worst, failures; Mann-Whitney p against the first path."""
    from scipy.stats import mannwhitneyu

    pooled = {p: np.concatenate([r["mse"] for r in rows if r["path"] == p]) for p in paths}
    threshold = rows[0]["threshold"]
    first = paths[0]
    lines = [f"{rows[0]['problem']} preset, {rows[0]['iterations']} iterations, final MSE pooled "
             f"over {len({r['set'] for r in rows})} seed sets; failed: MSE above {threshold:g}",
             f"{'path':<10}{'seeds':>6}{'median':>10}{'worst':>10}{'failed':>8}"
             f"{'p vs ' + first:>14}  ran as"]
    for p in paths:
        x = pooled[p]
        pv = "" if p == first else f"{mannwhitneyu(x, pooled[first]).pvalue:.3f}"
        ran = next(r["fast_path"] for r in rows if r["path"] == p)
        lines.append(f"{p:<10}{len(x):>6}{np.median(x):>10.1e}{np.max(x):>10.1e}"
                     f"{int(failed_seeds(x, threshold).sum()):>8}{pv:>14}  {ran[:40]}")
    lines.append("p: Mann-Whitney U, two-sided, over the pooled seeds (a rank test: a failed seed "
                 "counts as a large value, not an outlier to drop)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="sho", help="a problem with a preset (default sho)")
    ap.add_argument("--paths", default="fused,native,reference,float64",
                    help=f"comma-separated, first is the one compared against: {', '.join(PATHS)}")
    ap.add_argument("--sets", type=int, default=3, help="seed sets (config.seed 0, 1, ...)")
    ap.add_argument("--seeds", type=int, default=8, help="seeds per set (default 8)")
    ap.add_argument("--iterations", type=int, default=None, help="default: the preset's")
    ap.add_argument("--jobs", type=int, default=1, help="trainings side by side")
    a = ap.parse_args(argv)
    paths = a.paths.split(",")
    bad = [p for p in paths if p not in PATHS]
    if bad:
        ap.error(f"--paths: unknown {', '.join(bad)}; choose from {', '.join(PATHS)}")
    preset(a.problem, "gan")  # an unknown problem fails here, before any training
    jobs = [{"problem": a.problem, "path": p, "set": s, "seeds": a.seeds,
             "iterations": a.iterations} for s in range(a.sets) for p in paths]
    rows = []
    with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
        for r in pool.imap_unordered(run, jobs):
            rows.append(r)
            print(f"  [{len(rows)}/{len(jobs)}] {r['path']} set {r['set']}: median "
                  f"{np.median(r['mse']):.1e} in {r['seconds']:.0f}s", file=sys.stderr, flush=True)
    print(compare(rows, paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
