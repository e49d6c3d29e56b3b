"""Train one config from the shell and print the per-seed table.

    python -m gan_core sho --method gan --seeds 8 --iterations 3000
    python -m gan_core exp --method l2 --set G.lr=0.01 --set lr_decay=exp --out runs/exp_l2
    python -m gan_core sho --preset paper --seeds 10      # the DEQGAN paper's published config

Starts from the problem's tuned preset (gan_core/presets.py) unless --no-preset; --set KEY=VALUE
overrides any Config field (``G.width``, ``D.lr``, ``lr_gamma``, ...). Saves a plot of the
prediction vs the reference and the curves to --out.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from .config import METHODS, Config, ConfigError, parse_setting
from .presets import SOURCES, lengthened, preset, settled
from .problems import PROBLEMS
from .train import Progress, train


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gan_core", description=__doc__.split("\n")[0])
    p.add_argument("problem", help=f"one of {', '.join(sorted(PROBLEMS))}, or your own: "
                                   "path/to/file.py:Class, my_package.module:Class, a .npy/.csv "
                                   "data file")
    p.add_argument("--method", default="gan", choices=METHODS)
    p.add_argument("--seeds", type=int, default=None, help="replicas trained at once")
    p.add_argument("--iterations", type=int, default=None,
                   help="the run's length; the learning-rate schedule follows (the same total "
                        "decay over the run)")
    p.add_argument("--seed", type=int, default=None, help="base random seed")
    p.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N")
    p.add_argument("--dtype", default=None, choices=["float32", "float64"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set G.lr=0.01 (repeatable)")
    p.add_argument("--preset", default="gansweep", choices=SOURCES,
                   help="gansweep's tuned preset (default) or the DEQGAN paper's config")
    p.add_argument("--no-preset", action="store_true", help="start from Config() defaults")
    p.add_argument("--out", default="gan_core_runs", help="folder for the plots")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: these tensors are tiny, and extra threads "
                        "cost more in synchronisation than they compute, 2x slower measured)")
    return p.parse_args(argv)


def configure(args: argparse.Namespace) -> Config:
    """The command line's config, checked by gan_core, without training anything; raises
    ConfigError with one line."""
    start = (Config(problem=args.problem, method=args.method) if args.no_preset
             else preset(args.problem, args.method, source=args.preset))
    if args.iterations is not None:  # the schedule's shape kept over the new length
        start = lengthened(start, args.iterations)
    d = start.to_dict()
    for key in ("seeds", "seed", "device", "dtype"):
        if getattr(args, key) is not None:
            d[key] = getattr(args, key)
    d = settled(d, dict(parse_setting(item) for item in args.set))
    return Config.from_dict(d)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        cfg = configure(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import torch

    torch.set_num_threads(max(1, args.threads))
    result_metric = PROBLEMS[cfg.problem].metric
    t0 = time.perf_counter()

    def progress(p: Progress) -> None:
        if args.quiet:
            return
        m = p.metrics
        name = result_metric
        print(f"  it {p.iteration:>6}/{cfg.iterations}  median {name} {m[f'eval/{name}']:.2e}  "
              f"worst {m[f'eval/{name}_worst']:.2e}  failed {m['eval/failure_rate']:.0%}  "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)

    print(f"training {cfg.seeds} seeds of {cfg.method} on {cfg.problem} for {cfg.iterations} "
          f"iterations on {cfg.device}", flush=True)
    result = train(cfg, report=progress)

    label = {"mse": "MSE", "rel_mse": "rel. MSE"}.get(result.metric, result.metric)
    if result.metric == "residual":
        print("\nno reference solution: the metric is the mean squared residual on a fine grid")
    if result.metric == "rel_mse":
        print("\nrel. MSE: the MSE over the reference's mean square (a seed fails above "
              f"{result.failure_threshold:.2g}, a relative RMS error of "
              f"{math.sqrt(result.failure_threshold):.0%})")
    print(f"\n{'seed':>4}  {'final ' + label:>14}  {'best ' + label:>14}  status")
    for k, status in enumerate(result.seed_status()):
        restarts = f" (restarted {result.restarts[k]}x)" if result.restarts[k] else ""
        why = " (a constant solution where the reference varies)" if status == "collapsed" else ""
        print(f"{k:>4}  {result.final_mse[k]:>14.3e}  {result.best_mse[k]:>14.3e}  "
              f"{status}{why}{restarts}")
    print(f"\nmedian {label} {result.median_mse:.3e}   worst {result.worst_mse:.3e}   "
          f"failure rate {result.failure_rate:.0%} (failed: above "
          f"{result.failure_threshold:.2g} or non-finite)   "
          f"{result.iterations} iterations in {result.wall_time:.1f}s ({result.fast_path})")

    from .plots import plot_curves, plot_solutions

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{PROBLEMS[cfg.problem].key}_{cfg.method}"
    plot_solutions(result, out / f"{stem}_solution.png")
    plot_curves(result, out / f"{stem}_curves.png")
    print(f"plots: {out / (stem + '_solution.png')}, {out / (stem + '_curves.png')}")
    return 0 if np.isfinite(result.median_mse) else 1


if __name__ == "__main__":
    sys.exit(main())
